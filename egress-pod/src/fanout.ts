/**
 * Fan-out of one stream to its viewers. Rules kept here:
 *
 * - A viewer never receives a video packet before the start of its first keyframe (a decoder
 *   fed P-frames first shows garbage and floods the source with PLIs it cannot answer —
 *   werift note 5 in egress-pod/README.md).
 * - A late joiner starts at once from the GOP cache (gop-cache.ts): the keyframe's picture
 *   goes out in one burst (that is the first frame), the rest of the GOP follows at a few
 *   times the live rate until the viewer has caught up, then it gets live packets.
 * - A keyframe request (PLI/FIR) is answered from the cache at the next picture boundary, or
 *   ignored when the viewer got a keyframe moments ago; it never reaches the source.
 * - Each viewer has its own continuous outgoing timeline: sequence number = source sequence +
 *   a per-viewer offset, so packets skipped while waiting or replayed from the cache leave no
 *   gap and no duplicate (RFC 3550 §5.1: a gap means loss to the receiver, which NACKs it).
 *
 * The shared packets are never modified; each viewer gets (packet, seq, timestamp).
 * Deliberately plain loops over plain objects: this is the per-packet hot path.
 */
import type { RtpPacket } from 'werift';
import { DEFAULT_GOP_LIMITS, GopCache, type GopLimits, type PacketParser } from './gop-cache.ts';
import type { KeyframeStart, MediaSink } from './source.ts';

/** A viewer as the fan-out sees it (a WHEP session). */
export interface Viewer {
  /** Sends one video packet with this outgoing sequence number and timestamp; `packet` is shared: read it only. */
  sendVideo(packet: RtpPacket, seq: number, timestamp: number): void;
  /** Sends one audio packet (same contract). */
  sendAudio(packet: RtpPacket, seq: number, timestamp: number): void;
}

/** The viewers of a stream as the sessions see them (a Fanout, or its stand-in when workers fan out). */
export interface ViewerSet {
  /** Viewers receiving media. */
  readonly size: number;
  /** Starts sending to a viewer. */
  add(viewer: Viewer): void;
  /** Stops sending to a viewer. */
  remove(viewer: Viewer): void;
  /** The viewer asked for a keyframe. */
  keyframeRequest(viewer: Viewer): void;
}

/** Counters the fan-out reports to (bound to one process's metric labels). */
export interface FanoutStats {
  /** `packets` packets with `bytes` payload bytes in all went out. */
  sent(kind: 'video' | 'audio', packets: number, bytes: number): void;
  /** A viewer waited `ms` for its first keyframe (no usable GOP in the cache). */
  keyframeWait(ms: number): void;
  /** `count` video packets were withheld from waiting viewers. */
  gated(count: number): void;
  /** A viewer started from the GOP cache instead of waiting. */
  cacheHit?(): void;
  /** A keyframe request (PLI/FIR) was answered from the cache (true) or ignored (false). */
  keyframeRequest?(answered: boolean): void;
}

/** How a late joiner's cached pictures are timed. */
export type CatchUpTiming = 'compress' | 'original';

/** Tuning of the fan-out (every field has a default). */
export interface FanoutOptions {
  /** Bounds of the GOP cache. */
  readonly gop?: GopLimits;
  /**
   * The GOP cache holds where its packets' bytes are instead of the packets, and parses them
   * again when read (gop-cache.ts): for packets parsed from bytes that stay as they are while
   * the cache holds them (a fan-out thread's kept packets).
   */
  readonly parse?: PacketParser;
  /** Cached packets sent to a catching-up viewer per live packet, besides the live one (default 4). */
  readonly catchUp?: number;
  /**
   * 'compress' (default): a joiner's cached pictures get timestamps one tick apart, ending at
   * the newest one, so the receiver decodes them at once and shows live pictures right away;
   * 'original': they keep their capture timestamps (the receiver may play them out in real time).
   */
  readonly timing?: CatchUpTiming;
  /** A keyframe request within this time of the viewer's last keyframe is ignored (ms, default 1000). */
  readonly requestHoldoffMs?: number;
}

