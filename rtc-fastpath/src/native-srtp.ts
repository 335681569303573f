/**
 * SRTP protection and the send in one native call per batch (native/srtp_send.c). With the
 * JavaScript path (srtp.ts, batch-send.ts) every packet and viewer costs a header written from
 * JavaScript, a payload copy, a keystream XOR in JavaScript, two one-shot SHA-1 hashes through
 * node:crypto (each rehashing HMAC's 64-byte pad block) and an arena buffer; here `ViewerSender`
 * only queues a job (six integers: the viewer's context, the shared payload, sequence number,
 * timestamp, marker and payload type, rollover counter) and the addon writes the header, encrypts
 * the payload from the shared packet straight into the datagram with OpenSSL's AES, authenticates
 * it from HMAC states keyed once per viewer, and sends the batch with sendmmsg.
 *
 * Where the addon did not load (batch-send.ts says why), was built without these functions, or
 * CORECAST_NATIVE_SRTP=off, `ViewerSender` protects in JavaScript (srtp.ts) as before and
 * `srtpPath()` says so. The rollover counter is kept by `ViewerSender` (both paths see the same
 * sequence numbers in the same order); the addon is given it per packet.
 */
import type { Socket } from 'node:dgram';
import type { RtpPacket } from 'werift';
import { addon, countSends, fdOf, onFlushSends, sendPath } from './batch-send.ts';
import { PROFILE, type SrtpKeys } from './srtp.ts';

/** Which code protects the fast path's SRTP, and why. */
export interface SrtpPath {
  readonly path: 'native' | 'js';
  readonly why: string;
}

const native = addon();

function choosePath(): SrtpPath {
  if (!native) return { path: 'js', why: `no addon (${sendPath().why})` };
  if (process.env.CORECAST_NATIVE_SRTP === 'off') return { path: 'js', why: 'turned off (CORECAST_NATIVE_SRTP=off)' };
  if (typeof native.srtpSend !== 'function' || native.srtpJobFields !== JOB) return { path: 'js', why: 'the addon was built without SRTP' };
  return { path: 'native', why: 'OpenSSL in the addon, batched with sendmmsg' };
}

/** Integers per job (native/srtp_send.c JOB_FIELDS). */
const JOB = 6;
/** Integers per source: CSRC count and up to 15 CSRCs. */
const CSRC = 16;
/** Jobs per call: the same bound as batch-send.ts's, for the same reason (the worker's time slice). */
const MAX = Math.min(native?.maxBatch ?? 1, 64);
/** Bytes the datagrams of one call are written into: 64 full-size datagrams with room to spare; never less than one UDP datagram. */
const OUT_BYTES = 256 * 1024;

const path = choosePath();
const srtp = path.path === 'native' ? native! : undefined;

/** The path this thread protects SRTP with. */
export function srtpPath(): SrtpPath {
  return path;
}

/** Context ids whose sender went away without `release()`: freed at the next flush. */
const releases: number[] = [];
const unreleased = new FinalizationRegistry<number>((id) => {
  releases.push(id);
  scheduleFlush();
});

/** One viewer sender's keys and SSRC in the addon, and where its datagrams go. */
export class NativeSrtp {
  readonly id: number;
  readonly ssrc: number;
  #host = '';
  #port = 0;

  private constructor(id: number, ssrc: number) {
    this.id = id;
    this.ssrc = ssrc;
    unreleased.register(this, id, this);
  }

  /** A context for the keys' profile, or undefined where the addon does not protect (or not this profile). */
  static create(keys: SrtpKeys, ssrc: number): NativeSrtp | undefined {
    if (!srtp) return undefined;
    if (keys.profile === PROFILE.AES_CM_128_HMAC_SHA1_80 && keys.srtpSessionAuthTag) {
      return new NativeSrtp(srtp.srtpCreate!(keys.profile, keys.srtpSessionKey, keys.srtpSessionSalt, keys.srtpSessionAuthTag, ssrc), ssrc);
    }
    if (keys.profile === PROFILE.AEAD_AES_128_GCM) {
      return new NativeSrtp(srtp.srtpCreate!(keys.profile, keys.srtpSessionKey, keys.srtpSessionSalt, undefined, ssrc), ssrc);
    }
    return undefined;
  }

  /** Where its datagrams go. */
  get host(): string {
    return this.#host;
  }
  get port(): number {
    return this.#port;
  }

