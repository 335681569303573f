/**
 * One stream the pod serves: a process's RTP ingest, its source state and its viewers' fan-out,
 * wired to the pod's metrics and logs.
 */
import type { EgressStream } from '@corecast/api';
import { Fanout, type FanoutOptions, type FanoutStats, type ViewerSet } from './fanout.ts';
import { Ingest, type IngestPorts } from './ingest.ts';
import type { Logger } from './log.ts';
import type { EgressMetrics } from './metrics.ts';
import { PinFile } from './pin-file.ts';
import { type MediaSink, Source, type SourceState, type SourceTiming } from './source.ts';

/** Where a stream's media goes when it is not fanned out on this thread (workers/pool.ts). */
export interface MediaPlane {
  /** Receives the source's packets. */
  readonly sink: MediaSink;
  /** The viewers as the sessions see them. */
  readonly viewers: ViewerSet;
}

/** How a stream fans out: on this thread with these options, or through a media plane. */
export interface StreamMedia {
  /** Fan-out elsewhere (workers); when absent, a Fanout on this thread. */
  readonly plane?: MediaPlane;
  /** Options of the Fanout on this thread. */
  readonly fanout?: FanoutOptions;
  /** Hears every accepted RTP datagram (replica 0's relay to its siblings, replica/relay.ts). */
  readonly relay?: ((kind: 'video' | 'audio', datagram: Buffer) => void) | undefined;
}

/** The fan-out counters of one process, bound to the pod's metrics. */
export function fanoutStats(metrics: EgressMetrics, process: string): FanoutStats {
  const out = {
    video: metrics.packetsOut.labels({ process, kind: 'video' }),
    audio: metrics.packetsOut.labels({ process, kind: 'audio' }),
  };
  const outBytes = {
    video: metrics.bytesOut.labels({ process, kind: 'video' }),
    audio: metrics.bytesOut.labels({ process, kind: 'audio' }),
  };
  return {
    sent: (kind, packets, bytes) => {
      out[kind].inc(packets);
      outBytes[kind].inc(bytes);
    },
    keyframeWait: (ms) => {
      metrics.keyframeWaits.inc({ process });
      metrics.keyframeWaitSeconds.observe({ process }, ms / 1000);
    },
    gated: (n) => metrics.packetsGated.inc({ process }, n),
    cacheHit: () => metrics.gopCacheHits.inc({ process }),
    keyframeRequest: (answered) => metrics.keyframeRequests.inc({ process, result: answered ? 'answered' : 'ignored' }),
  };
}

/** A served process. */
export class Stream {
  /** The process id. */
  readonly id: string;
  /** Its configuration. */
  readonly config: EgressStream;
  /** Source state and timeline. */
  readonly source: Source;
  /** Viewers receiving media. */
  readonly fanout: ViewerSet;
  readonly #ingest: Ingest;
  readonly #pinFile: PinFile | undefined;
  #ports: IngestPorts | undefined;

  /** `onState` hears every source state change (the pod closes sessions on `gone`). */
  constructor(
    config: EgressStream,
    timing: SourceTiming,
    metrics: EgressMetrics,
    log: Logger,
    onState: (s: SourceState) => void,
    media: StreamMedia = {},
  ) {
    this.id = config.processId;
    this.config = config;
    const process = config.processId;
    let sink: MediaSink;
    if (media.plane) {
      sink = media.plane.sink;
      this.fanout = media.plane.viewers;
    } else {
      const fanout = new Fanout(fanoutStats(metrics, process), undefined, media.fanout);
      sink = fanout;
      this.fanout = fanout;
    }
    const restarts = (kind: 'video' | 'audio') => {
      metrics.sourceRestarts.inc({ process, kind });
      log.info({ kind }, 'source restarted (new SSRC); the outgoing timeline continues');
    };
    this.source = new Source(
      {
        video: (p, k) => sink.video(p, k),
        audio: (p) => sink.audio(p),
        restarted: (kind) => {
          restarts(kind);
          sink.restarted(kind);
        },
      },
      {
        state: (state) => {
          metrics.sourceUp.set({ process }, state === 'up' ? 1 : 0);
          log.info({ state }, 'source state');
          onState(state);
        },
        injected: () => metrics.parameterSetsInjected.inc({ process }),
        unusableKeyframe: () => log.debug('keyframe before any SPS/PPS: nobody can start from it'),
      },
      timing,
    );
    const inPackets = {
      video: metrics.packetsIn.labels({ process, kind: 'video' }),
      audio: metrics.packetsIn.labels({ process, kind: 'audio' }),
    };
    const inBytes = {
      video: metrics.bytesIn.labels({ process, kind: 'video' }),
      audio: metrics.bytesIn.labels({ process, kind: 'audio' }),
    };
    this.#ingest = new Ingest(
      config,
      this.source,
      {
        accepted: (kind, bytes) => {
          inPackets[kind].inc();
          inBytes[kind].inc(bytes);
        },
        dropped: (kind, reason) => metrics.drops.inc({ process, kind, reason }),
      },
      { timeoutMs: timing.timeoutMs, log, relay: media.relay },
    );
    if (config.sourceAddressFile !== undefined) {
      this.#pinFile = new PinFile(config.sourceAddressFile, (addresses) => this.#ingest.pin(addresses), log);
    }
  }

  /** The SSRC a leg of the source follows now. */
  sourceSsrc(kind: 'video' | 'audio'): number | undefined {
    return this.#ingest.ssrc(kind);
  }

  /** The addresses RTP is pinned to (sourceAddressFile), or undefined without a pin file. */
  get pinned(): readonly string[] | undefined {
    return this.#ingest.pinned;
  }

  /** Bound RTP ports (after start). */
  get ports(): IngestPorts {
    if (!this.#ports) throw new Error(`stream ${this.id} is not started`);
    return this.#ports;
  }

  /** Binds the RTP sockets and starts the liveness clock. */
  async start(): Promise<IngestPorts> {
    this.#pinFile?.start();
    this.#ports = await this.#ingest.start();
    this.source.start();
    return this.#ports;
  }

  /** Closes the RTP sockets and stops the clock. */
  async stop(): Promise<void> {
    this.#pinFile?.stop();
    this.source.stop();
    await this.#ingest.close();
  }
}
