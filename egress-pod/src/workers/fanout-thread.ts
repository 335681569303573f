/**
 * A fan-out worker thread (loaded by media-worker.ts, the thread's entry): it owns a share of the pod's viewers — their werift peers, sockets
 * and timers — and a Fanout (with its own GOP cache) per stream, fed every source packet once
 * per event-loop turn by the main thread (pool.ts). The main thread keeps HTTP, ingest and the
 * session index; this thread answers its requests and reports session events, counters and
 * log lines back.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { RtpHeader, RtpPacket } from 'werift';
import { Fanout } from '../fanout.ts';
import { keptCopy, keptReaders, recycleArena, rtpParser } from '@corecast/rtc-fastpath';
import { joinPodMux } from './join-mux.ts';
import { threadResources } from './resources.ts';
import { RingReader } from './batch-ring.ts';
import { DelaySample } from './delay-sample.ts';
import { threadLogger } from './thread-log.ts';
import { warmUp } from './warm-up.ts';
import { WhepError } from '../whep/errors.ts';
import { Session } from '../whep/session.ts';
import type { SessionHooks } from '../whep/session-types.ts';
import {
  BatchReader,
  type BatchRecord,
  emptyStats,
  type FromWorker,
  type Kind,
  type Opened,
  RECORD,
  type Reply,
  type ReplyOf,
  type RequestOf,
  type StatsDelta,
  type ToWorker,
  type WireError,
  type WorkerSetup,
} from './protocol.ts';

/** Packets kept per stream to rebuild a keyframe's preamble (source.ts keeps at most 16). */
const RECENT = 16;
/**
 * A batch older than this when its turn comes is skipped, and the ones after it: a worker
 * that cannot keep up sheds video (its viewers wait for the next keyframe) instead of letting
 * a backlog — and every viewer's delay — grow without bound.
 */
const MAX_BACKLOG_MS = 1000;
/** Fan-out work done in one go before the thread yields to its event loop (ms). */
const SLICE_MS = 5;
/** How often packet counters go to the main thread (ms). */
const STATS_EVERY = 500;

/**
 * Received packets are parsed from copies in the thread's store of kept packets (rtc-fastpath's
 * keptCopy), not as views of the message they came in: the GOP cache keeps them for up to a GOP,
 * long enough to reach V8's old generation, and a view would keep its whole message's malloc
 * block until a collection every few GOPs. The store writes its chunks over once nothing reads
 * them: the readers below say which packets the fan-out still holds. They are parsed by
 * rtc-fastpath's parser into the classes of werift's bundle (werift's own parser allocated more
 * than half of what an idle thread did).
 */
const parseRtp = rtpParser({ RtpHeader, RtpPacket });
const received = { deSerialize: (buf: Buffer) => parseRtp(keptCopy(buf)) };

const port = parentPort;
if (!port) throw new Error('fanout-thread.ts runs as a worker thread (media-worker.ts, started by workers/pool.ts)');
const setup = workerData as WorkerSetup;
const post = (message: FromWorker): void => port.postMessage(message);

// Log events go to the main thread, which writes them with the pod's logger.
const log = threadLogger(setup.logLevel, (level, fields, msg) => post({ t: 'log', level, fields, msg }), { worker: setup.index });

/**
 * The event-loop monitor's timer interval (ms). Node's histogram records the whole time between
 * the timer's runs (an idle loop records ~10 ms), so the delay is what exceeds the interval.
 */
const LOOP_RESOLUTION_MS = 10;
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loop.enable();
/** How late the monitor's timer ran (ms), from a recorded interval in ns. */
const lateBy = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
/** Ingest-to-last-viewer delay of the batches since the last 'loop' request (ms): a sample and the largest. */
const delays = new DelaySample();
/** Set once the thread reports ready. */
let ready = false;

interface StreamState {
  readonly processId: string;
  readonly fanout: Fanout;
  /** The last video packets, newest last. */
  readonly recent: RtpPacket[];
  stats: StatsDelta;
}

let flushQueued = false;
/** Sends the counters now-ish (rare events are not held back for the timer). */
const flushSoon = (): void => {
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(flush);
};

