/**
 * A WHEP session hosted by a fan-out worker, as the main thread sees it: the session index and
 * the routes hold this proxy; every ICE operation goes to the worker that owns the peer, and
 * the worker's reports (connected, keyframe request, closed) drive the same SessionHooks
 * callbacks an in-thread Session would call, so the store's bookkeeping is the same either way.
 */
import type { RtpPacket } from 'werift';
import type { Viewer, ViewerSet } from '../fanout.ts';
import { WhepError, type WhepErrorKind } from '../whep/errors.ts';
import type { SdpFrag } from '../whep/sdp.ts';
import type { CloseReason, SessionHooks, WhepSession } from '../whep/session-types.ts';
import type { Kind, Opened, ReplyOf, RequestOf, WireError } from './protocol.ts';

/** Requests to the worker that hosts a session (requests are numbered by the link). */
export interface WorkerLink {
  /** Sends a request; resolves with the reply's value, or rejects with its error. */
  request<K extends Kind>(request: RequestOf<K>): Promise<ReplyOf<K>>;
}

/** An error from a worker, as thrown on the main thread (WhepErrors keep their kind and headers). */
export function fromWire(error: WireError): Error {
  return error.kind ? new WhepError(error.kind as WhepErrorKind, error.message, error.headers ?? {}) : new Error(error.message);
}

/** The main thread's handle on a worker-hosted session. */
export class RemoteSession implements WhepSession {
  readonly id: string;
  etag: string;
  readonly #link: WorkerLink;
  readonly #hooks: SessionHooks;
  #ufrag: string;
  #connected = false;
  #closed = false;
  #closing: Promise<void> = Promise.resolve();

  constructor(link: WorkerLink, opened: Opened, hooks: SessionHooks) {
    this.#link = link;
    this.#hooks = hooks;
    this.id = opened.session;
    this.etag = opened.etag;
    this.#ufrag = opened.ufrag;
  }

  /** True once the worker reported ICE and DTLS up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The viewer's current ICE ufrag. */
  get remoteUfrag(): string {
    return this.#ufrag;
  }

  /** Media never passes through the proxy: the worker's session sends it. */
  sendVideo(_packet: RtpPacket, _seq: number, _timestamp: number): void {}

  /** Media never passes through the proxy: the worker's session sends it. */
  sendAudio(_packet: RtpPacket, _seq: number, _timestamp: number): void {}

  /** Adds trickled candidates (in the worker). */
  async addCandidates(frag: SdpFrag): Promise<void> {
    await this.#link.request({ t: 'candidates', session: this.id, frag });
  }

  /** ICE restart in the worker; takes over its new ETag and ufrag. */
  async restartIce(frag: SdpFrag): Promise<string> {
    const reply = await this.#link.request({ t: 'restart', session: this.id, frag });
    this.etag = reply.etag;
    this.#ufrag = reply.ufrag;
    return reply.fragment;
  }

  /** Ends the session: out of every index at once, then closed in the worker. */
  close(reason: CloseReason): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#hooks.onClosed(this, reason);
      this.#closing = this.#link.request({ t: 'close', session: this.id, reason }).then(
        () => undefined,
        () => undefined,
      );
    }
    return this.#closing;
  }

  /** A report from the worker about this session. */
  event(e: 'connected' | 'pli' | 'closed', reason?: CloseReason): void {
    if (this.#closed) return;
    if (e === 'connected') {
      this.#connected = true;
      this.#hooks.onConnected(this);
    } else if (e === 'pli') {
      this.#hooks.onPli(this);
    } else {
      this.#closed = true;
      this.#hooks.onClosed(this, reason ?? 'dtls-closed');
    }
  }
}

/** The viewers of a stream as the main thread counts them (the fan-out itself is in the workers). */
export class RemoteViewers implements ViewerSet {
  readonly #viewers = new Set<Viewer>();
  get size(): number {
    return this.#viewers.size;
  }
  add(viewer: Viewer): void {
    this.#viewers.add(viewer);
  }
  remove(viewer: Viewer): void {
    this.#viewers.delete(viewer);
  }
  /** The owning worker answered it already (from its GOP cache). */
  keyframeRequest(): void {}
}
