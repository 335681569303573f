/**
 * One fan-out worker thread as the main thread holds it: starts it, numbers its requests and
 * settles each with the reply of its own kind (protocol.ts), remembers the error it ended with,
 * and tells the pool (pool.ts) about its other messages and its end.
 */
import { Worker } from 'node:worker_threads';
import { makeRing, RingWriter } from './batch-ring.ts';
import type { Kind, FromWorker, Reply, ReplyOf, RequestOf, WorkerSetup } from './protocol.ts';
import { heapFigures, type ThreadMemory } from './memory.ts';
import { fromWire, type RemoteSession, type WorkerLink } from './remote-session.ts';

/** Young-generation size of each worker's heap (MiB). */
const YOUNG_GENERATION_MB = 8;

/** A request waiting for its reply. */
type Pending<K extends Kind> = { resolve: (value: ReplyOf<K>) => void; reject: (err: Error) => void };
/** The requests waiting for a reply, by kind: a reply settles the request of its own kind and id. */
type PendingByKind = { [K in Kind]: Map<number, Pending<K>> };

/** One worker thread and what the main thread tracks of it. */
export class WorkerHandle implements WorkerLink {
  readonly index: number;
  readonly sessions = new Map<string, RemoteSession>();
  /** Sessions being opened (they count towards the load already). */
  opening = 0;
  /** A session was opened on it (pool.ts replaces such a thread once it has been idle). */
  served = false;
  readonly #worker: Worker;
  readonly #ring: RingWriter;
  readonly #pending: PendingByKind = {
    open: new Map(),
    candidates: new Map(),
    restart: new Map(),
    close: new Map(),
    loop: new Map(),
    resources: new Map(),
  };
  #next = 0;
  #exited = false;
  /** When the thread said it was ready (performance.now()). */
  #readyAt: number | undefined;
  /** The uncaught error the thread ended with, if it did. */
  #cause: Error | undefined;

  constructor(
    index: number,
    setup: WorkerSetup,
    script: URL,
    onMessage: (from: WorkerHandle, m: FromWorker) => void,
    onExit: (from: WorkerHandle, code: number) => void,
  ) {
    this.index = index;
    const ring = makeRing();
    this.#ring = new RingWriter(ring);
    this.#worker = new Worker(script, {
      workerData: { ...setup, ring } satisfies WorkerSetup,
      // A small young generation: the fan-out's garbage is short-lived packet views, and V8's
      // default lets each thread's heap grow by tens of MiB (RSS) before it scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.#worker.on('message', (m: FromWorker) => {
      if (m.t === 'reply') this.#settle(m);
      else onMessage(this, m);
    });
    // An uncaught exception (or a module that fails to load) in the thread: 'exit' follows.
    this.#worker.on('error', (err: Error) => {
      this.#cause = err;
    });
    this.#worker.on('exit', (code: number) => {
      this.#exited = true;
      for (const pending of Object.values(this.#pending)) {
        for (const p of pending.values()) p.reject(new Error(`media worker ${index} exited`));
        pending.clear();
      }
      onExit(this, code);
    });
  }

  /** The error the thread ended with, if it ended on one. */
  get cause(): Error | undefined {
    return this.#cause;
  }

  /** How long the thread has run since it was ready (ms; 0 if it never was). */
  get upFor(): number {
    return this.#readyAt === undefined ? 0 : performance.now() - this.#readyAt;
  }

  /** Viewers it owns or is taking on. */
  get load(): number {
    return this.sessions.size + this.opening;
  }

  /** True until the thread ended. */
  get alive(): boolean {
    return !this.#exited;
  }

  /** True from the thread's 'ready' until it ended: it takes viewers. */
  get serving(): boolean {
    return this.#readyAt !== undefined && !this.#exited;
  }

  /** Resolves when the worker is ready for requests. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.t !== 'ready') return;
        this.#worker.off('message', onMessage);
        this.#worker.off('exit', onExit);
        this.#readyAt = performance.now();
        resolve();
      };
      const onExit = (code: number) =>
        reject(new Error(`media worker ${this.index} exited (code ${code}) before it was ready`, { cause: this.#cause }));
      this.#worker.on('message', onMessage);
      this.#worker.once('exit', onExit);
    });
  }

  request<K extends Kind>(request: RequestOf<K>): Promise<ReplyOf<K>> {
    if (this.#exited) return Promise.reject(new Error(`media worker ${this.index} has exited`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const pending: PendingByKind[K] = this.#pending[request.t];
      pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  #settle<K extends Kind>(reply: Reply<K>): void {
    const pending: PendingByKind[K] = this.#pending[reply.kind];
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.ok) p?.resolve(reply.value);
    else p?.reject(fromWire(reply.error));
  }

  /** The thread's V8 heap figures (undefined once it ended). */
  async heap(): Promise<ThreadMemory | undefined> {
    if (this.#exited) return undefined;
    return heapFigures(await this.#worker.getHeapStatistics());
  }

  /**
   * Hands the thread a media batch: written into its ring, or posted as a copy of its own when the
   * ring has no room (the thread is behind); `at` = when its first packet arrived.
   */
  media(batch: Uint8Array, at: number): void {
    if (this.#exited) return;
    const start = this.#ring.write(batch);
    if (start !== undefined) this.#worker.postMessage({ t: 'ring', start, length: batch.length, at });
    else {
      // A copy of the bytes alone (a view would take its whole buffer along), moved, not copied again.
      const copy = batch.slice();
      this.#worker.postMessage({ t: 'media', batch: copy, at }, [copy.buffer]);
    }
  }

  /** Stops the thread. */
  async terminate(): Promise<void> {
    if (!this.#exited) await this.#worker.terminate();
  }
}
