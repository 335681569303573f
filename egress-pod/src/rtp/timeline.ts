/**
 * One continuous outgoing RTP timeline per leg. A restarted FFmpeg starts a new SSRC with
 * random sequence and timestamp bases (RFC 3550 §5.1); viewers must not see that: the output
 * sequence goes on by one and the output timestamp advances by the wall-clock time that passed,
 * so a receiver's jitter buffer sees a pause, not a jump (without it Chrome froze for good).
 */

const U16 = 0x10000;
const U32 = 0x100000000;

/** Output sequence number and timestamp for one input packet. */
export interface Mapped {
  /** Output sequence number. */
  seq: number;
  /** Output timestamp. */
  timestamp: number;
  /** True on the first packet of a new source (SSRC change). */
  readonly restarted: boolean;
}

/** True when uint16 `a` is after `b` (RFC 1982 serial arithmetic). */
export function seqAfter(a: number, b: number): boolean {
  const d = (a - b + U16) % U16;
  return d !== 0 && d < 0x8000;
}

/** Maps input (SSRC, sequence, timestamp) to a continuous output timeline. */
export class Timeline {
  readonly #clockRate: number;
  readonly #now: () => number;
  #ssrc: number | undefined;
  #seqOffset = 0;
  #tsOffset = 0;
  #lastSeq = 0;
  #lastTs = 0;
  #lastAt = 0;

  /** `clockRate` in Hz; `now` returns milliseconds (injected for tests). */
  constructor(clockRate: number, now: () => number = performance.now.bind(performance)) {
    this.#clockRate = clockRate;
    this.#now = now;
  }

  /** Maps one packet's header fields. */
  map(ssrc: number, seq: number, timestamp: number): Mapped {
    const now = this.#now();
    let restarted = false;
    if (this.#ssrc === undefined) {
      this.#ssrc = ssrc;
      this.#lastSeq = (seq - 1 + U16) % U16;
      this.#lastTs = timestamp;
      this.#lastAt = now;
    } else if (ssrc !== this.#ssrc) {
      // New source: continue right after the last packet sent, advanced by elapsed time.
      const elapsed = Math.max(1, Math.round(((now - this.#lastAt) * this.#clockRate) / 1000));
      this.#seqOffset = (this.#lastSeq + 1 - seq + U16 * 2) % U16;
      this.#tsOffset = (this.#lastTs + elapsed - timestamp + U32 * 2) % U32;
      this.#ssrc = ssrc;
      restarted = true;
    }
    const out = { seq: (seq + this.#seqOffset) % U16, timestamp: (timestamp + this.#tsOffset) % U32, restarted };
    if (restarted || seqAfter(out.seq, this.#lastSeq)) {
      this.#lastSeq = out.seq;
      this.#lastTs = out.timestamp;
      this.#lastAt = now;
    }
    return out;
  }

  /**
   * Makes room for one inserted packet before the packet just mapped: the inserted packet
   * takes `mapped.seq`, the mapped packet and every later one move up by one.
   */
  insertBefore(mapped: Mapped): number {
    const inserted = mapped.seq;
    this.#seqOffset = (this.#seqOffset + 1) % U16;
    mapped.seq = (mapped.seq + 1) % U16;
    if (seqAfter(mapped.seq, this.#lastSeq)) this.#lastSeq = mapped.seq;
    return inserted;
  }
}
