/**
 * The one owner of the session index: creates sessions within the viewer caps, finds them by
 * id, and removes them from every index, fan-out and counter when they end, whatever the reason.
 */
import type { Logger } from '../log.ts';
import type { CloseReason, EgressMetrics } from '../metrics.ts';
import type { Stream } from '../stream.ts';
import { WhepError } from './errors.ts';
import type { PeerSettings } from './peer.ts';
import type { CandidatePolicy, OfferChoice } from './sdp.ts';
import { Session, type SessionContext, type WhepSession } from './session.ts';

/** Answers an offer with a new session: in this thread (Session.open) or in a fan-out worker. */
export type SessionOpener = (ctx: SessionContext, offer: string, choice: OfferChoice) => Promise<{ session: WhepSession; answer: string }>;

/** Settings every session shares. */
export interface SessionSettings {
  /** Pod-wide viewer cap. */
  readonly maxViewers: number;
  /** Retry-After (s) of a 503 at a cap. */
  readonly retryAfterFull: number;
  /** Builds the peer settings (fresh TURN credentials each time). */
  readonly peer: () => PeerSettings;
  /** Remote candidates we use. */
  readonly candidates: CandidatePolicy;
  /** Timeouts in ms. */
  readonly gatherTimeoutMs: number;
  /** Not connected by then: closed. */
  readonly connectTimeoutMs: number;
  /** Silent viewer: closed. */
  readonly livenessTimeoutMs: number;
  /** Gathering must run one at a time (a fixed port range is in use). */
  readonly serializeGathering: boolean;
  /** Where sessions are opened (default: this thread). */
  readonly open?: SessionOpener;
}

/** Every session of the pod. */
export class SessionStore {
  readonly #settings: SessionSettings;
  readonly #metrics: EgressMetrics;
  readonly #log: Logger;
  readonly #byId = new Map<string, { session: WhepSession; stream: Stream }>();
  /** Sessions per process, counting ones still being answered (they hold ports already). */
  readonly #perStream = new Map<string, number>();
  #total = 0;
  #gathering: Promise<unknown> = Promise.resolve();

  constructor(settings: SessionSettings, metrics: EgressMetrics, log: Logger) {
    this.#settings = settings;
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

  /** Answers an offer with a new session, or throws a WhepError (503 at a cap, 504, …). */
  async create(stream: Stream, offer: string, choice: OfferChoice): Promise<{ session: WhepSession; answer: string }> {
    const retry = { 'Retry-After': String(this.#settings.retryAfterFull) };
    if (this.count(stream.id) >= stream.config.maxViewers) {
      throw new WhepError('stream-full', `this stream has its maximum of ${stream.config.maxViewers} viewers; try again later`, retry);
    }
    if (this.#total >= this.#settings.maxViewers) {
      throw new WhepError('pod-full', `this server has its maximum of ${this.#settings.maxViewers} viewers; try again later`, retry);
    }
    this.#add(stream.id, 1);
    try {
      const open = this.#settings.open ?? Session.open;
      const { session, answer } = await open(this.#context(stream), offer, choice);
      this.#byId.set(session.id, { session, stream });
      this.#metrics.sessionsCreated.inc({ process: stream.id });
      this.#metrics.viewers.set({ process: stream.id }, this.count(stream.id));
      this.#log.info({ process: stream.id, session: session.id }, 'session created');
      return { session, answer };
    } catch (err) {
      this.#add(stream.id, -1);
      throw err;
    }
  }

  /** Closes every session (of one process, or all) with `reason`; resolves when all are closed. */
  async closeAll(reason: CloseReason, processId?: string): Promise<void> {
    const closing = [...this.#byId.values()]
      .filter(({ stream }) => processId === undefined || stream.id === processId)
      .map(({ session }) => session.close(reason));
    await Promise.all(closing);
  }

  #context(stream: Stream): SessionContext {
    const s = this.#settings;
    const log = this.#log.child({ process: stream.id });
    return {
      processId: stream.id,
      peer: s.peer(),
      candidates: s.candidates,
      gatherTimeoutMs: s.gatherTimeoutMs,
      connectTimeoutMs: s.connectTimeoutMs,
      livenessTimeoutMs: s.livenessTimeoutMs,
      gatherLock: (fn) => this.#gatherLock(fn),
      log,
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
    if (!this.#byId.delete(session.id)) return;
    this.#add(stream.id, -1);
    this.#metrics.sessionsClosed.inc({ process: stream.id, reason });
    this.#metrics.viewers.set({ process: stream.id }, this.count(stream.id));
  }

  #add(processId: string, n: number): void {
    this.#perStream.set(processId, this.count(processId) + n);
    this.#total += n;
  }

  #gatherLock<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#settings.serializeGathering) return fn();
    const run = this.#gathering.then(fn, fn);
    this.#gathering = run.catch(() => {});
    return run;
  }
}