  /** Datagrams go to host:port (an IP literal) from the next batch on. */
  target(host: string, port: number): void {
    if (host === this.#host && port === this.#port) return;
    srtp!.srtpTarget!(this.id, host, port);
    this.#host = host;
    this.#port = port;
  }

  /** Frees the keys once the queued jobs have gone out (their ids must not be reused before). */
  release(): void {
    unreleased.unregister(this);
    releases.push(this.id);
    scheduleFlush();
  }
}

class Batch {
  readonly socket: Socket;
  readonly jobs = new Int32Array(MAX * JOB);
  /** The payloads of the batch's first `sourceCount` sources (the array is passed whole). */
  readonly sources: Buffer[] = [];
  sourceCount = 0;
  readonly csrcs = new Int32Array(MAX * CSRC);
  /** Each job's context (its destination, for what the kernel does not take, sent through dgram). */
  readonly contexts: (NativeSrtp | undefined)[] = new Array<NativeSrtp | undefined>(MAX).fill(undefined);
  /** The packet of the last source added (consecutive jobs of one packet share it). */
  last: RtpPacket | undefined;
  count = 0;
  bytes = 0;
  /** Jobs were queued since the last flushProtected. */
  used = true;
  constructor(socket: Socket) {
    this.socket = socket;
  }
}

const batches = new Map<Socket, Batch>();
const out = Buffer.allocUnsafeSlow(srtp ? OUT_BYTES : 0);
const results = new Int32Array(MAX * 2);
/** What a source slot holds between batches (the payload it held is not kept alive). */
const EMPTY = Buffer.alloc(0);
let scheduled = false;

function scheduleFlush(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushProtected);
}

/**
 * Queues `packet` for the viewer of `context` as (`seq`, `timestamp`, `roc`) on `socket`, to the
 * context's target; returns the datagram's length. Only packets without header extensions (the
 * caller sends those through werift). Allocates nothing.
 */
export function sendProtected(
  socket: Socket,
  context: NativeSrtp,
  packet: RtpPacket,
  payloadType: number,
  seq: number,
  timestamp: number,
  roc: number,
  tagLength: number,
): number {
  let batch = batches.get(socket);
  if (!batch) {
    batch = new Batch(socket);
    batches.set(socket, batch);
  }
  batch.used = true;
  const header = packet.header;
  const payload = packet.payload;
  const csrcCount = header.csrcLength;
  const length = 12 + csrcCount * 4 + payload.length + tagLength;
  // As the addon lays them out: 16-byte aligned, room for the longer (GCM) tag.
  const room = (12 + csrcCount * 4 + payload.length + 16 + 15) & ~15;
  if (batch.count > 0 && batch.bytes + room > OUT_BYTES) flush(batch);
  if (packet !== batch.last) {
    const source = batch.sourceCount++;
    const at = source * CSRC;
    if (source < batch.sources.length) batch.sources[source] = payload;
    else batch.sources.push(payload);
    batch.csrcs[at] = csrcCount;
    for (let i = 0; i < csrcCount; i++) batch.csrcs[at + 1 + i] = header.csrc[i]! | 0;
    batch.last = packet;
  }
  const jobs = batch.jobs;
  const j = batch.count * JOB;
  jobs[j] = context.id;
  jobs[j + 1] = batch.sourceCount - 1;
  jobs[j + 2] = seq;
  jobs[j + 3] = timestamp | 0;
  jobs[j + 4] = (header.marker ? 0x80 : 0) | payloadType;
  jobs[j + 5] = roc | 0;
  batch.contexts[batch.count] = context;
  batch.count++;
  batch.bytes += room;
  if (batch.count === MAX) flush(batch);
  else scheduleFlush();
  return length;
}

/** Sends every queued job now and frees released contexts (flushSends calls it too). */
export function flushProtected(): void {
  scheduled = false;
  // A socket's batch (its arrays) is kept while it is sent on, dropped once nothing was queued on it since the last time here.
  for (const [socket, batch] of batches) {
    if (batch.count > 0) flush(batch);
    if (!batch.used) batches.delete(socket);
    batch.used = false;
  }
  for (const id of releases) srtp?.srtpRelease!(id);
  releases.length = 0;
}
onFlushSends(flushProtected);

function flush(batch: Batch): void {
  const { socket, count, contexts } = batch;
  batch.count = 0;
  batch.bytes = 0;
  batch.last = undefined;
  // Read again at every flush: a socket closed meanwhile has no handle, and its number may
  // already belong to another socket.
  const fd = fdOf(socket);
  try {
    if (fd < 0) {
      countSends(0, 0, 0, count);
      return;
    }
    const sent = srtp!.srtpSend!(fd, count, batch.jobs, batch.sources, batch.sourceCount, batch.csrcs, out, results);
    const taken = Math.max(0, sent);
    let message = 0;
    let fallbacks = 0;
    let dropped = 0;
    for (let i = 0; i < count; i++) {
      const length = results[i * 2 + 1]!;
      if (length < 0) {
        dropped++;
        continue;
      }
      if (message++ < taken) continue;
      // A copy: dgram may hold it past this batch (libuv's queue when the socket buffer is full).
      const at = results[i * 2]!;
      const context = contexts[i]!;
      fallbacks++;
      socket.send(Buffer.from(out.subarray(at, at + length)), context.port, context.host);
    }
    countSends(1, taken, fallbacks, dropped);
  } finally {
    // Emptied, not shortened: the arrays keep their size, so the next batch allocates nothing.
    batch.sources.fill(EMPTY, 0, batch.sourceCount);
    batch.sourceCount = 0;
    contexts.fill(undefined, 0, count);
  }
}