/** Timestamp rewrite of the cached part of a catch-up. */
const NONE = 0;
const JOIN = 1;
const REPLAY = 2;

/** Entry.gop of a viewer that is not reading the cache. */
const LIVE = -1;

interface Entry {
  readonly viewer: Viewer;
  /** Waiting for a keyframe: no usable GOP, or the source restarted. */
  waiting: boolean;
  /** When it started waiting (ms). */
  since: number;
  /** The id of the cache's GOP being read while catching up (GopCache.id); LIVE when live. */
  gop: number;
  /** Next index of the GOP to send. */
  cursor: number;
  /** Packets of the GOP before this index get rewritten timestamps (`rewrite` says how). */
  rewriteEnd: number;
  rewrite: number;
  /** JOIN: timestamp of the newest cached picture; REPLAY: last timestamp sent before the replay. */
  tsAnchor: number;
  /** JOIN: picture index of the newest cached picture. */
  lastPicture: number;
  /** Outgoing sequence = (source sequence + seqDelta) mod 2^16. */
  seqDelta: number;
  /** Has sent any video (its timeline exists). */
  started: boolean;
  lastSeq: number;
  lastTs: number;
  /** Source timestamp of the last video packet sent (picture boundaries). */
  lastSourceTs: number;
  /** When it last got a keyframe (ms). */
  keyframeAt: number;
  /** A keyframe request waits for the next picture boundary. */
  replayPending: boolean;
}

/** The viewers of one stream. */
export class Fanout implements MediaSink, ViewerSet {
  readonly #entries = new Map<Viewer, Entry>();
  readonly #stats: FanoutStats;
  readonly #now: () => number;
  readonly #cache: GopCache;
  readonly #catchUp: number;
  readonly #timing: CatchUpTiming;
  readonly #holdoff: number;
  #sentPackets = 0;
  #sentBytes = 0;

  constructor(stats: FanoutStats, now: () => number = performance.now.bind(performance), options: FanoutOptions = {}) {
    this.#stats = stats;
    this.#now = now;
    this.#cache = new GopCache(options.gop ?? DEFAULT_GOP_LIMITS, options.parse);
    this.#catchUp = options.catchUp ?? 4;
    this.#timing = options.timing ?? 'compress';
    this.#holdoff = options.requestHoldoffMs ?? 1000;
  }

  /** Viewers receiving media. */
  get size(): number {
    return this.#entries.size;
  }

  /** The GOP cache (read-only use: metrics and tests). */
  get cache(): GopCache {
    return this.#cache;
  }

