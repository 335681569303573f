/**
 * The fan-out workers of a pod, seen from the main thread: it starts one worker thread per core
 * (cores.ts), gives each new viewer to the least loaded one, forwards that session's SDP and ICE
 * requests to it, and feeds every worker each source packet once — the packets of one
 * event-loop turn in one batch (protocol.ts). The WHEP front stays one HTTP address on the main
 * thread. A worker that dies takes its viewers with it (closed as 'worker-exit', so players
 * reconnect): the failure is logged with its cause and counted, readiness reports the missing
 * worker, new viewers go to the others, and the slot gets a new thread after a backoff that
 * grows while its threads keep failing.
 */
import { backoffDelay, type BackoffOptions, withTimeout } from '@corecast/api/light';
import { trimNativeHeap } from '@corecast/rtc-fastpath';
import type { RtpPacket } from 'werift';
import { WorkerMetrics } from '../metrics.ts';
import type { KeyframeStart, MediaSink } from '../source.ts';
import { fanoutStats, type MediaPlane } from '../stream.ts';
import { WhepError } from '../whep/errors.ts';
import type { SessionOpener } from '../whep/session-types.ts';
import { BatchWriter, type FromWorker, type StatsDelta, type WorkerSetup } from './protocol.ts';
import { RemoteSession, RemoteViewers } from './remote-session.ts';
import { writeThreadLog } from './thread-log.ts';
import type { ThreadMemory } from './memory.ts';
import type { PoolHealth, PoolOptions } from './pool-options.ts';
import type { Resources } from './resources.ts';
import { WorkerHandle } from './worker-thread.ts';

export type { PoolHealth, PoolOptions } from './pool-options.ts';

/** The thread's module beside this one: media-worker.ts as written, or .js where it was compiled (dist/, the image). */
const WORKER_SCRIPT = import.meta.url.endsWith('.ts') ? './media-worker.ts' : './media-worker.js';
/** Delay before a failed worker's slot gets a new thread; it grows while the slot's threads keep failing. */
const RESTART_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 30_000, jitter: 0.2 };
/** A thread that ran this long before it ended starts its slot's backoff over. */
const STABLE_MS = 60_000;
/**
 * On demand, the next thread starts when a joiner finds every running thread holding this many
 * viewers. One thread held 200 viewers at zero loss on this machine (egress-pod/README.md,
 * "Figures"), so at half of that the next one is warm long before the first is full, and below
 * it the pod does not pay a second V8 heap with werift (~25 MiB) nor send every source packet
 * to two threads. The joiner itself goes to a warm thread: none waits for the one starting.
 */
const NEXT_THREAD_AT = 100;
/** An on-demand thread without viewers for this long stops (each is a V8 heap with werift loaded, ~40 MiB). */
const IDLE_RETIRE_MS = 20_000;
/** How often idle on-demand threads (and an empty pod) are looked for. */
const RETIRE_CHECK_MS = 5_000;
/** The pod without viewers this long after it had some: malloc's free pages go back to the kernel. */
const TRIM_AFTER_MS = 15_000;
/** How long a scrape waits for a worker's timing figures. */
const FIGURES_TIMEOUT_MS = 1000;

