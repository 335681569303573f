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
 *
 * Two ways to hold the packets:
 * - as the packet objects (the default): shared with the fan-out, never copied;
 * - as where their bytes are (given a parser): for packets parsed from bytes that stay as they
 *   are while the GOP holds them — a fan-out thread's kept packets (rtc-fastpath's kept.ts, which
 *   writes a chunk over only once no GOP holds a packet in it). The GOP then keeps no object per
 *   packet, only numbers in typed arrays it reuses GOP after GOP; a packet is parsed when a reader
 *   first asks for it (a viewer catching up) and kept for the other readers until the GOP ends. Kept for a whole GOP, packet objects outlive V8's young generation and become
 *   old-generation garbage at every keyframe, collected only every few GOPs: an idle thread's
 *   heap grew by ~2 MiB over its first minute that way.
 *
 * Each GOP has an id of its own (`id`): a reader of the cache knows when a new one began or the
 * cache was dropped, and must not read the old one after that (its packets may be gone).
 */
import type { RtpPacket } from 'werift';

/** Bounds of the cache. */
export interface GopLimits {
  /** Payload bytes kept at most; a larger GOP is dropped and joiners wait for a keyframe. */
  readonly maxBytes: number;
  /** A GOP whose keyframe is older than this is not offered to joiners and is freed. */
  readonly maxAgeMs: number;
}

/** Makes a packet of its bytes (werift's `RtpPacket.deSerialize`). */
export type PacketParser = (bytes: Buffer) => RtpPacket;

/** Defaults: a 4 s GOP at 2.5 Mbps is ~1.3 MB; 8 MiB holds a 4 s GOP up to ~16 Mbps. */
export const DEFAULT_GOP_LIMITS: GopLimits = { maxBytes: 8 * 1024 * 1024, maxAgeMs: 10_000 };

/** Packets' places in typed arrays, grown by doubling and reused from one GOP to the next. */
class Places {
  /** The memory each packet is in (a few chunks for a whole GOP). */
  buffers: ArrayBufferLike[] = [];
  offsets = new Uint32Array(1024);
  lengths = new Uint32Array(1024);

  set(i: number, buffer: ArrayBufferLike, offset: number, length: number): void {
    if (i >= this.offsets.length) {
      const offsets = new Uint32Array(this.offsets.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const lengths = new Uint32Array(this.lengths.length * 2);
      lengths.set(this.lengths);
      this.lengths = lengths;
    }
    this.buffers[i] = buffer;
    this.offsets[i] = offset;
    this.lengths[i] = length;
  }

  /** Forgets the buffers past the first `n` (the numbers are written over). */
  truncate(n: number): void {
    this.buffers.length = n;
  }
}

/** The current GOP of one stream. */
export class GopCache {
  readonly #limits: GopLimits;
  readonly #parse: PacketParser | undefined;
  /** The packet objects (when there is no parser). */
  #packets: RtpPacket[] = [];
  /** Where each packet's bytes are (with a parser). */
  readonly #places = new Places();
  /**
   * With a parser, each packet once it has been read: viewers catching up read the same GOP, and
   * a hundred joiners would otherwise parse it a hundred times. Empty while nobody reads the cache
   * (an idle thread's GOP stays numbers only).
   */
  #parsed: (RtpPacket | undefined)[] = [];
  /** Per packet: how many distinct pictures (timestamps) precede it in the GOP. */
  #pictures = new Uint32Array(1024);
  /** Per packet: its RTP timestamp. */
  #timestamps = new Uint32Array(1024);
  #length = 0;
  #bytes = 0;
  #startedAt = 0;
  #valid = false;
  #id = 0;

  /** `parse`: hold the packets as where their bytes are, and parse them again when read (above). */
  constructor(limits: GopLimits = DEFAULT_GOP_LIMITS, parse?: PacketParser) {
    this.#limits = limits;
    this.#parse = parse;
  }

  /** Changes whenever a new GOP starts or the cache is dropped. */
  get id(): number {
    return this.#id;
  }

  /** Packets held (0 when there is no usable GOP). */
  get length(): number {
    return this.#length;
  }

  /** Packet `i` of the GOP (0 = the first of the keyframe's preamble). Do not mutate it. */
  packet(i: number): RtpPacket {
    const parse = this.#parse;
    if (!parse) return this.#packets[i]!;
    let packet = this.#parsed[i];
    if (packet === undefined) {
      const p = this.#places;
      packet = parse(Buffer.from(p.buffers[i]!, p.offsets[i], p.lengths[i]));
      this.#parsed[i] = packet;
    }
    return packet;
  }

  /** RTP timestamp of packet `i`. */
  timestamp(i: number): number {
    return this.#timestamps[i]!;
  }

  /** The memory the GOP's first packet is in (what keeps the rest of the GOP's chunks from being reused). */
  get firstBuffer(): ArrayBufferLike | undefined {
    if (this.#length === 0) return undefined;
    return this.#parse ? this.#places.buffers[0] : this.#packets[0]!.payload.buffer;
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
    return i < this.#length ? this.#pictures[i]! : 0;
  }

  /** A keyframe starts a new GOP with these packets (its preamble, then its first packet); false when they outgrow maxBytes. */
  start(first: readonly RtpPacket[], now: number): boolean {
    this.#clear();
    this.#startedAt = now;
    this.#valid = true;
    for (const p of first) this.#add(p);
    if (this.#bytes <= this.#limits.maxBytes) return true;
    this.drop();
    return false;
  }

  /** Appends a packet of the current GOP; false when this drops the cache (bytes or age) or there is none. */
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
    return this.#valid && this.#length > 0 && now - this.#startedAt <= this.#limits.maxAgeMs;
  }

  /** Forgets the GOP (source restart, bounds exceeded): joiners wait for the next keyframe. */
  drop(): void {
    this.#clear();
    this.#valid = false;
  }

  #clear(): void {
    // With packet objects a new array: a caller may still hold the old one (tests do).
    if (this.#parse) {
      this.#places.truncate(0);
      if (this.#parsed.length > 0) this.#parsed = [];
    } else this.#packets = [];
    this.#length = 0;
    this.#bytes = 0;
    this.#id++;
  }

  #add(packet: RtpPacket): void {
    const n = this.#length;
    const h = packet.header;
    if (n >= this.#pictures.length) {
      const pictures = new Uint32Array(this.#pictures.length * 2);
      pictures.set(this.#pictures);
      this.#pictures = pictures;
      const timestamps = new Uint32Array(this.#timestamps.length * 2);
      timestamps.set(this.#timestamps);
      this.#timestamps = timestamps;
    }
    this.#pictures[n] = n === 0 ? 0 : this.#pictures[n - 1]! + (this.#timestamps[n - 1] === h.timestamp ? 0 : 1);
    this.#timestamps[n] = h.timestamp;
    if (this.#parse) {
      // The packet as parsed: its header right before its payload, its padding right after.
      const payload = packet.payload;
      const start = payload.byteOffset - h.payloadOffset;
      this.#places.set(n, payload.buffer, start, h.payloadOffset + payload.length + h.paddingSize);
    } else {
      this.#packets.push(packet);
    }
    this.#length = n + 1;
    this.#bytes += packet.payload.length;
  }
}