  /** Starts sending to a viewer: audio at once, video from the cached keyframe or the next one. */
  add(viewer: Viewer): void {
    const now = this.#now();
    const e: Entry = {
      viewer,
      waiting: true,
      since: now,
      gop: LIVE,
      cursor: 0,
      rewriteEnd: 0,
      rewrite: NONE,
      tsAnchor: 0,
      lastPicture: 0,
      seqDelta: 0,
      started: false,
      lastSeq: 0,
      lastTs: 0,
      lastSourceTs: -1,
      keyframeAt: now,
      replayPending: false,
    };
    this.#entries.set(viewer, e);
    if (!this.#cache.joinable(now)) return;
    e.waiting = false;
    this.#stats.cacheHit?.();
    this.#beginCatchUp(e, this.#timing === 'compress' ? JOIN : NONE, now);
    // The keyframe's whole picture at once: that is the viewer's first frame.
    this.#drain(e, this.#firstPicture() + this.#catchUp);
    this.#flush('video');
  }

  /** Stops sending to a viewer. */
  remove(viewer: Viewer): void {
    this.#entries.delete(viewer);
  }

  /** True while the viewer waits for its first keyframe. */
  waiting(viewer: Viewer): boolean {
    return this.#entries.get(viewer)?.waiting ?? false;
  }

  /** True while the viewer reads cached packets (catching up to live). */
  catchingUp(viewer: Viewer): boolean {
    const e = this.#entries.get(viewer);
    return e !== undefined && e.gop !== LIVE;
  }

  /**
   * A viewer asked for a keyframe (PLI, RFC 4585 §6.3.1; FIR, RFC 5104 §4.3.1). Answered by
   * replaying the cached GOP at the next picture boundary; ignored while a keyframe is on its
   * way to the viewer or it got one less than the hold-off ago.
   */
  keyframeRequest(viewer: Viewer): void {
    const e = this.#entries.get(viewer);
    if (!e) return;
    const now = this.#now();
    const busy = e.waiting || e.gop !== LIVE || e.replayPending || now - e.keyframeAt < this.#holdoff;
    const answered = !busy && this.#cache.valid && this.#cache.length > 0;
    if (answered) e.replayPending = true;
    this.#stats.keyframeRequest?.(answered);
  }

  video(packet: RtpPacket, keyframe: KeyframeStart | undefined): void {
    const now = this.#now();
    const cache = this.#cache;
    // `cached`: the packet is the cache's last now.
    const cached = keyframe ? cache.start([...keyframe.preamble, packet], now) : cache.append(packet, now);
    const gop = cache.id;
    const budget = 1 + this.#catchUp;
    let gated = 0;
    for (const e of this.#entries.values()) {
      if (e.waiting) {
        if (!keyframe) {
          gated++;
          continue;
        }
        e.waiting = false;
        this.#stats.keyframeWait(now - e.since);
        this.#startAtKeyframe(e, keyframe, packet, cached, now);
        continue;
      }
      if (e.gop !== LIVE) {
        if (e.gop !== gop) {
          // A new GOP began (or the cache was dropped) while this viewer caught up.
          if (keyframe) this.#startAtKeyframe(e, keyframe, packet, cached, now);
          else this.#wait(e, now);
          continue;
        }
        this.#drain(e, budget);
        continue;
      }
      if (keyframe) {
        // A live viewer gets every keyframe anyway; a pending request is answered by it.
        e.keyframeAt = now;
        e.replayPending = false;
      } else if (e.replayPending && packet.header.timestamp !== e.lastSourceTs) {
        e.replayPending = false;
        if (this.#beginReplay(e, packet, cached, now)) {
          this.#drain(e, this.#firstPicture() + budget);
          continue;
        }
      }
      this.#send(e, packet, -1);
    }
    this.#flush('video');
    if (gated > 0) this.#stats.gated(gated);
  }

  audio(packet: RtpPacket): void {
    const h = packet.header;
    for (const e of this.#entries.values()) e.viewer.sendAudio(packet, h.sequenceNumber, h.timestamp);
    const n = this.#entries.size;
    if (n > 0) this.#stats.sent('audio', n, n * packet.payload.length);
  }

  restarted(kind: 'video' | 'audio'): void {
    if (kind !== 'video') return;
    // A new encoder's pictures cannot refer to the old one's: wait for its first keyframe.
    this.#cache.drop();
    const now = this.#now();
    for (const e of this.#entries.values()) this.#wait(e, now);
  }

  /**
   * Video packets were skipped (the fan-out fell behind and shed them): pictures after the gap
   * would refer to ones nobody got, so the cache goes and every viewer waits for the next
   * keyframe; their sequence numbers stay continuous (no NACK storm for packets never sent).
   */
  skipped(): void {
    this.restarted('video');
  }

  #wait(e: Entry, now: number): void {
    e.waiting = true;
    e.since = now;
    e.gop = LIVE;
    e.replayPending = false;
  }

  /** Packets of the cached GOP's first picture (the keyframe with its preamble). */
  #firstPicture(): number {
    const cache = this.#cache;
    let first = 0;
    while (first < cache.length && cache.picture(first) === 0) first++;
    return first;
  }

  /** A keyframe arrived for a viewer that waits or catches up: preamble and keyframe now (`cached`: the cache took them). */
  #startAtKeyframe(e: Entry, keyframe: KeyframeStart, packet: RtpPacket, cached: boolean, now: number): void {
    e.keyframeAt = now;
    if (cached) {
      this.#beginCatchUp(e, NONE, now);
      this.#drain(e, this.#cache.length);
      return;
    }
    // The cache refused the GOP (bounds): send the keyframe's start directly.
    e.gop = LIVE;
    this.#continueAt(e, (keyframe.preamble[0] ?? packet).header.sequenceNumber);
    for (const p of keyframe.preamble) this.#send(e, p, -1);
    this.#send(e, packet, -1);
  }

