/**
 * The packets of the current group of pictures: everything since the last point a decoder can
 * start from (an IDR picture with its SPS/PPS, egress-pod/README.md, werift note 5). A late joiner starts from here
 * instead of waiting up to a whole GOP for the next keyframe, and a viewer's picture loss
 * indication is answered from here, since the source (FFmpeg's RTP muxer) cannot make a
 * keyframe on demand (werift note 5 in egress-pod/README.md).
 *
 * The cache is bounded twice: past `maxBytes` it is dropped (nobody can start mid-GOP without
 * the keyframe, so a partial GOP is worthless), and a GOP older than `maxAgeMs` is no longer
 * offered (replaying it would cost more than waiting for the next keyframe) and is freed.
 * Packets are shared with the fan-out, never copied; a new GOP gets a new array, so a viewer
 * still reading the previous one keeps a consistent view of it.
 */
import type { RtpPacket } from 'werift';

/** Bounds of the cache. */
export interface GopLimits {
  /** Payload bytes kept at most; a larger GOP is dropped and joiners wait for a keyframe. */
  readonly maxBytes: number;
  /** A GOP whose keyframe is older than this is not offered to joiners and is freed. */
  readonly maxAgeMs: number;
}

/** Defaults: a 4 s GOP at 2.5 Mbps is ~1.3 MB; 8 MiB holds a 4 s GOP up to ~16 Mbps. */
export const DEFAULT_GOP_LIMITS: GopLimits = { maxBytes: 8 * 1024 * 1024, maxAgeMs: 10_000 };

/** The current GOP of one stream. */
export class GopCache {
  readonly #limits: GopLimits;
  #packets: RtpPacket[] = [];
  /** Per packet: how many distinct pictures (timestamps) precede it in the GOP. */
  #pictures: number[] = [];
  #bytes = 0;
  #startedAt = 0;
  #valid = false;

  constructor(limits: GopLimits = DEFAULT_GOP_LIMITS) {
    this.#limits = limits;
  }

  /** The packets since the keyframe start (empty when there is no usable GOP). Do not mutate. */
  get packets(): readonly RtpPacket[] {
    return this.#packets;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True while the cache holds a GOP from its keyframe on. */
  get valid(): boolean {
    return this.#valid;
  }

  /** Index of the picture (0 = the keyframe) that packet `i` belongs to. */
  picture(i: number): number {
    return this.#pictures[i] ?? 0;
  }

  /** A keyframe starts a new GOP with these packets (its preamble, then its first packet). */
  start(first: readonly RtpPacket[], now: number): void {
    this.#packets = [];
    this.#pictures = [];
    this.#bytes = 0;
    this.#startedAt = now;
    this.#valid = true;
    for (const p of first) this.#add(p);
    if (this.#bytes > this.#limits.maxBytes) this.drop();
  }

  /** Appends a packet of the current GOP; false when this drops the cache (bytes or age). */
  append(packet: RtpPacket, now: number): boolean {
    if (!this.#valid) return false;
    if (now - this.#startedAt > this.#limits.maxAgeMs || this.#bytes + packet.payload.length > this.#limits.maxBytes) {
      this.drop();
      return false;
    }
    this.#add(packet);
    return true;
  }

  /** True when a joiner may start from the cache now. */
  joinable(now: number): boolean {
    return this.#valid && this.#packets.length > 0 && now - this.#startedAt <= this.#limits.maxAgeMs;
  }

  /** Forgets the GOP (source restart, bounds exceeded): joiners wait for the next keyframe. */
  drop(): void {
    this.#packets = [];
    this.#pictures = [];
    this.#bytes = 0;
    this.#valid = false;
  }

  #add(packet: RtpPacket): void {
    const n = this.#packets.length;
    const last = this.#packets[n - 1];
    const picture = last === undefined ? 0 : this.#pictures[n - 1]! + (last.header.timestamp === packet.header.timestamp ? 0 : 1);
    this.#packets.push(packet);
    this.#pictures.push(picture);
    this.#bytes += packet.payload.length;
  }
}