const streams: StreamState[] = setup.processes.map((processId) => {
  const state: StreamState = {
    processId,
    recent: [],
    stats: emptyStats(),
    fanout: new Fanout(
      {
        sent: (kind, packets, bytes) => {
          if (kind === 'video') {
            state.stats.videoPackets += packets;
            state.stats.videoBytes += bytes;
          } else {
            state.stats.audioPackets += packets;
            state.stats.audioBytes += bytes;
          }
        },
        gated: (n) => {
          state.stats.gated += n;
        },
        keyframeWait: (ms) => {
          state.stats.waits.push(ms);
          flushSoon();
        },
        cacheHit: () => {
          state.stats.cacheHits++;
          flushSoon();
        },
        keyframeRequest: (answered) => {
          if (answered) state.stats.answered++;
          else state.stats.ignored++;
          flushSoon();
        },
      },
      undefined,
      // The GOP cache holds where its kept packets are, not the packets (gop-cache.ts).
      { ...setup.fanout, parse: parseRtp },
    ),
  };
  return state;
});
const byProcess = new Map(streams.map((s) => [s.processId, s]));
const sessions = new Map<string, Session>();
// The oldest packet each stream still reads: its GOP's first (a viewer catching up reads the
// current GOP: the fan-out moves it on from an older one at the next packet) and the first of
// those kept for a keyframe's preamble. NACK histories are covered by the store's KEEP_MS while
// the thread has sessions.
keptReaders(
  function* () {
    for (const s of streams) {
      yield s.fanout.cache.firstBuffer;
      yield s.recent[0]?.payload.buffer;
    }
  },
  () => sessions.size > 0,
);

function flush(): void {
  flushQueued = false;
  const out: Record<string, StatsDelta> = {};
  let any = false;
  for (const s of streams) {
    const d = s.stats;
    if (d.videoPackets + d.audioPackets + d.gated + d.cacheHits + d.answered + d.ignored + d.overruns + d.waits.length === 0) continue;
    out[s.processId] = d;
    s.stats = emptyStats();
    any = true;
  }
  if (any) post({ t: 'stats', byProcess: out });
}
setInterval(flush, STATS_EVERY);

/** Batches received and not yet fanned out, oldest first, with where the first one stopped. */
const queue: { readonly records: BatchReader; readonly at: number; readonly end: number | undefined }[] = [];
/** The thread's ring of batches (batch-ring.ts): given back up to a batch's end once it is read or skipped. */
const ring = setup.ring ? new RingReader(setup.ring) : undefined;
let draining = false;

/**
 * Fans the queued batches out in order, yielding to the event loop after SLICE_MS of work: a
 * keyframe arrives as one burst (a hundred-odd packets, times every viewer), and one long run
 * would hold up everything else this thread owes its viewers — STUN consent answers, RTCP,
 * NACK retransmissions, the session requests. The packets' order is kept.
 */
function drain(): void {
  draining = false;
  // Every send of the earlier slices has run (before `send` returned, or on the next tick): reuse their buffers.
  recycleArena();
  const until = performance.now() + SLICE_MS;
  shedBacklog();
  while (queue.length > 0) {
    const batch = queue[0]!;
    while (batch.records.next()) {
      fanOut(batch.records);
      if (performance.now() > until) {
        draining = true;
        setImmediate(drain);
        return;
      }
    }
    done(queue.shift()!.end);
    if (ready) delays.add(performance.timeOrigin + performance.now() - batch.at);
  }
}

/** A batch read to its end or skipped: its bytes in the ring, and every earlier batch's, are free. */
function done(end: number | undefined): void {
  if (end !== undefined) ring?.done(end);
}

/** Skips the queued batches that waited longer than MAX_BACKLOG_MS (fan-outs told, counted). */
function shedBacklog(): void {
  const now = performance.timeOrigin + performance.now();
  let shed = 0;
  while (queue.length > 0 && now - queue[0]!.at > MAX_BACKLOG_MS) {
    done(queue.shift()!.end);
    shed++;
  }
  if (shed === 0) return;
  for (const s of streams) {
    s.recent.length = 0;
    s.fanout.skipped();
  }
  // Before the thread is ready (werift loading, the warm-up) batches wait with no viewer to
  // delay: skipped quietly, not an overrun.
  if (!ready) return;
  for (const s of streams) s.stats.overruns++;
  log.warn({ batches: shed }, 'fan-out fell more than a second behind: skipped to the next keyframe');
  flushSoon();
}

/** One record of a batch, to its stream's fan-out. */
function fanOut(r: BatchRecord): void {
  const s = streams[r.stream];
  if (!s) return;
  if (r.kind === RECORD.VIDEO) {
    const packet = r.packet!;
    const keyframe = r.keyframe ? { preamble: r.preamble > 0 ? s.recent.slice(-r.preamble) : [] } : undefined;
    s.fanout.video(packet, keyframe);
    s.recent.push(packet);
    if (s.recent.length > RECENT) s.recent.shift();
  } else if (r.kind === RECORD.AUDIO) {
    s.fanout.audio(r.packet!);
  } else if (r.kind === RECORD.RESTART_VIDEO) {
    s.recent.length = 0;
    s.fanout.restarted('video');
  } else if (r.kind === RECORD.RESTART_AUDIO) {
    s.fanout.restarted('audio');
  }
}

