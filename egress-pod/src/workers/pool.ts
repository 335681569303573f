/**
 * The fan-out workers of a pod, seen from the main thread: it starts one worker thread per core
 * (cores.ts), gives each new viewer to the least loaded one, forwards that session's SDP and ICE
 * requests to it, and feeds every worker each source packet once — the packets of one
 * event-loop turn in one batch (protocol.ts). The WHEP front stays one HTTP address on the main
 * thread. A worker that dies takes its viewers with it (closed as 'worker-exit', so players
 * reconnect) and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { RtpPacket } from 'werift';
import type { FanoutOptions, Viewer, ViewerSet } from '../fanout.ts';
import type { MuxSetup } from '../ice-mux.ts';
import type { Logger } from '../log.ts';
import type { EgressMetrics } from '../metrics.ts';
import type { KeyframeStart, MediaSink } from '../source.ts';
import { fanoutStats, type MediaPlane } from '../stream.ts';
import type { SessionOpener } from '../whep/session-types.ts';
import {
  BatchWriter,
  type FromWorker,
  type Kind,
  type Reply,
  type ReplyOf,
  type RequestOf,
  type StatsDelta,
  type WorkerSetup,
} from './protocol.ts';
import { fromWire, RemoteSession, type WorkerLink } from './remote-session.ts';
import type { Resources } from './resources.ts';

/** How the pool is set up. */
export interface PoolOptions {
  /** Worker threads (at least 1). */
  readonly workers: number;
  /** Process ids in configuration order. */
  readonly processes: readonly string[];
  /** Options of each worker's fan-outs (GOP cache). */
  readonly fanout: FanoutOptions;
  /** Log level of the workers. */
  readonly logLevel: string;
  /** The pod's logger (workers' lines are written to its destination). */
  readonly log: Logger;
  /** The pod's metrics. */
  readonly metrics: EgressMetrics;
  /** The pod's media port, which every worker binds (ice-mux.ts). */
  readonly mux?: MuxSetup | undefined;
}

/** Young-generation size of each worker's heap (MiB). */
const YOUNG_GENERATION_MB = 8;

/** A request waiting for its reply. */
type Pending<K extends Kind> = { resolve: (value: ReplyOf<K>) => void; reject: (err: Error) => void };
/** The requests waiting for a reply, by kind: a reply settles the request of its own kind and id. */
type PendingByKind = { [K in Kind]: Map<number, Pending<K>> };

/** One worker thread and what the main thread tracks of it. */
class WorkerHandle implements WorkerLink {
  readonly index: number;
  readonly sessions = new Map<string, RemoteSession>();
  /** Sessions being opened (they count towards the load already). */
  opening = 0;
  readonly #worker: Worker;
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

