/**
 * What the main thread and the fan-out workers say to each other. Media travels as batches:
 * every packet the sources produced during one event-loop turn, already on their continuous
 * outgoing timelines, packed into one buffer per turn and written once into every worker's ring
 * of shared memory (batch-ring.ts; a copy posted as a message when its ring is full), announced
 * by one small message — no per-packet messages. Sessions are driven by small request
 * messages with numbered replies; workers report session events, stats and log lines.
 */
import type { FanoutOptions } from '../fanout.ts';
import type { MuxSetup } from '../ice-mux.ts';
import { rtpHeaderLength, writeRtpHeader } from '@corecast/rtc-fastpath';
import type { RtpPacket } from 'werift';
import type { OfferChoice, SdpFrag } from '../whep/sdp.ts';
import type { CloseReason, SessionSettings } from '../whep/session-types.ts';
import type { RingSetup } from './batch-ring.ts';
import type { Resources } from './resources.ts';

/** Record kinds in a media batch. */
export const RECORD = { VIDEO: 1, AUDIO: 2, RESTART_VIDEO: 3, RESTART_AUDIO: 4 } as const;

/** Bytes before each record's packet: kind, flags, preamble length, stream index (u8 each), packet length (u32). */
const RECORD_HEADER = 8;
/** Flag: the video packet starts a keyframe a viewer can begin with. */
const KEYFRAME = 1;

/** Packs the records of one event-loop turn. */
export class BatchWriter {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #length = 0;
  #firstAt = 0;

  /** True when nothing was written since the last take. */
  get empty(): boolean {
    return this.#length === 0;
  }

  /** A media packet of stream `stream`; `preamble` = how many of the previous video packets precede its keyframe. */
  packet(stream: number, kind: 'video' | 'audio', packet: RtpPacket, keyframe: boolean, preamble: number): void {
    const h = packet.header;
    const size = rtpHeaderLength(h) + packet.payload.length;
    const at = this.#reserve(RECORD_HEADER + size);
    const b = this.#buf;
    b[at] = kind === 'video' ? RECORD.VIDEO : RECORD.AUDIO;
    b[at + 1] = keyframe ? KEYFRAME : 0;
    b[at + 2] = preamble;
    b[at + 3] = stream;
    b.writeUInt32LE(size, at + 4);
    const headerLength = writeRtpHeader(b, at + RECORD_HEADER, h, h.payloadType, h.sequenceNumber, h.timestamp, h.ssrc);
    packet.payload.copy(b, at + RECORD_HEADER + headerLength);
  }

  /** The source of stream `stream` restarted (new SSRC). */
  restarted(stream: number, kind: 'video' | 'audio'): void {
    const at = this.#reserve(RECORD_HEADER);
    this.#buf.fill(0, at, at + RECORD_HEADER);
    this.#buf[at] = kind === 'video' ? RECORD.RESTART_VIDEO : RECORD.RESTART_AUDIO;
    this.#buf[at + 3] = stream;
  }

  /** Wall-clock time (ms) of the batch's first record. */
  get firstAt(): number {
    return this.#firstAt;
  }

  /** The batch so far, a view of the writer's buffer valid until the next record is written; the writer starts over. */
  take(): Uint8Array {
    const out = this.#buf.subarray(0, this.#length);
    this.#length = 0;
    return out;
  }

  #reserve(bytes: number): number {
    if (this.#length === 0) this.#firstAt = performance.timeOrigin + performance.now();
    if (this.#length + bytes > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#length + bytes));
      this.#buf.copy(grown, 0, 0, this.#length);
      this.#buf = grown;
    }
    const at = this.#length;
    this.#length += bytes;
    return at;
  }
}

/** One record of a batch. */
export interface BatchRecord {
  /** RECORD kind. */
  readonly kind: number;
  /** Stream index (the position of the stream in the configuration). */
  readonly stream: number;
  /** The packet (video and audio records); its payload is a view of the batch. */
  readonly packet: RtpPacket | undefined;
  /** The video packet starts a keyframe. */
  readonly keyframe: boolean;
  /** How many of the previous video packets are that keyframe's preamble. */
  readonly preamble: number;
}

/** werift's RTP packet parser (a fan-out thread's from the werift bundle it loads). */
export interface RtpParser {
  deSerialize(buf: Buffer): RtpPacket;
}

/**
 * Reads a batch's records in order, each packet parsed by `rtp`: `next()` moves to the next record
 * and the reader's fields are that record (one object for the whole batch, none per record: a
 * fan-out thread reads every packet of the stream this way).
 */
export class BatchReader implements BatchRecord {
  kind = 0;
  stream = 0;
  packet: RtpPacket | undefined = undefined;
  keyframe = false;
  preamble = 0;
  readonly #b: Buffer;
  readonly #rtp: RtpParser;
  #at = 0;

  constructor(batch: Uint8Array, rtp: RtpParser) {
    this.#b = Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    this.#rtp = rtp;
  }

