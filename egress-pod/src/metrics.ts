/**
 * Prometheus metrics of the egress pod (prom-client), one registry per pod instance: the pod's
 * own (EgressMetrics) and those of its fan-out worker threads (WorkerMetrics).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DROP_REASONS } from './rtp/check.ts';
import type { LoopFigures } from './workers/protocol.ts';
import type { ThreadMemory } from './workers/memory.ts';
import type { Resources } from './workers/resources.ts';

/** The pod's metrics. Label `process` is the process id; `kind` is video or audio. */
export class EgressMetrics {
  /** The registry served at /metrics. */
  readonly registry = new Registry();
  /** Viewers with a session, by process. */
  readonly viewers = this.#gauge('corecast_egress_viewers', 'Viewers with a live session.', ['process']);
  /** Sessions created. */
  readonly sessionsCreated = this.#counter('corecast_egress_sessions_created_total', 'WHEP sessions created.', ['process']);
  /** Sessions closed, by reason. */
  readonly sessionsClosed = this.#counter('corecast_egress_sessions_closed_total', 'WHEP sessions closed, by reason.', [
    'process',
    'reason',
  ]);
  /** WHEP requests refused, by status. */
  readonly requestsRefused = this.#counter('corecast_egress_whep_refused_total', 'WHEP requests answered with an error status.', [
    'status',
  ]);
  /** RTP packets accepted from the source. */
  readonly packetsIn = this.#counter('corecast_egress_rtp_packets_in_total', 'RTP packets accepted from the source.', ['process', 'kind']);
  /** RTP bytes accepted from the source. */
  readonly bytesIn = this.#counter('corecast_egress_rtp_bytes_in_total', 'RTP bytes accepted from the source.', ['process', 'kind']);
  /** RTP packets handed to viewers. */
  readonly packetsOut = this.#counter('corecast_egress_rtp_packets_out_total', 'RTP packets handed to viewers (one per viewer).', [
    'process',
    'kind',
  ]);
  /** RTP payload bytes handed to viewers. */
  readonly bytesOut = this.#counter('corecast_egress_rtp_bytes_out_total', 'RTP payload bytes handed to viewers.', ['process', 'kind']);
  /** Ingest datagrams dropped, by reason. */
  readonly drops = this.#counter('corecast_egress_rtp_dropped_total', 'Ingest datagrams dropped, by reason.', [
    'process',
    'kind',
    'reason',
  ]);
  /** 1 while RTP video is arriving. */
  readonly sourceUp = this.#gauge('corecast_egress_source_up', '1 while the source sends RTP video.', ['process']);
  /** Source restarts (SSRC changes). */
  readonly sourceRestarts = this.#counter('corecast_egress_source_restarts_total', 'Source restarts seen (new SSRC).', ['process', 'kind']);
  /** Parameter sets put in front of keyframes that lacked them. */
  readonly parameterSetsInjected = this.#counter(
    'corecast_egress_parameter_sets_injected_total',
    'SPS/PPS injected before a keyframe that lacked them.',
    ['process'],
  );
  /** Viewers that waited for a keyframe. */
  readonly keyframeWaits = this.#counter('corecast_egress_keyframe_waits_total', 'Viewers that waited for a keyframe before video.', [
    'process',
  ]);
  /** How long viewers waited for their first keyframe. */
  readonly keyframeWaitSeconds = new Histogram({
    name: 'corecast_egress_keyframe_wait_seconds',
    help: 'Time from a viewer connecting to its first keyframe.',
    labelNames: ['process'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
    registers: [this.registry],
  });
  /** Video packets withheld from viewers waiting for a keyframe. */
  readonly packetsGated = this.#counter(
    'corecast_egress_rtp_packets_gated_total',
    'Video packets withheld from viewers waiting for a keyframe.',
    ['process'],
  );
  /** Viewers started at once from the cached GOP instead of waiting for the next keyframe. */
  readonly gopCacheHits = this.#counter(
    'corecast_egress_gop_cache_hits_total',
    'Viewers started at once from the cached GOP instead of waiting for the next keyframe.',
    ['process'],
  );
  /** Keyframe requests (PLI/FIR) from viewers, answered from the GOP cache or ignored. */
  readonly keyframeRequests = this.#counter(
    'corecast_egress_keyframe_requests_total',
    'Keyframe requests (PLI/FIR) from viewers: answered from the GOP cache, or ignored (one is on its way).',
    ['process', 'result'],
  );
  /** Picture loss indications from viewers (the source cannot answer them). */
  readonly pliReceived = this.#counter('corecast_egress_pli_received_total', 'Picture loss indications received from viewers.', [
    'process',
  ]);

  /** Replica 0: the sibling replicas its accepted RTP goes on to (egress-pod/README.md, "Replicas"). */
  readonly relayTargets = this.#gauge('corecast_egress_relay_targets', 'Sibling replicas that accepted RTP is relayed to.', []);
  /** Replica 0: RTP datagrams relayed, one per sibling per packet. */
  readonly relayPackets = this.#counter(
    'corecast_egress_relay_packets_total',
    'RTP datagrams relayed to sibling replicas (one per sibling per packet).',
    [],
  );
  /** Replica 0: WHEP requests passed on to a sibling, by method. */
  readonly forwardedRequests = this.#counter(
    'corecast_egress_forwarded_requests_total',
    'WHEP requests passed on to a sibling replica, by method.',
    ['verb'],
  );
  /** 1 while this replica drains (takes no viewer, closes its own). */
  readonly draining = this.#gauge(
    'corecast_egress_draining',
    '1 while this replica drains: no new viewers, its viewers closed one by one.',
    [],
  );

  constructor(processIds: readonly string[], options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.relayTargets.set(0);
    this.relayPackets.inc(0);
    this.draining.set(0);
    for (const verb of ['POST', 'PATCH', 'DELETE', 'OPTIONS']) this.forwardedRequests.inc({ verb }, 0);
    // Start every series at zero so dashboards and tests see them before the first event.
    for (const process of processIds) {
      this.viewers.set({ process }, 0);
      this.sourceUp.set({ process }, 0);
      this.sessionsCreated.inc({ process }, 0);
      this.gopCacheHits.inc({ process }, 0);
      for (const kind of ['video', 'audio']) {
        for (const reason of DROP_REASONS) this.drops.inc({ process, kind, reason }, 0);
        this.packetsIn.inc({ process, kind }, 0);
        this.packetsOut.inc({ process, kind }, 0);
      }
    }
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

/** What the worker metrics read from the pool at each scrape. */
export interface WorkerReadings {
  /** Every worker slot by number: whether its thread runs (and is ready), and the viewers it owns. */
  workers(): readonly { readonly index: number; readonly running: boolean; readonly viewers: number }[];
  /** A running worker's timing figures since the previous scrape, or undefined when it did not answer in time. */
  figures(index: number): Promise<LoopFigures | undefined>;
}

/** Metrics of the fan-out worker threads (workers/pool.ts feeds the counters; the gauges read the pool). */
export class WorkerMetrics {
  /** Times a worker fell more than a second behind and skipped to the next keyframe, by process. */
  readonly overruns: Counter<'process'>;
  /** Worker threads that ended while the pod was running (an uncaught error, a failed start, an exit). */
  readonly failures: Counter<'worker'>;
  /** Worker threads started again in a slot whose thread had ended. */
  readonly restarts: Counter<'worker'>;
  /** Idle threads that had viewers, replaced by a fresh one (on demand). */
  readonly replacements: Counter;

  constructor(registry: Registry, processes: readonly string[], workers: number, readings: WorkerReadings) {
    const registers = [registry];
    this.overruns = new Counter({
      name: 'corecast_egress_fanout_overruns_total',
      help: 'Times a fan-out worker fell more than a second behind and skipped its backlog to the next keyframe.',
      labelNames: ['process'],
      registers,
    });
    for (const process of processes) this.overruns.inc({ process }, 0);
    this.failures = new Counter({
      name: 'corecast_egress_worker_failures_total',
      help: 'Fan-out worker threads that ended while the pod was running (uncaught error, failed start or exit); their viewers were closed.',
      labelNames: ['worker'],
      registers,
    });
    this.restarts = new Counter({
      name: 'corecast_egress_worker_restarts_total',
      help: 'Fan-out worker threads started again after the previous one in the slot ended.',
      labelNames: ['worker'],
      registers,
    });
    this.replacements = new Counter({
      name: 'corecast_egress_worker_replacements_total',
      help: 'Idle fan-out threads that had viewers, replaced by a fresh thread to give back the memory they kept (media.workers: auto).',
      registers,
    });
    for (let i = 0; i < workers; i++) {
      this.failures.inc({ worker: String(i) }, 0);
      this.restarts.inc({ worker: String(i) }, 0);
    }
    new Gauge({
      name: 'corecast_egress_workers',
      help: 'Fan-out worker threads running.',
      registers,
      collect() {
        this.set(readings.workers().filter((w) => w.running).length);
      },
    });
    new Gauge({
      name: 'corecast_egress_worker_viewers',
      help: 'Viewers owned by each fan-out worker.',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of readings.workers()) this.set({ worker: String(w.index) }, w.viewers);
      },
    });
    registerTimingGauges(registry, readings);
  }
}

