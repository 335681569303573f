/**
 * Received packets a fan-out thread keeps — a GOP for late joiners, the last few packets before a
 * keyframe, each viewer's NACK history — copied into chunks that are written over again once
 * nothing reads them any more, instead of left to the garbage collector.
 *
 * Why not the collector: a GOP's packets live for up to a GOP (4 s in the benchmarks), long enough
 * to reach V8's old generation, which is collected only every few GOPs; until then every GOP's
 * bytes stay allocated, and a thread's RSS swings by several MiB between two collections. Reused
 * chunks hold the stream's bytes for a GOP plus a few seconds, whatever the collector does.
 *
 * When a chunk is free: the chunks are filled one after another and reused oldest first. A full
 * chunk is written over once
 * - no reader registered with `keptReaders` still holds a packet in it or a later one (the GOP
 *   cache's first packet, the packets kept before a keyframe), and
 * - `KEEP_MS` have passed since its last packet was written, which covers the NACK histories: a
 *   history holds the last 256 packets of a viewer's stream (about a second at 2.5 Mbps), and a
 *   retransmission of a packet older than that is of no use to a live player. A thread without
 *   viewers has no history, and does not wait.
 * A history can still hold an older packet (a viewer waiting for a keyframe sends nothing, so its
 * history does not move on): `keptIntact` tells, before a retransmission, whether the packet's
 * bytes are still its own. Anything queued to send is sent before a chunk is written over
 * (`flushSends`: the batched and native paths send from the packets' own bytes).
 *
 * Chunks are 128 KiB, malloc's mmap threshold (which the egress image fixes with
 * MALLOC_MMAP_THRESHOLD_): one mapping each, back to the kernel when the store lets one go (once a
 * second one is free and has not been used for RELEASE_MS: the stream needs fewer than it has),
 * and small enough that the part-filled chunks at either end of a GOP cost little (a 4 s GOP at
 * 2.5 Mbps fills ten).
 */
import { flushSends } from './batch-send.ts';

/** Bytes per chunk. */
const CHUNK = 128 * 1024;
/** A full chunk is kept at least this long after its last packet was written (ms). */
export const KEEP_MS = 3000;

/**
 * A free chunk unused this long (ms) is let go. Not sooner: a GOP pins its chunks until the next
 * keyframe, which frees them all at once, and the GOP after it needs as many again.
 */
const RELEASE_MS = 30_000;

/** No chunk yet: the first copy makes one (a thread that never keeps a packet has none). */
const NONE = Buffer.alloc(0);

interface Chunk {
  readonly buf: Buffer;
  /** Order of filling: a chunk filled later has a higher number (a reused one gets a new number). */
  serial: number;
  /** When its last packet was written (ms). */
  filledAt: number;
}

/** Counters of a store (tests, and what a thread reports). */
export interface KeptCounts {
  /** Chunks held (the one being filled included). */
  readonly chunks: number;
  /** Chunks written over again instead of allocated. */
  readonly reused: number;
  /** Chunks allocated. */
  readonly allocated: number;
  /** Chunks let go (more were free than the stream needed). */
  readonly released: number;
}

/** Memory still read by something other than the NACK histories: where the oldest packet each reader holds is (its `buffer`). */
export type KeptReaders = () => Iterable<ArrayBufferLike | undefined>;

/** A store of kept packets (one per thread, `keptCopy`; tests make their own). */
export class KeptStore {
  readonly #now: () => number;
  readonly #chunkBytes: number;
  readonly #keepMs: number;
  /** Full chunks, oldest first. */
  readonly #full: Chunk[] = [];
  /** Each chunk this store holds or held, by its memory. */
  readonly #chunks = new WeakMap<ArrayBufferLike, Chunk>();
  #current: Chunk = { buf: NONE, serial: 0, filledAt: 0 };
  #used = 0;
  #serial = 0;
  #readers: KeptReaders = () => [];
  #histories: () => boolean = () => true;
  #reused = 0;
  #allocated = 0;
  #released = 0;

