/**
 * The one owner of the session index: creates sessions within the viewer caps, finds them by
 * id, and removes them from every index, fan-out and counter when they end, whatever the reason.
 */
import type { Logger } from '../log.ts';
import type { EgressMetrics } from '../metrics.ts';
import type { Stream } from '../stream.ts';
import { WhepError } from './errors.ts';
import type { OfferChoice } from './sdp.ts';
import type { CloseReason, SessionHooks, SessionOpener, SessionSettings, WhepSession } from './session-types.ts';

/** Who asks for a session: the credential's subject and the client's address. */
export interface SessionOwner {
  /** The credential's subject (auth/auth.ts Grant); undefined when auth is off. */
  readonly subject?: string | undefined;
  /** The per-subject cap applies to it (not to a shared embed URL). */
  readonly limitSubject: boolean;
  /** The client's address. */
  readonly client: string;
}

/** The store's limits, and where its sessions come from. */
export interface StoreOptions {
  /** Pod-wide viewer cap. */
  readonly maxViewers: number;
  /** Most sessions of one subject at once (429 past it). */
  readonly maxPerSubject?: number;
  /** Most sessions of one client address at once (429 past it). */
  readonly maxPerClient?: number;
  /** Retry-After (s) of a 503 at a cap. */
  readonly retryAfterFull: number;
  /** The settings of a new session of a process (fresh TURN credentials each time). */
  readonly settings: (processId: string) => SessionSettings;
  /** Gathering must run one at a time (a fixed port range is in use). */
  readonly serializeGathering: boolean;
  /** Where sessions are opened (default: this thread). */
  readonly open?: SessionOpener;
}

/** Every session of the pod. */
export class SessionStore {
  readonly #options: StoreOptions;
  readonly #metrics: EgressMetrics;
  readonly #log: Logger;
  readonly #byId = new Map<string, { session: WhepSession; stream: Stream; owner: SessionOwner }>();
  /** Sessions per process, counting ones still being answered (they hold ports already). */
  readonly #perStream = new Map<string, number>();
  /** Sessions per subject and per client address, counted the same way. */
  readonly #perSubject = new Map<string, number>();
  readonly #perClient = new Map<string, number>();
  #total = 0;
  #gathering: Promise<unknown> = Promise.resolve();

