/** Prometheus metrics of the egress pod (prom-client), one registry per pod instance. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DROP_REASONS } from './rtp/check.ts';

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

  constructor(processIds: readonly string[], options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
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