async function open(request: RequestOf<'open'>): Promise<Opened> {
  const { settings } = request;
  const stream = byProcess.get(settings.processId);
  if (!stream) throw new WhepError('not-found', `no process "${settings.processId}" is served here`);
  const hooks: SessionHooks = {
    // The main thread holds the pod's gathering lock around the whole request.
    gatherLock: (fn) => fn(),
    log: log.child({ process: settings.processId }),
    onConnected: (session) => {
      stream.fanout.add(session);
      post({ t: 'event', session: session.id, e: 'connected' });
    },
    onClosed: (session, reason) => {
      stream.fanout.remove(session);
      sessions.delete(session.id);
      post({ t: 'event', session: session.id, e: 'closed', reason });
    },
    onPli: (session) => {
      stream.fanout.keyframeRequest(session);
      post({ t: 'event', session: session.id, e: 'pli' });
    },
  };
  const { session, answer } = await Session.open(settings, hooks, request.offer, request.choice);
  sessions.set(session.id, session);
  return { session: session.id, etag: session.etag, ufrag: session.remoteUfrag, answer };
}

/** The answer to each request kind (protocol.ts Calls): the compiler holds each to its reply type. */
const handlers: { readonly [K in Kind]: (request: RequestOf<K>) => Promise<ReplyOf<K>> } = {
  open,
  async candidates(request) {
    await sessions.get(request.session)?.addCandidates(request.frag);
    return undefined;
  },
  async restart(request) {
    const session = sessions.get(request.session);
    if (!session) throw new WhepError('not-found', 'no such session (it ended or never existed)');
    const fragment = await session.restartIce(request.frag);
    return { fragment, etag: session.etag, ufrag: session.remoteUfrag };
  },
  async close(request) {
    await sessions.get(request.session)?.close(request.reason);
    return undefined;
  },
  async resources() {
    return threadResources(
      sessions.size,
      streams.reduce((n, s) => n + s.fanout.size, 0),
    );
  },
  async loop() {
    const fanout = delays.figures(99);
    const figures = {
      p99: lateBy(loop.percentile(99)),
      max: lateBy(loop.max),
      fanoutP99: fanout.percentile,
      fanoutMax: fanout.max,
    };
    loop.reset();
    delays.reset();
    return figures;
  },
};

/** Runs a request and posts its reply, tagged with its kind so the main thread settles the right promise. */
function answer<K extends Kind>(request: RequestOf<K> & { readonly id: number }): void {
  const { t: kind, id } = request;
  const handler: (typeof handlers)[K] = handlers[kind];
  handler(request).then(
    (value) => post(replied(kind, id, value)),
    (err: unknown) => {
      if (!(err instanceof WhepError)) log.error({ err }, 'worker request failed');
      post({ t: 'reply', id, kind, ok: false, error: toWire(err) });
    },
  );
}

function replied<K extends Kind>(kind: K, id: number, value: ReplyOf<K>): Reply<K> {
  return { t: 'reply', id, kind, ok: true, value };
}

/** An error as it crosses to the main thread (WhepErrors keep their kind and headers). */
function toWire(err: unknown): WireError {
  if (err instanceof WhepError) return { message: err.message, kind: err.kind, headers: { ...err.headers } };
  return { message: err instanceof Error ? err.message : String(err) };
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'media' || message.t === 'ring') {
    if (message.t === 'media') queue.push({ records: new BatchReader(message.batch, received), at: message.at, end: undefined });
    else {
      const { start, length, at } = message;
      queue.push({ records: new BatchReader(ring!.batch(start, length), received), at, end: (start + length) >>> 0 });
    }
    // Fanned out once the messages waiting now are all queued (the port hands over every one it
    // holds in one go): a drain per message would run them back to back, each under its slice
    // but together as long as the backlog, with no timer or socket served between them.
    if (!draining) {
      draining = true;
      setImmediate(drain);
    }
    return;
  }
  answer(message);
});

// The first viewer should not pay for werift's first handshake in this thread (warm-up.ts).
// The pod's one media port: this worker's viewers are on it from the start (ice-mux.ts).
if (setup.mux) await joinPodMux(setup.mux, setup.index, log);
const warmed = await warmUp();
if (!warmed) log.warn('werift warm-up over loopback did not connect; the first viewer may take longer');
// Timing figures cover the thread's work for viewers, not its start.
ready = true;
delays.reset();
loop.reset();
post({ t: 'ready' });