  constructor(
    index: number,
    setup: WorkerSetup,
    onMessage: (from: WorkerHandle, m: FromWorker) => void,
    onExit: (from: WorkerHandle) => void,
  ) {
    this.index = index;
    this.#worker = new Worker(new URL('./media-worker.ts', import.meta.url), {
      workerData: setup,
      // A small young generation: the fan-out's garbage is short-lived packet views, and V8's
      // default lets each thread's heap grow by tens of MiB (RSS) before it scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.#worker.on('message', (m: FromWorker) => {
      if (m.t === 'reply') this.#settle(m);
      else onMessage(this, m);
    });
    this.#worker.on('error', () => {});
    this.#worker.on('exit', () => {
      this.#exited = true;
      for (const pending of Object.values(this.#pending)) {
        for (const p of pending.values()) p.reject(new Error(`media worker ${index} exited`));
        pending.clear();
      }
      onExit(this);
    });
  }

  /** Viewers it owns or is taking on. */
  get load(): number {
    return this.sessions.size + this.opening;
  }

  /** True until the thread ended. */
  get alive(): boolean {
    return !this.#exited;
  }

  /** Resolves when the worker is ready for requests. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.t !== 'ready') return;
        this.#worker.off('message', onMessage);
        this.#worker.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number) => reject(new Error(`media worker ${this.index} exited (code ${code}) before it was ready`));
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

  /** Posts a media batch (a structured-clone copy per worker); `at` = when its first packet arrived. */
  media(batch: Uint8Array, at: number): void {
    if (!this.#exited) this.#worker.postMessage({ t: 'media', batch, at });
  }

  /** Stops the thread. */
  async terminate(): Promise<void> {
    if (!this.#exited) await this.#worker.terminate();
  }
}

/** The viewers of a stream as the main thread counts them (the fan-out itself is in the workers). */
class RemoteViewers implements ViewerSet {
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

/** The pod's fan-out workers. */
export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #workers: WorkerHandle[] = [];
  readonly #batch = new BatchWriter();
  readonly #stats: Map<string, ReturnType<typeof fanoutStats>>;
  readonly #logStream: { write(line: string): void };
  readonly #overruns: Counter<'process'>;
  #flushQueued = false;
  #stopping = false;

  private constructor(options: PoolOptions) {
    this.#options = options;
    this.#stats = new Map(options.processes.map((p) => [p, fanoutStats(options.metrics, p)]));
    this.#overruns = new Counter({
      name: 'corecast_egress_fanout_overruns_total',
      help: 'Times a fan-out worker fell more than a second behind and skipped its backlog to the next keyframe.',
      labelNames: ['process'],
      registers: [options.metrics.registry],
    });
    for (const process of options.processes) this.#overruns.inc({ process }, 0);
    // pino children share their root's destination: worker lines go exactly where ours go.
    this.#logStream = (options.log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!;
  }

  /** Starts the workers; resolves when every one is ready. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(Array.from({ length: Math.max(1, options.workers) }, (_, i) => pool.#spawn(i)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    pool.#registerMetrics();
    options.log.info({ workers: pool.#workers.length }, 'fan-out workers ready');
    return pool;
  }

  /** Worker threads running. */
  get size(): number {
    return this.#workers.filter((w) => w.alive).length;
  }

  /** The media plane of the stream at `index` (configuration order). */
  plane(index: number): MediaPlane {
    const sink: MediaSink = {
      video: (packet: RtpPacket, keyframe: KeyframeStart | undefined) => {
        this.#batch.packet(index, 'video', packet, keyframe !== undefined, keyframe?.preamble.length ?? 0);
        this.#flushSoon();
      },
      audio: (packet: RtpPacket) => {
        this.#batch.packet(index, 'audio', packet, false, 0);
        this.#flushSoon();
      },
      restarted: (kind) => {
        this.#batch.restarted(index, kind);
        this.#flushSoon();
      },
    };
    return { sink, viewers: new RemoteViewers() };
  }

  /** Opens sessions in the least loaded worker. */
  readonly open: SessionOpener = async (settings, hooks, offer, choice) => {
    const worker = this.#leastLoaded();
    worker.opening++;
    try {
      // The pod-wide gathering lock (a fixed port range) spans workers: held here, for the whole open.
      const opened = await hooks.gatherLock(() => worker.request({ t: 'open', settings, offer, choice }));
      const session = new RemoteSession(worker, opened, hooks);
      worker.sessions.set(session.id, session);
      return { session, answer: opened.answer };
    } finally {
      worker.opening--;
    }
  };

  /** Each worker's active resources, sessions and viewers (`worker-<n>` → counts). */
  async resources(): Promise<Record<string, Resources>> {
    const out: Record<string, Resources> = {};
    await Promise.all(
      this.#workers
        .filter((w) => w.alive)
        .map(async (w) => {
          out[`worker-${w.index}`] = await w.request({ t: 'resources' });
        }),
    );
    return out;
  }

  /** Stops every worker (sessions should be closed first). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #leastLoaded(): WorkerHandle {
    let best: WorkerHandle | undefined;
    for (const w of this.#workers) if (w.alive && (!best || w.load < best.load)) best = w;
    if (!best) throw new Error('no media worker is running');
    return best;
  }

  async #spawn(index: number): Promise<void> {
    const o = this.#options;
    const setup: WorkerSetup = { index, processes: o.processes, fanout: o.fanout, logLevel: o.logLevel, mux: o.mux };
    const worker = new WorkerHandle(
      index,
      setup,
      (from, m) => this.#onMessage(from, m),
      (from) => this.#onExit(from),
    );
    this.#workers[index] = worker;
    await worker.ready();
  }

  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // After the poll phase: every datagram read in this turn goes in one batch.
    setImmediate(() => {
      this.#flushQueued = false;
      if (this.#batch.empty) return;
      const at = this.#batch.firstAt;
      const batch = this.#batch.take();
      for (const w of this.#workers) w.media(batch, at);
    });
  }

  #onMessage(from: WorkerHandle, m: FromWorker): void {
    switch (m.t) {
      case 'event': {
        const session = from.sessions.get(m.session);
        if (m.e === 'closed') from.sessions.delete(m.session);
        session?.event(m.e, m.e === 'closed' ? m.reason : undefined);
        break;
      }
      case 'stats':
        for (const [process, delta] of Object.entries(m.byProcess)) this.#count(process, delta);
        break;
      case 'log':
        this.#logStream.write(m.line);
        break;
    }
  }

  #count(process: string, d: StatsDelta): void {
    const stats = this.#stats.get(process);
    if (!stats) return;
    if (d.videoPackets > 0) stats.sent('video', d.videoPackets, d.videoBytes);
    if (d.audioPackets > 0) stats.sent('audio', d.audioPackets, d.audioBytes);
    if (d.gated > 0) stats.gated(d.gated);
    for (let i = 0; i < d.cacheHits; i++) stats.cacheHit?.();
    for (let i = 0; i < d.answered; i++) stats.keyframeRequest?.(true);
    for (let i = 0; i < d.ignored; i++) stats.keyframeRequest?.(false);
    for (const ms of d.waits) stats.keyframeWait(ms);
    if (d.overruns > 0) this.#overruns.inc({ process }, d.overruns);
  }

  #onExit(worker: WorkerHandle): void {
    const sessions = [...worker.sessions.values()];
    worker.sessions.clear();
    for (const s of sessions) s.event('closed', 'worker-exit');
    if (this.#stopping) return;
    this.#options.log.error(
      { worker: worker.index, viewers: sessions.length },
      'media worker exited; its viewers were closed, starting a new one',
    );
    this.#spawn(worker.index).catch((err: unknown) =>
      this.#options.log.error({ err, worker: worker.index }, 'media worker could not be restarted'),
    );
  }

  #registerMetrics(): void {
    const registers = [this.#options.metrics.registry];
    const workers = this.#workers;
    new Gauge({
      name: 'corecast_egress_workers',
      help: 'Fan-out worker threads running.',
      registers,
      collect() {
        this.set(workers.filter((w) => w.alive).length);
      },
    });
    new Gauge({
      name: 'corecast_egress_worker_viewers',
      help: 'Viewers owned by each fan-out worker.',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of workers) this.set({ worker: String(w.index) }, w.sessions.size);
      },
    });
    // Each worker's event-loop delay since the previous scrape: the jitter its viewers see.
    const max = new Gauge({
      name: 'corecast_egress_worker_eventloop_lag_max_seconds',
      help: 'Largest event-loop delay of each fan-out worker since the previous scrape (how late a 10 ms timer ran).',
      labelNames: ['worker'],
      registers: [],
    });
    // How late a packet reaches the last of a worker's viewers: from its arrival at ingest to the
    // end of the worker's fan-out of its batch. The egress's share of every viewer's latency.
    const fanoutP99 = new Gauge({
      name: 'corecast_egress_worker_fanout_delay_p99_seconds',
      help: 'p99, since the previous scrape, of the time from ingest to the last viewer sent, per fan-out worker.',
      labelNames: ['worker'],
      registers: [],
    });
    const fanoutMax = new Gauge({
      name: 'corecast_egress_worker_fanout_delay_max_seconds',
      help: 'Largest time from ingest to the last viewer sent since the previous scrape, per fan-out worker.',
      labelNames: ['worker'],
      registers: [],
    });
    const p99 = new Gauge({
      name: 'corecast_egress_worker_eventloop_lag_p99_seconds',
      help: 'p99 event-loop delay of each fan-out worker since the previous scrape (how late a 10 ms timer ran).',
      labelNames: ['worker'],
      registers: [],
      async collect() {
        await Promise.all(
          workers
            .filter((w) => w.alive)
            .map(async (w) => {
              let timer: ReturnType<typeof setTimeout> | undefined;
              const late = new Promise<undefined>((resolve) => {
                timer = setTimeout(() => resolve(undefined), 1000);
              });
              const figures = await Promise.race([w.request({ t: 'loop' }), late]);
              clearTimeout(timer);
              if (!figures) return;
              this.set({ worker: String(w.index) }, figures.p99 / 1000);
              max.set({ worker: String(w.index) }, figures.max / 1000);
              fanoutP99.set({ worker: String(w.index) }, figures.fanoutP99 / 1000);
              fanoutMax.set({ worker: String(w.index) }, figures.fanoutMax / 1000);
            }),
        );
      },
    });
    // Collected in registration order: p99 (which reads them all) first.
    for (const m of [p99, max, fanoutP99, fanoutMax]) this.#options.metrics.registry.registerMetric(m);
  }
}