  constructor(options: StoreOptions, metrics: EgressMetrics, log: Logger) {
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Sessions of a process (or of the pod). */
  count(processId?: string): number {
    return processId === undefined ? this.#total : (this.#perStream.get(processId) ?? 0);
  }

  /** The session `id` of process `processId`, if it exists. */
  get(processId: string, id: string): WhepSession | undefined {
    const entry = this.#byId.get(id);
    return entry && entry.stream.id === processId ? entry.session : undefined;
  }

  /** Every open session (a drain closes them one by one). */
  all(): WhepSession[] {
    return [...this.#byId.values()].map((e) => e.session);
  }

  /** The subject that created session `id` (undefined without auth, or for no such session). */
  subjectOf(id: string): string | undefined {
    return this.#byId.get(id)?.owner.subject;
  }

  /** Sessions held by a subject, or by a client address. */
  countOf(owner: { subject?: string; client?: string }): number {
    if (owner.subject !== undefined) return this.#perSubject.get(owner.subject) ?? 0;
    return owner.client !== undefined ? (this.#perClient.get(owner.client) ?? 0) : 0;
  }

  /**
   * Answers an offer with a new session, or throws a WhepError (429 at a subject's or a client's
   * limit, 503 at a cap, 504, …). When `signal` aborts (the client went away before the answer),
   * the slot is freed at once and the session, once werift is done with it, closed.
   */
  async create(
    stream: Stream,
    offer: string,
    choice: OfferChoice,
    owner: SessionOwner = { limitSubject: false, client: '' },
    signal?: AbortSignal,
  ): Promise<{ session: WhepSession; answer: string }> {
    const retry = { 'Retry-After': String(this.#options.retryAfterFull) };
    const { maxPerSubject, maxPerClient } = this.#options;
    // One credential or one address cannot take every viewer slot (RFC 6585 §4: 429 + Retry-After).
    if (maxPerSubject && owner.limitSubject && owner.subject !== undefined && this.countOf({ subject: owner.subject }) >= maxPerSubject) {
      throw new WhepError(
        'too-many',
        `this credential already has its maximum of ${maxPerSubject} sessions; end one or try again later`,
        retry,
      );
    }
    if (maxPerClient && owner.client && this.countOf({ client: owner.client }) >= maxPerClient) {
      throw new WhepError(
        'too-many',
        `this address already has its maximum of ${maxPerClient} sessions; end one or try again later`,
        retry,
      );
    }
    if (this.count(stream.id) >= stream.config.maxViewers) {
      throw new WhepError('stream-full', `this stream has its maximum of ${stream.config.maxViewers} viewers; try again later`, retry);
    }
    if (this.#total >= this.#options.maxViewers) {
      throw new WhepError('pod-full', `this server has its maximum of ${this.#options.maxViewers} viewers; try again later`, retry);
    }
    this.#add(stream.id, 1);
    this.#own(owner, 1);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#add(stream.id, -1);
      this.#own(owner, -1);
    };
    const gone = () => {
      release();
      this.#log.info({ process: stream.id }, 'client went away before the answer; its slot is free');
    };
    signal?.addEventListener('abort', gone, { once: true });
    try {
      if (signal?.aborted) throw clientGone();
      const open = this.#options.open ?? openHere;
      const { session, answer } = await open(this.#options.settings(stream.id), this.#hooks(stream), offer, choice);
      if (signal?.aborted) {
        // Never indexed: closing it touches no counter (the slot was freed at the abort).
        void session.close('client-gone');
        throw clientGone();
      }
      this.#byId.set(session.id, { session, stream, owner });
      this.#metrics.sessionsCreated.inc({ process: stream.id });
      this.#metrics.viewers.set({ process: stream.id }, this.count(stream.id));
      this.#log.info({ process: stream.id, session: session.id }, 'session created');
      return { session, answer };
    } catch (err) {
      release();
      throw err;
    } finally {
      signal?.removeEventListener('abort', gone);
    }
  }

  /** Closes every session (of one process, or all) with `reason`; resolves when all are closed. */
  async closeAll(reason: CloseReason, processId?: string): Promise<void> {
    const closing = [...this.#byId.values()]
      .filter(({ stream }) => processId === undefined || stream.id === processId)
      .map(({ session }) => session.close(reason));
    await Promise.all(closing);
  }

  #hooks(stream: Stream): SessionHooks {
    return {
      gatherLock: (fn) => this.#gatherLock(fn),
      log: this.#log.child({ process: stream.id }),
      onConnected: (session) => stream.fanout.add(session),
      onClosed: (session, reason) => this.#closed(stream, session, reason),
      onPli: (session) => {
        this.#metrics.pliReceived.inc({ process: stream.id });
        stream.fanout.keyframeRequest(session);
      },
    };
  }

  #closed(stream: Stream, session: WhepSession, reason: CloseReason): void {
    stream.fanout.remove(session);
    const entry = this.#byId.get(session.id);
    if (!entry || !this.#byId.delete(session.id)) return;
    this.#add(stream.id, -1);
    this.#own(entry.owner, -1);
    this.#metrics.sessionsClosed.inc({ process: stream.id, reason });
    this.#metrics.viewers.set({ process: stream.id }, this.count(stream.id));
  }

  #add(processId: string, n: number): void {
    this.#perStream.set(processId, this.count(processId) + n);
    this.#total += n;
  }

  #own(owner: SessionOwner, n: number): void {
    const bump = (map: Map<string, number>, key: string) => {
      const v = (map.get(key) ?? 0) + n;
      if (v > 0) map.set(key, v);
      else map.delete(key);
    };
    if (owner.subject !== undefined) bump(this.#perSubject, owner.subject);
    if (owner.client) bump(this.#perClient, owner.client);
  }

  #gatherLock<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#options.serializeGathering) return fn();
    const run = this.#gathering.then(fn, fn);
    this.#gathering = run.catch(() => {});
    return run;
  }
}

/** The error of an offer whose client went away: nobody reads it, but the handler must stop. */
function clientGone(): WhepError {
  return new WhepError('bad-request', 'the request was aborted before the answer');
}

/**
 * Opens a session on this thread (a pod without fan-out workers). session.ts brings werift's
 * peer connection with it, so it is loaded on the first use: a pod with workers never loads it
 * on its main thread.
 */
const openHere: SessionOpener = async (...args) => (await import('./session.ts')).Session.open(...args);