/**
 * Each worker's event-loop delay since the previous scrape (the jitter its viewers see), and how
 * late a packet reaches the last of its viewers, from arrival at ingest to the end of the
 * worker's fan-out of its batch (the egress's share of every viewer's latency). One 'loop'
 * request per worker and scrape fills all four.
 */
function registerTimingGauges(registry: Registry, readings: WorkerReadings): void {
  const gauge = (name: string, help: string, collect?: (this: Gauge<'worker'>) => Promise<void>) =>
    new Gauge({ name, help, labelNames: ['worker'], registers: [], ...(collect ? { collect } : {}) });
  const max = gauge(
    'corecast_egress_worker_eventloop_lag_max_seconds',
    'Largest event-loop delay of each fan-out worker since the previous scrape (how late a 10 ms timer ran).',
  );
  const fanoutP99 = gauge(
    'corecast_egress_worker_fanout_delay_p99_seconds',
    'p99, since the previous scrape, of the time from ingest to the last viewer sent, per fan-out worker.',
  );
  const fanoutMax = gauge(
    'corecast_egress_worker_fanout_delay_max_seconds',
    'Largest time from ingest to the last viewer sent since the previous scrape, per fan-out worker.',
  );
  const p99 = gauge(
    'corecast_egress_worker_eventloop_lag_p99_seconds',
    'p99 event-loop delay of each fan-out worker since the previous scrape (how late a 10 ms timer ran).',
    async function collect() {
      const running = readings.workers().filter((w) => w.running);
      await Promise.all(
        running.map(async ({ index }) => {
          const figures = await readings.figures(index);
          if (!figures) return;
          const worker = String(index);
          this.set({ worker }, figures.p99 / 1000);
          max.set({ worker }, figures.max / 1000);
          fanoutP99.set({ worker }, figures.fanoutP99 / 1000);
          fanoutMax.set({ worker }, figures.fanoutMax / 1000);
        }),
      );
    },
  );
  // Collected in registration order: p99 (which reads them all) first.
  for (const m of [p99, max, fanoutP99, fanoutMax]) registry.registerMetric(m);
}