  /** Moves to the next record; false (and no packet) once there is none. */
  next(): boolean {
    const b = this.#b;
    const at = this.#at;
    if (at + RECORD_HEADER > b.length) {
      this.packet = undefined;
      return false;
    }
    const size = b.readUInt32LE(at + 4);
    const start = at + RECORD_HEADER;
    this.kind = b[at]!;
    this.stream = b[at + 3]!;
    this.keyframe = (b[at + 1]! & KEYFRAME) !== 0;
    this.preamble = b[at + 2]!;
    this.packet = size > 0 ? this.#rtp.deSerialize(b.subarray(start, start + size)) : undefined;
    this.#at = start + size;
    return true;
  }
}

/** What a worker answers to 'open': the new session's id, ETag, the viewer's ufrag and the SDP answer. */
export interface Opened {
  readonly session: string;
  readonly etag: string;
  readonly ufrag: string;
  readonly answer: string;
}

/** What a worker answers to 'restart': our answer fragment, the new ETag and the viewer's new ufrag. */
export interface Restarted {
  readonly fragment: string;
  readonly etag: string;
  readonly ufrag: string;
}

/** A worker's timing figures since the previous 'loop' request (ms). */
export interface LoopFigures {
  /** p99 and largest event-loop delay (how late a 10 ms timer ran). */
  readonly p99: number;
  readonly max: number;
  /** p99 and largest time from ingest to the last viewer sent. */
  readonly fanoutP99: number;
  readonly fanoutMax: number;
}

/**
 * Every request the main thread makes of a worker, with what the worker answers. The link's
 * `request()` returns the reply type of the kind it is given, and the worker's handlers must
 * return it (media-worker.ts), so neither side reads an untyped value.
 */
export interface Calls {
  open: { request: { readonly settings: SessionSettings; readonly offer: string; readonly choice: OfferChoice }; reply: Opened };
  candidates: { request: { readonly session: string; readonly frag: SdpFrag }; reply: undefined };
  restart: { request: { readonly session: string; readonly frag: SdpFrag }; reply: Restarted };
  close: { request: { readonly session: string; readonly reason: CloseReason }; reply: undefined };
  loop: { request: object; reply: LoopFigures };
  resources: { request: object; reply: Resources };
}

/** A request kind. */
export type Kind = keyof Calls;
/** A request of kind `K` before the link numbers it. */
export type RequestOf<K extends Kind> = { readonly t: K } & Calls[K]['request'];
/** What the worker answers to a request of kind `K`. */
export type ReplyOf<K extends Kind> = Calls[K]['reply'];
/** Requests as posted (each answered by a Reply with the same id and kind). */
export type Request = { [K in Kind]: RequestOf<K> & { readonly id: number } }[Kind];
/** The answer to request `id` of kind `K`: its value, or the error it failed with. */
export type Reply<K extends Kind = Kind> = { readonly t: 'reply'; readonly id: number; readonly kind: K } & (
  { readonly ok: true; readonly value: ReplyOf<K> } | { readonly ok: false; readonly error: WireError }
);

/** Messages to a worker. */
export type ToWorker =
  | Request
  /** A batch in the worker's ring (batch-ring.ts): `length` bytes from count `start`. */
  | { readonly t: 'ring'; readonly start: number; readonly length: number; readonly at: number }
  /** A batch as a copy of its own (the ring had no room). */
  | { readonly t: 'media'; readonly batch: Uint8Array; readonly at: number };

/** An error crossing the thread boundary (WhepErrors keep their kind and headers). */
export interface WireError {
  readonly message: string;
  readonly kind?: string;
  readonly headers?: Record<string, string>;
}

/** Per-process counters a worker accumulated since its last report. */
export interface StatsDelta {
  videoPackets: number;
  videoBytes: number;
  audioPackets: number;
  audioBytes: number;
  gated: number;
  cacheHits: number;
  answered: number;
  ignored: number;
  /** Keyframe waits in ms. */
  waits: number[];
  /** Times the worker fell behind and skipped to the next keyframe. */
  overruns: number;
}

/** Messages from a worker. */
export type FromWorker =
  | { readonly t: 'ready' }
  | Reply
  | { readonly t: 'event'; readonly session: string; readonly e: 'connected' | 'pli' }
  | { readonly t: 'event'; readonly session: string; readonly e: 'closed'; readonly reason: CloseReason }
  | { readonly t: 'stats'; readonly byProcess: Record<string, StatsDelta> }
  | { readonly t: 'log'; readonly level: LogLevel; readonly fields: string; readonly msg: string | undefined };

/** The levels a fan-out thread logs at (thread-log.ts). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A new, empty stats delta. */
export function emptyStats(): StatsDelta {
  return {
    videoPackets: 0,
    videoBytes: 0,
    audioPackets: 0,
    audioBytes: 0,
    gated: 0,
    cacheHits: 0,
    answered: 0,
    ignored: 0,
    waits: [],
    overruns: 0,
  };
}

/** What the worker is started with. */
export interface WorkerSetup {
  /** Worker number (logs, metrics). */
  readonly index: number;
  /** Its ring of media batches (shared memory), given by WorkerHandle. */
  readonly ring?: RingSetup;
  /** Process ids, in stream-index order. */
  readonly processes: readonly string[];
  /** Options of the worker's fan-outs (plain data: the thread gives its own parser). */
  readonly fanout: Omit<FanoutOptions, 'parse'>;
  /** Log level. */
  readonly logLevel: string;
  /** The pod's media port, which the worker binds too (ice-mux.ts). */
  readonly mux?: MuxSetup | undefined;
}
