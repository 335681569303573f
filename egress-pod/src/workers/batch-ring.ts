/**
 * Media batches from the main thread to one fan-out thread through shared memory: a ring the
 * main thread writes each batch into and the thread reads it from, then gives back. A batch
 * posted as a message is a copy made in the receiving thread's malloc arena for every batch (a
 * few hundred a second per stream), each freed only once V8's young generation is next
 * collected — with an idle thread's few allocations, seconds later: about a megabyte of batches
 * at any time, and the holes they leave. The ring is one fixed block (RING_BYTES, touched once).
 *
 * The main thread counts the bytes it has written (`produced`), the thread the bytes it is done
 * with (`consumed`, in shared memory, written with Atomics once a batch has been read to its end
 * or skipped); both count on past the ring's size and wrap at 2^32, and the ring's size is a power
 * of two, so a count modulo the size is the place in the ring. A batch is written in one piece:
 * one that would cross the end starts again at the beginning, the bytes skipped counted as
 * produced. When the thread is too far behind for a batch to fit, the main thread posts it as a
 * copy, as before: nothing is lost, it costs what it used to.
 */

/** Bytes of each thread's ring: ~0.8 s of a 2.5 Mbps stream (a thread a second behind sheds its backlog anyway). */
export const RING_BYTES = 256 * 1024;

/** What a thread needs of its ring (passed in its workerData: shared, not copied). */
export interface RingSetup {
  readonly data: SharedArrayBuffer;
  /** One 32-bit count: the bytes the thread is done with. */
  readonly consumed: SharedArrayBuffer;
}

/** A new ring of `size` bytes (a power of two). */
export function makeRing(size = RING_BYTES): RingSetup {
  if (size <= 0 || (size & (size - 1)) !== 0) throw new Error(`a batch ring's size is a power of two, not ${size}`);
  return { data: new SharedArrayBuffer(size), consumed: new SharedArrayBuffer(4) };
}

/** The main thread's end: writes batches while there is room. */
export class RingWriter {
  readonly #data: Uint8Array;
  readonly #consumed: Int32Array;
  readonly #mask: number;
  #produced = 0;

  constructor(ring: RingSetup) {
    this.#data = new Uint8Array(ring.data);
    this.#consumed = new Int32Array(ring.consumed);
    this.#mask = ring.data.byteLength - 1;
  }

  /** Copies `batch` into the ring; its start count for the thread, or undefined when it does not fit now. */
  write(batch: Uint8Array): number | undefined {
    const size = this.#mask + 1;
    const length = batch.length;
    let produced = this.#produced;
    let at = produced & this.#mask;
    const skip = at + length > size ? size - at : 0;
    const used = (produced - (Atomics.load(this.#consumed, 0) >>> 0)) >>> 0;
    // The bytes skipped are free, but count as written until the thread is past them; while it is
    // past everything, any batch that fits the ring goes in from the start.
    if (length > size || (used > 0 && used + skip + length > size)) return undefined;
    if (skip > 0) {
      produced = (produced + skip) >>> 0;
      at = 0;
    }
    this.#data.set(batch, at);
    this.#produced = (produced + length) >>> 0;
    return produced;
  }
}

/** The thread's end: a batch's bytes where the main thread wrote them, and done with them. */
export class RingReader {
  readonly #data: SharedArrayBuffer;
  readonly #consumed: Int32Array;
  readonly #mask: number;

  constructor(ring: RingSetup) {
    this.#data = ring.data;
    this.#consumed = new Int32Array(ring.consumed);
    this.#mask = ring.data.byteLength - 1;
  }

  /** The batch written at count `start`, `length` bytes (valid until `done` is given its end). */
  batch(start: number, length: number): Uint8Array {
    return new Uint8Array(this.#data, start & this.#mask, length);
  }

  /** The thread is done with every batch up to count `end` (batches are done in the order written). */
  done(end: number): void {
    Atomics.store(this.#consumed, 0, end | 0);
  }
}