/** A gauge `{thread,type}` filled from `threads` at each scrape, keeping the types `keep` accepts. */
function threadGauge<T extends Record<string, number>>(
  registry: Registry,
  name: string,
  help: string,
  threads: () => Promise<Record<string, T>>,
  keep: (type: string) => boolean = () => true,
): void {
  new Gauge({
    name,
    help,
    labelNames: ['thread', 'type'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [thread, figures] of Object.entries(await threads())) {
        for (const [type, n] of Object.entries(figures)) if (keep(type)) this.set({ thread, type }, n);
      }
    },
  });
}

/** Registers `corecast_egress_thread_resources{thread,type}`, collected from `threads` at each scrape. */
export function registerResourceMetrics(registry: Registry, threads: () => Promise<Record<string, Resources>>): void {
  threadGauge(
    registry,
    'corecast_egress_thread_resources',
    'Active resources per thread (libuv handles and requests by type, sessions, viewers): a leak shows as growth.',
    threads,
    // The ICE mux's counters only grow; they are its own metrics (ice-mux.ts), not resources.
    (type) => !type.startsWith('mux-count-'),
  );
}

/** Each thread's memory as V8 sees it (workers/memory.ts), in bytes by thread and type. */
export function registerMemoryMetrics(registry: Registry, threads: () => Promise<Record<string, ThreadMemory>>): void {
  threadGauge(
    registry,
    'corecast_egress_thread_memory_bytes',
    'Memory per thread as V8 sees it: heap used, reserved and resident, malloced, external (Buffers and native objects), code and array buffers (main thread).',
    threads,
  );
}

/** Which path sends the viewers' media datagrams (1 on the one in use): the sendmmsg addon or dgram. */
export function registerSendPathMetric(registry: Registry, path: 'sendmmsg' | 'dgram'): void {
  const gauge = new Gauge({
    name: 'corecast_egress_udp_send_path',
    help: 'How media datagrams are sent: path="sendmmsg" (batched, the rtc-fastpath addon) or path="dgram" (one send each), 1 on the one in use.',
    labelNames: ['path'],
    registers: [registry],
  });
  gauge.set({ path: 'sendmmsg' }, path === 'sendmmsg' ? 1 : 0);
  gauge.set({ path: 'dgram' }, path === 'dgram' ? 1 : 0);
}

/** Which code protects the viewers' SRTP (1 on the one in use): the rtc-fastpath addon or JavaScript. */
export function registerSrtpPathMetric(registry: Registry, path: 'native' | 'js'): void {
  const gauge = new Gauge({
    name: 'corecast_egress_srtp_path',
    help: 'How media is SRTP-protected: path="native" (the rtc-fastpath addon, OpenSSL, in the sendmmsg call) or path="js" (node:crypto), 1 on the one in use.',
    labelNames: ['path'],
    registers: [registry],
  });
  gauge.set({ path: 'native' }, path === 'native' ? 1 : 0);
  gauge.set({ path: 'js' }, path === 'js' ? 1 : 0);
}