  /** Starts reading the cached GOP from its first packet, continuing the viewer's timeline. */
  #beginCatchUp(e: Entry, rewrite: number, now: number): void {
    const cache = this.#cache;
    const last = cache.length - 1;
    e.gop = cache.id;
    e.cursor = 0;
    e.keyframeAt = now;
    e.rewrite = rewrite;
    e.rewriteEnd = rewrite === NONE ? 0 : cache.length;
    if (rewrite === JOIN) {
      e.tsAnchor = cache.timestamp(last);
      e.lastPicture = cache.picture(last);
    }
    this.#continueAt(e, cache.packet(0).header.sequenceNumber);
  }

  /**
   * Replays the cached GOP before `packet` (the first of a new picture, already appended):
   * its pictures get timestamps one tick apart right after the last one the viewer got, so
   * the receiver's jitter buffer sees newer pictures, not old ones it would drop.
   */
  #beginReplay(e: Entry, packet: RtpPacket, cached: boolean, now: number): boolean {
    const end = this.#cache.length - 1;
    if (end < 1 || !cached) return false;
    const pictures = this.#cache.picture(end - 1) + 1;
    // The replayed pictures must fit before the new picture's timestamp.
    if ((packet.header.timestamp - e.lastTs) >>> 0 <= pictures) return false;
    const anchor = e.lastTs;
    this.#beginCatchUp(e, REPLAY, now);
    e.rewriteEnd = end;
    e.tsAnchor = anchor;
    return true;
  }

  /** Sets the sequence offset so the packet numbered `first` at the source follows the last packet the viewer got. */
  #continueAt(e: Entry, first: number): void {
    if (e.started) e.seqDelta = (e.lastSeq + 1 - first) & 0xffff;
  }

  /** Sends up to `budget` packets of the cached GOP the viewer reads; live once it reached the end. */
  #drain(e: Entry, budget: number): void {
    const cache = this.#cache;
    let n = 0;
    while (n < budget && e.cursor < cache.length) {
      this.#send(e, cache.packet(e.cursor), e.cursor);
      e.cursor++;
      n++;
    }
    if (e.cursor >= cache.length) e.gop = LIVE;
  }

  /** Sends one video packet on the viewer's timeline; `index` is its place in the GOP being read (or -1). */
  #send(e: Entry, p: RtpPacket, index: number): void {
    const h = p.header;
    const seq = (h.sequenceNumber + e.seqDelta) & 0xffff;
    let ts = h.timestamp;
    if (index >= 0 && index < e.rewriteEnd) {
      const picture = this.#cache.picture(index);
      ts = e.rewrite === JOIN ? (e.tsAnchor - (e.lastPicture - picture)) >>> 0 : (e.tsAnchor + picture + 1) >>> 0;
    }
    e.viewer.sendVideo(p, seq, ts);
    e.started = true;
    e.lastSeq = seq;
    e.lastTs = ts;
    e.lastSourceTs = h.timestamp;
    this.#sentPackets++;
    this.#sentBytes += p.payload.length;
  }

  #flush(kind: 'video' | 'audio'): void {
    if (this.#sentPackets > 0) this.#stats.sent(kind, this.#sentPackets, this.#sentBytes);
    this.#sentPackets = 0;
    this.#sentBytes = 0;
  }
}