/** The pod's fan-out workers. */
export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #workers: WorkerHandle[] = [];
  readonly #batch = new BatchWriter();
  readonly #stats: Map<string, ReturnType<typeof fanoutStats>>;
  readonly #metrics: WorkerMetrics;
  /** Failures in a row of each slot's threads (the restart backoff's attempt). */
  readonly #failures = new Map<number, number>();
  /** Slots whose thread failed and has not been ready again since (readiness counts them missing). */
  readonly #down = new Set<number>();
  readonly #restarts = new Set<NodeJS.Timeout>();
  /** Slots whose thread should run: started, starting, or waiting for its restart. */
  readonly #slots = new Set<number>();
  /** On-demand threads being stopped for want of viewers (their end is no failure). */
  readonly #retiring = new Set<WorkerHandle>();
  /** When each thread was last seen without viewers (on demand). */
  readonly #idleSince = new Map<WorkerHandle, number>();
  #retireTimer: NodeJS.Timeout | undefined;
  /** A fresh thread is starting to take the place of the last one (#replace). */
  #replacing = false;
  /** A viewer came since the native heap was last trimmed, and since when the pod has had none. */
  #trimDue = false;
  #emptySince: number | undefined;
  #flushQueued = false;
  #stopping = false;

  private constructor(options: PoolOptions) {
    this.#options = options;
    this.#stats = new Map(options.processes.map((p) => [p, fanoutStats(options.metrics, p)]));
    this.#metrics = new WorkerMetrics(options.metrics.registry, options.processes, this.#wanted, {
      workers: () => this.#workers.map((w) => ({ index: w.index, running: w.serving, viewers: w.sessions.size })),
      figures: (index) => {
        const w = this.#workers[index];
        if (!w?.serving) return Promise.resolve(undefined);
        // A worker too busy (or gone) to answer within the scrape leaves its figures as they were.
        return withTimeout(
          w.request({ t: 'loop' }).catch(() => undefined),
          FIGURES_TIMEOUT_MS,
          () => undefined,
        );
      },
    });
  }

  /** Starts the workers; resolves when every one is ready. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      const first = options.onDemand ? 1 : pool.#wanted;
      await Promise.all(Array.from({ length: first }, (_, i) => pool.#spawn(i)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    options.log.info({ workers: pool.#workers.length, upTo: pool.#wanted, onDemand: options.onDemand === true }, 'fan-out workers ready');
    pool.#retireTimer = setInterval(() => {
      if (options.onDemand) pool.#retireIdle();
      pool.#trimWhenEmpty();
    }, RETIRE_CHECK_MS);
    pool.#retireTimer.unref();
    return pool;
  }

  /** Worker threads running and ready for viewers. */
  get size(): number {
    return this.#workers.filter((w) => w.serving).length;
  }

  /** Threads running, of how many there should be: fewer while a failed one awaits its restart (not while one starts on demand). */
  health(): PoolHealth {
    return { running: this.size, wanted: this.size + this.#down.size };
  }

  get #wanted(): number {
    return Math.max(1, this.#options.workers);
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
    worker.served = true;
    this.#trimDue = true;
    this.#growIfBusy();
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
        .filter((w) => w.serving)
        .map(async (w) => {
          out[`worker-${w.index}`] = await w.request({ t: 'resources' });
        }),
    );
    return out;
  }

  /** Each running worker's heap figures (`worker-<n>` → bytes by type). */
  async memory(): Promise<Record<string, ThreadMemory>> {
    const out: Record<string, ThreadMemory> = {};
    await Promise.all(
      this.#workers.map(async (w) => {
        const figures = w?.serving ? await w.heap().catch(() => undefined) : undefined;
        if (figures) out[`worker-${w.index}`] = figures;
      }),
    );
    return out;
  }

  /** Stops every worker (sessions should be closed first). */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#retireTimer);
    for (const timer of this.#restarts) clearTimeout(timer);
    this.#restarts.clear();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #leastLoaded(): WorkerHandle {
    let best: WorkerHandle | undefined;
    for (const w of this.#workers) if (w.serving && !this.#retiring.has(w) && (!best || w.load < best.load)) best = w;
    // Every thread failed and waits for its restart: like a full pod, the client retries.
    if (!best) throw new WhepError('pod-full', 'no media worker is running; try again shortly', { 'Retry-After': '2' });
    return best;
  }

  /**
   * On demand: when a joiner finds every thread that runs or starts holding NEXT_THREAD_AT
   * viewers (the joiner is already counted in its thread's load), the next one starts.
   */
  #growIfBusy(): void {
    if (!this.#options.onDemand || this.#stopping || this.#slots.size >= this.#wanted) return;
    const at = this.#options.nextThreadAt ?? NEXT_THREAD_AT;
    for (const w of this.#workers) if (w && this.#slots.has(w.index) && !this.#retiring.has(w) && w.alive && w.load <= at) return;
    let index = 0;
    while (this.#slots.has(index)) index++;
    this.#spawn(index).then(
      () => this.#options.log.info({ worker: index }, 'media worker started: every running one holds its share of viewers'),
      (err: unknown) => {
        if (!this.#stopping) this.#options.log.warn({ err, worker: index }, 'media worker ended before it was ready');
      },
    );
  }

  /**
   * On demand: stops threads that had no viewer for IDLE_RETIRE_MS, newest slots first, keeping
   * one; the one kept, if it had viewers, is replaced by a fresh thread (#replace).
   */
  #retireIdle(): void {
    const now = performance.now();
    for (const w of [...this.#workers].reverse()) {
      if (!w?.serving || this.#retiring.has(w)) continue;
      if (w.load > 0) {
        this.#idleSince.delete(w);
        continue;
      }
      const since = this.#idleSince.get(w) ?? now;
      this.#idleSince.set(w, since);
      if (now - since < IDLE_RETIRE_MS) continue;
      if (this.size - this.#retiring.size > 1) this.#retire(w, 'media worker stopped: no viewers');
      else if (w.served) this.#replace(w);
    }
  }

  #retire(w: WorkerHandle, message: string): void {
    this.#retiring.add(w);
    this.#slots.delete(w.index);
    this.#idleSince.delete(w);
    this.#options.log.info({ worker: w.index }, message);
    void w.terminate();
  }

  /**
   * The last thread, idle after it had viewers, keeps what they left: heap pages V8 holds on to,
   * compiled code, malloc memory scattered over its arena (tens of MiB after a hundred viewers).
   * A fresh thread starts in another slot (werift loaded and warmed up as at the pod's start);
   * once it is ready the old one stops, and its arena, all free then, goes back to the kernel
   * (#onExit). A viewer arriving meanwhile goes to the old thread, which then stays.
   */
  #replace(old: WorkerHandle): void {
    if (this.#replacing || this.#stopping) return;
    this.#replacing = true;
    let index = 0;
    while (this.#slots.has(index)) index++;
    this.#spawn(index).then(
      () => {
        this.#replacing = false;
        this.#metrics.replacements.inc();
        if (old.serving && old.load === 0 && !this.#retiring.has(old))
          this.#retire(old, 'media worker replaced by a fresh one: its viewers had left');
      },
      (err: unknown) => {
        this.#replacing = false;
        if (!this.#stopping) this.#options.log.warn({ err, worker: index }, 'media worker ended before it was ready');
      },
    );
  }

  /** Once the pod had viewers and has had none for TRIM_AFTER_MS: the native heap is trimmed (trimNativeHeap). */
  #trimWhenEmpty(): void {
    if (!this.#trimDue || this.#workers.some((w) => w && w.load > 0)) {
      this.#emptySince = undefined;
      return;
    }
    const now = performance.now();
    this.#emptySince ??= now;
    if (now - this.#emptySince < TRIM_AFTER_MS) return;
    this.#trimDue = false;
    this.#emptySince = undefined;
    trimNativeHeap();
  }

  async #spawn(index: number): Promise<void> {
    this.#slots.add(index);
    const o = this.#options;
    const setup: WorkerSetup = { index, processes: o.processes, fanout: o.fanout, logLevel: o.logLevel, mux: o.mux };
    const worker = new WorkerHandle(
      index,
      setup,
      o.script ?? new URL(WORKER_SCRIPT, import.meta.url),
      (from, m) => this.#onMessage(from, m),
      (from, code) => this.#onExit(from, code),
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
        // A thread's event, written by the pod's logger like the main thread's own.
        writeThreadLog(this.#options.log, m.level, m.fields, m.msg);
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
    if (d.overruns > 0) this.#metrics.overruns.inc({ process }, d.overruns);
  }

  /**
   * A thread ended: its viewers are closed ('worker-exit'; players reconnect), and unless the
   * pod is stopping the failure is logged with its cause, counted, and the slot restarted after
   * a backoff — growing while the slot's threads keep failing, reset once one ran STABLE_MS.
   */
  #onExit(worker: WorkerHandle, code: number): void {
    const sessions = [...worker.sessions.values()];
    worker.sessions.clear();
    for (const s of sessions) s.event('closed', 'worker-exit');
    this.#idleSince.delete(worker);
    if (this.#retiring.delete(worker)) {
      // The thread's arena keeps what its sessions freed: back to the kernel with it.
      trimNativeHeap();
      return;
    }
    if (this.#stopping) return;
    const { index } = worker;
    const attempt = worker.upFor >= STABLE_MS ? 0 : (this.#failures.get(index) ?? 0);
    this.#failures.set(index, attempt + 1);
    this.#down.add(index);
    const delay = Math.round(backoffDelay(attempt, RESTART_BACKOFF));
    this.#metrics.failures.inc({ worker: String(index) });
    this.#options.log.error(
      { worker: index, code, err: worker.cause, viewers: sessions.length, restartInMs: delay },
      'media worker ended; its viewers were closed, a new one starts after the delay',
    );
    const timer = setTimeout(() => {
      this.#restarts.delete(timer);
      if (this.#stopping) return;
      this.#metrics.restarts.inc({ worker: String(index) });
      // A new thread that fails before it is ready ends up here again, one attempt further.
      this.#spawn(index).then(
        () => {
          this.#down.delete(index);
          this.#options.log.info({ worker: index }, 'media worker restarted');
        },
        (err: unknown) => {
          if (!this.#stopping) this.#options.log.warn({ err, worker: index }, 'restarted media worker ended before it was ready');
        },
      );
    }, delay);
    this.#restarts.add(timer);
  }
}