  constructor(options: { now?: () => number; chunkBytes?: number; keepMs?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#chunkBytes = options.chunkBytes ?? CHUNK;
    this.#keepMs = options.keepMs ?? KEEP_MS;
  }

  /**
   * Who else reads kept packets (replaces the previous readers), and whether any NACK history
   * may hold one now (a thread without viewers has none: its chunks need not wait KEEP_MS).
   */
  readers(readers: KeptReaders, histories: () => boolean = () => true): void {
    this.#readers = readers;
    this.#histories = histories;
  }

  /** A copy of `src`, starting 8-byte aligned, that stays intact while a reader holds it or for KEEP_MS. */
  copy(src: Uint8Array): Buffer {
    const size = src.length;
    const rounded = (size + 7) & ~7;
    if (this.#used + rounded > this.#current.buf.length) this.#next(rounded);
    const out = this.#current.buf.subarray(this.#used, this.#used + size);
    out.set(src);
    this.#used += rounded;
    return out;
  }

  /**
   * True while the packet whose payload is `payload` (`payloadOffset` bytes after its header's
   * start, as parsed) still has its own bytes: its header's sequence number, timestamp and SSRC
   * are where they were written. A buffer not from this store is never written over.
   */
  intact(payload: Uint8Array, payloadOffset: number, sequenceNumber: number, timestamp: number, ssrc: number): boolean {
    if (!this.#chunks.has(payload.buffer)) return true;
    const at = payload.byteOffset - payloadOffset;
    const b = new DataView(payload.buffer, 0);
    return (
      at >= 0 && b.getUint16(at + 2) === sequenceNumber && b.getUint32(at + 4) === timestamp >>> 0 && b.getUint32(at + 8) === ssrc >>> 0
    );
  }

  counts(): KeptCounts {
    const chunks = this.#full.length + (this.#current.buf === NONE ? 0 : 1);
    return { chunks, reused: this.#reused, allocated: this.#allocated, released: this.#released };
  }

  /** The current chunk is full: the oldest free one is written over, or a new one made. */
  #next(rounded: number): void {
    const now = this.#now();
    if (this.#current.buf !== NONE) {
      this.#current.filledAt = now;
      this.#full.push(this.#current);
    }
    const oldest = this.#full[0];
    let chunk: Chunk | undefined;
    const keepMs = this.#histories() ? this.#keepMs : 0;
    const oldestRead = oldest ? this.#oldestRead() : Infinity;
    if (oldest && rounded <= oldest.buf.length && this.#free(oldest, now, keepMs, oldestRead)) {
      chunk = this.#full.shift()!;
      // The batched and native paths send from the packets' bytes: out with them before they change.
      flushSends();
      this.#reused++;
      // The next one free too, and unused for RELEASE_MS: the stream needs fewer chunks than the store has.
      const second = this.#full[0];
      if (second && now - second.filledAt >= RELEASE_MS && this.#free(second, now, keepMs, oldestRead)) {
        this.#full.shift();
        this.#released++;
      }
    } else {
      chunk = { buf: Buffer.allocUnsafeSlow(Math.max(this.#chunkBytes, rounded)), serial: 0, filledAt: 0 };
      this.#chunks.set(chunk.buf.buffer, chunk);
      this.#allocated++;
    }
    chunk.serial = ++this.#serial;
    this.#current = chunk;
    this.#used = 0;
  }

  #free(chunk: Chunk, now: number, keepMs: number, oldestRead: number): boolean {
    return now - chunk.filledAt >= keepMs && chunk.serial < oldestRead;
  }

  /** The serial of the oldest chunk a reader holds a packet in (Infinity when none). */
  #oldestRead(): number {
    let oldest = Infinity;
    for (const buf of this.#readers()) {
      if (!buf) continue;
      const chunk = this.#chunks.get(buf);
      if (chunk && chunk.serial < oldest) oldest = chunk.serial;
    }
    return oldest;
  }
}

/** The calling thread's store. */
const store = new KeptStore();

/** A copy of a received packet the thread may keep (a GOP cache, NACK histories), in the thread's store. */
export function keptCopy(src: Uint8Array): Buffer {
  return store.copy(src);
}

/**
 * Registers what else reads kept packets — the oldest packet each reader holds (a GOP cache's
 * first) — and whether a NACK history may hold one now (KeptStore.readers).
 */
export function keptReaders(readers: KeptReaders, histories?: () => boolean): void {
  store.readers(readers, histories);
}

/** True while a kept packet still has its own bytes (KeptStore.intact); any other buffer is. */
export function keptIntact(payload: Uint8Array, payloadOffset: number, sequenceNumber: number, timestamp: number, ssrc: number): boolean {
  return store.intact(payload, payloadOffset, sequenceNumber, timestamp, ssrc);
}

/** The thread's store's counters. */
export function keptCounts(): KeptCounts {
  return store.counts();
}
