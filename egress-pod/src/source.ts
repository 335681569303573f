/**
 * One stream's source, after ingest checks: rewrites every packet onto a continuous outgoing
 * timeline, finds where a decoder can start (keyframes, with SPS/PPS put in front when missing,
 * README.md, "The FFmpeg command"), and tracks whether the source is up, down, or gone for good.
 */
// werift's packet classes without the rest of werift (the main thread of a pod with workers).
import { RtpHeader, RtpPacket } from '@corecast/rtc-fastpath/rtp-packet';
import { inspectH264, stapA } from './rtp/h264.ts';
import { Timeline } from './rtp/timeline.ts';

/** Packets that start a decodable keyframe: earlier packets of the same picture to send first. */
export interface KeyframeStart {
  /**
   * Packets of this access unit already sent to playing viewers (SPS, PPS, SEI …): at most
   * the last 16, always the video packets sent right before the keyframe start.
   */
  readonly preamble: readonly RtpPacket[];
}

/** Where the source's packets go (the fan-out). */
export interface MediaSink {
  /** A video packet; `keyframe` is set on the first packet of a picture a decoder can start from. */
  video(packet: RtpPacket, keyframe: KeyframeStart | undefined): void;
  /** An audio packet. */
  audio(packet: RtpPacket): void;
  /** The source restarted (new SSRC); video viewers must wait for a keyframe again. */
  restarted(kind: 'video' | 'audio'): void;
}

/** What the source tells the rest of the pod. */
export interface SourceEvents {
  /** Source state changed. */
  state(state: SourceState): void;
  /** A keyframe lacked SPS/PPS and they were injected. */
  injected(): void;
  /** A keyframe arrived before any SPS/PPS was known: nobody can start from it. */
  unusableKeyframe(): void;
}

/** waiting: nothing received yet; up: RTP flowing; down: stopped, sessions kept; gone: grace over. */
export type SourceState = 'waiting' | 'up' | 'down' | 'gone';

/** Liveness settings in milliseconds. */
export interface SourceTiming {
  /** No video for this long: down. */
  readonly timeoutMs: number;
  /** Down for this long: gone (sessions are closed). */
  readonly graceMs: number;
}

/** Longest run of packets kept as one picture's preamble (a few parameter sets and SEIs). */
const MAX_PREAMBLE = 16;

/** The state of one stream's source. */
export class Source {
  readonly #sink: MediaSink;
  readonly #events: SourceEvents;
  readonly #timing: SourceTiming;
  readonly #now: () => number;
  readonly #video: Timeline;
  readonly #audio: Timeline;
  #state: SourceState = 'waiting';
  #lastVideoAt = 0;
  #downSince = 0;
  #sps: Buffer | undefined;
  #pps: Buffer | undefined;
  /** The access unit (picture) being received: its timestamp and what it carried so far. */
  #au = { timestamp: -1, sps: false, pps: false, started: false, preamble: [] as RtpPacket[] };
  #timer: NodeJS.Timeout | undefined;

  constructor(sink: MediaSink, events: SourceEvents, timing: SourceTiming, now: () => number = performance.now.bind(performance)) {
    this.#sink = sink;
    this.#events = events;
    this.#timing = timing;
    this.#now = now;
    this.#video = new Timeline(90000, now);
    this.#audio = new Timeline(48000, now);
  }

  /** Current state. */
  get state(): SourceState {
    return this.#state;
  }

  /** Starts the liveness clock. */
  start(): void {
    const tick = Math.max(50, Math.min(this.#timing.timeoutMs, 1000) / 4);
    this.#timer = setInterval(() => this.check(), tick);
    this.#timer.unref();
  }

  /** Stops the liveness clock. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Re-evaluates liveness (called by the clock; public for tests). */
  check(): void {
    const now = this.#now();
    if (this.#state === 'up' && now - this.#lastVideoAt > this.#timing.timeoutMs) this.#down(now);
    else if (this.#state === 'down' && now - this.#downSince >= this.#timing.graceMs) this.#setState('gone');
  }

  /** The source said goodbye (RTCP BYE): it is down now, not after the timeout. */
  bye(): void {
    if (this.#state === 'up') this.#down(this.#now());
  }

  /** One checked video packet. */
  pushVideo(packet: RtpPacket): void {
    this.#lastVideoAt = this.#now();
    if (this.#state !== 'up') this.#setState('up');
    const h = packet.header;
    const mapped = this.#video.map(h.ssrc, h.sequenceNumber, h.timestamp);
    if (mapped.restarted) {
      this.#au.timestamp = -1;
      this.#sink.restarted('video');
    }
    if (h.timestamp !== this.#au.timestamp) {
      this.#au = { timestamp: h.timestamp, sps: false, pps: false, started: false, preamble: [] };
    }
    const info = inspectH264(packet.payload);
    if (info.sps.length > 0) {
      this.#sps = Buffer.from(info.sps.at(-1)!);
      this.#au.sps = true;
    }
    if (info.pps.length > 0) {
      this.#pps = Buffer.from(info.pps.at(-1)!);
      this.#au.pps = true;
    }
    h.sequenceNumber = mapped.seq;
    h.timestamp = mapped.timestamp;
    let keyframe: KeyframeStart | undefined;
    if (info.idrStart && !this.#au.started) {
      this.#au.started = true;
      keyframe = this.#startKeyframe(packet, mapped);
    }
    if (keyframe === undefined && !this.#au.started) {
      // The last few packets before the keyframe start: always the ones right before it.
      this.#au.preamble.push(packet);
      if (this.#au.preamble.length > MAX_PREAMBLE) this.#au.preamble.shift();
    }
    this.#sink.video(packet, keyframe);
  }

  /** One checked audio packet. */
  pushAudio(packet: RtpPacket): void {
    const h = packet.header;
    const mapped = this.#audio.map(h.ssrc, h.sequenceNumber, h.timestamp);
    if (mapped.restarted) this.#sink.restarted('audio');
    h.sequenceNumber = mapped.seq;
    h.timestamp = mapped.timestamp;
    this.#sink.audio(packet);
  }

  /**
   * The first packet of an IDR picture. A decoder needs SPS and PPS before it; when this
   * picture did not carry them, the last ones seen are sent first in one STAP-A (RFC 6184
   * §5.7.1) with the picture's timestamp, taking a sequence number of its own.
   */
  #startKeyframe(packet: RtpPacket, mapped: { seq: number; timestamp: number; restarted: boolean }): KeyframeStart | undefined {
    const missing: Buffer[] = [];
    if (!this.#au.sps) {
      if (!this.#sps) return this.#unusable();
      missing.push(this.#sps);
    }
    if (!this.#au.pps) {
      if (!this.#pps) return this.#unusable();
      missing.push(this.#pps);
    }
    const preamble = [...this.#au.preamble];
    if (missing.length > 0) {
      const seq = this.#video.insertBefore(mapped);
      const header = new RtpHeader({
        payloadType: packet.header.payloadType,
        sequenceNumber: seq,
        timestamp: mapped.timestamp,
        ssrc: packet.header.ssrc,
        marker: false,
      });
      const injected = new RtpPacket(header, stapA(missing));
      packet.header.sequenceNumber = mapped.seq;
      this.#events.injected();
      // Waiting viewers start at the injected packet; playing ones get it as a plain packet.
      this.#sink.video(injected, { preamble });
      return undefined;
    }
    return { preamble };
  }

  #unusable(): undefined {
    this.#events.unusableKeyframe();
    return undefined;
  }

  #down(now: number): void {
    this.#downSince = now;
    this.#setState('down');
  }

  #setState(state: SourceState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#events.state(state);
  }
}
