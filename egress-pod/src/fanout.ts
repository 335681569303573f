/**
 * Fan-out of one stream to its viewers. The one rule kept here: a viewer never receives a
 * video packet before the start of its first keyframe (a decoder fed P-frames first shows
 * garbage and floods the source with PLIs it cannot answer — WERIFT-NOTES pitfall 5).
 * Deliberately a plain loop over plain objects: this is the per-packet hot path.
 */
import type { RtpPacket } from 'werift';
import type { KeyframeStart, MediaSink } from './source.ts';

/** A viewer as the fan-out sees it (a WHEP session). */
export interface Viewer {
  /** Sends one video packet (the callee copies it). */
  sendVideo(packet: RtpPacket): void;
  /** Sends one audio packet (the callee copies it). */
  sendAudio(packet: RtpPacket): void;
}

/** Counters the fan-out reports to (bound to one process's metric labels). */
export interface FanoutStats {
  /** `packets` packets with `bytes` payload bytes in all went out. */
  sent(kind: 'video' | 'audio', packets: number, bytes: number): void;
  /** A viewer waited `ms` for its first keyframe. */
  keyframeWait(ms: number): void;
  /** `count` video packets were withheld from waiting viewers. */
  gated(count: number): void;
}

interface Entry {
  readonly viewer: Viewer;
  /** Waiting for a keyframe before any video. */
  waiting: boolean;
  /** When it started waiting (ms). */
  since: number;
}

/** The viewers of one stream. */
export class Fanout implements MediaSink {
  readonly #entries = new Map<Viewer, Entry>();
  readonly #stats: FanoutStats;
  readonly #now: () => number;

  constructor(stats: FanoutStats, now: () => number = performance.now.bind(performance)) {
    this.#stats = stats;
    this.#now = now;
  }

  /** Viewers receiving media. */
  get size(): number {
    return this.#entries.size;
  }

  /** Starts sending to a viewer: audio at once, video from the next keyframe. */
  add(viewer: Viewer): void {
    this.#entries.set(viewer, { viewer, waiting: true, since: this.#now() });
  }

  /** Stops sending to a viewer. */
  remove(viewer: Viewer): void {
    this.#entries.delete(viewer);
  }

  /** True while the viewer waits for its first keyframe. */
  waiting(viewer: Viewer): boolean {
    return this.#entries.get(viewer)?.waiting ?? false;
  }

  video(packet: RtpPacket, keyframe: KeyframeStart | undefined): void {
    let sent = 0;
    let gated = 0;
    for (const entry of this.#entries.values()) {
      if (entry.waiting) {
        if (!keyframe) {
          gated++;
          continue;
        }
        entry.waiting = false;
        this.#stats.keyframeWait(this.#now() - entry.since);
        let bytes = 0;
        for (const early of keyframe.preamble) {
          entry.viewer.sendVideo(early);
          bytes += early.payload.length;
        }
        this.#stats.sent('video', keyframe.preamble.length, bytes);
      }
      entry.viewer.sendVideo(packet);
      sent++;
    }
    if (sent > 0) this.#stats.sent('video', sent, sent * packet.payload.length);
    if (gated > 0) this.#stats.gated(gated);
  }

  audio(packet: RtpPacket): void {
    for (const entry of this.#entries.values()) entry.viewer.sendAudio(packet);
    const n = this.#entries.size;
    if (n > 0) this.#stats.sent('audio', n, n * packet.payload.length);
  }

  restarted(kind: 'video' | 'audio'): void {
    if (kind !== 'video') return;
    // A new encoder's pictures cannot refer to the old one's: wait for its first keyframe.
    const now = this.#now();
    for (const entry of this.#entries.values()) {
      entry.waiting = true;
      entry.since = now;
    }
  }
}
