/**
 * The fan-out with the real Source in front of it, fed synthetic H.264 RTP: late joiners start
 * from the GOP cache, keyframe requests are answered from it, and every viewer's outgoing
 * timeline stays gap-free and starts with a keyframe.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { Fanout, type FanoutOptions, type Viewer } from '../src/fanout.ts';
import { inspectH264 } from '../src/rtp/h264.ts';
import { type MediaSink, Source } from '../src/source.ts';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1f]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
const fu = (type: number, start: boolean, end: boolean) => Buffer.from([0x7c, (start ? 0x80 : 0) | (end ? 0x40 : 0) | type, 0xaa, 0xbb]);
const TICKS = 3000; // 30 fps at 90 kHz

interface Sent {
  readonly source: number;
  readonly seq: number;
  readonly ts: number;
  readonly payload: Buffer;
}

/** A viewer recording what it was sent. */
function recorder() {
  const video: Sent[] = [];
  const audio: Sent[] = [];
  const v: Viewer = {
    sendVideo: (p, seq, ts) => video.push({ source: p.header.sequenceNumber, seq, ts, payload: p.payload }),
    sendAudio: (p, seq, ts) => audio.push({ source: p.header.sequenceNumber, seq, ts, payload: p.payload }),
  };
  return { v, video, audio };
}

/** Memory that packets are parsed from, as a fan-out thread's kept chunks (bytes stay as written). */
const memory = Buffer.alloc(8 << 20);
let used = 0;

/** The packet as a fan-out thread has it: its bytes as sent by the main thread, parsed from a kept copy. */
function kept(p: RtpPacket): RtpPacket {
  const wire = p.serialize();
  if (used + wire.length > memory.length) used = 0;
  const at = used;
  wire.copy(memory, at);
  used += (wire.length + 7) & ~7;
  return RtpPacket.deSerialize(memory.subarray(at, at + wire.length));
}

/**
 * A source of 3-packet keyframe pictures (SPS+PPS, IDR in two FU-A) and 2-packet P pictures.
 * `bytes`: the fan-out as a fan-out thread runs it — every packet parsed from bytes of its own,
 * and a GOP cache that holds where they are (gop-cache.ts).
 */
function rigFor(options: FanoutOptions = {}, gop = 10, bytes = false) {
  const clock = { now: 0 };
  const stats = { hits: 0, waits: 0, gated: 0, answered: 0, ignored: 0, sent: 0 };
  const fanout = new Fanout(
    {
      sent: (_k, n) => {
        stats.sent += n;
      },
      keyframeWait: () => {
        stats.waits++;
      },
      gated: (n) => {
        stats.gated += n;
      },
      cacheHit: () => {
        stats.hits++;
      },
      keyframeRequest: (answered) => {
        if (answered) stats.answered++;
        else stats.ignored++;
      },
    },
    () => clock.now,
    bytes ? { ...options, parse: (b) => RtpPacket.deSerialize(b) } : options,
  );
  const sink: MediaSink = bytes
    ? {
        video: (p, keyframe) => fanout.video(kept(p), keyframe ? { preamble: keyframe.preamble.map(kept) } : undefined),
        audio: (p) => fanout.audio(kept(p)),
        restarted: (kind) => fanout.restarted(kind),
      }
    : fanout;
  const source = new Source(
    sink,
    { state: () => {}, injected: () => {}, unusableKeyframe: () => {} },
    { timeoutMs: 1e9, graceMs: 1e9 },
    () => clock.now,
  );
  let seq = 1000;
  let ts = 90000;
  let frame = 0;
  let ssrc = 7;
  const push = (payload: Buffer, marker: boolean) =>
    source.pushVideo(
      new RtpPacket(new RtpHeader({ sequenceNumber: seq++ & 0xffff, timestamp: ts, ssrc, payloadType: 102, marker }), payload),
    );
  /** Sends `n` pictures (a keyframe every `gop` pictures) and one audio packet per picture. */
  const pictures = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (frame % gop === 0) {
        push(SPS, false);
        push(PPS, false);
        push(fu(5, true, false), false);
        push(fu(5, false, true), true);
      } else {
        push(fu(1, true, false), false);
        push(fu(1, false, true), true);
      }
      source.pushAudio(
        new RtpPacket(
          new RtpHeader({ sequenceNumber: frame & 0xffff, timestamp: frame * 960, ssrc: 9, payloadType: 111 }),
          Buffer.from([1]),
        ),
      );
      frame++;
      ts += TICKS;
      clock.now += 33;
    }
  };
  /** The encoder restarts: new SSRC, new sequence and timestamp bases, a keyframe first. */
  const restartEncoder = () => {
    ssrc++;
    seq = 40000;
    ts = 12345;
    frame = 0;
  };
  return { fanout, stats, clock, pictures, restartEncoder };
}

/** What every viewer's video must look like, whatever happened. */
function assertTimeline(video: readonly Sent[]): void {
  assert.ok(video.length > 0, 'the viewer got video');
  const first = inspectH264(video[0]!.payload);
  assert.ok(first.sps.length > 0 || first.idrStart, 'the first video packet starts a keyframe');
  for (let i = 1; i < video.length; i++) {
    assert.equal(video[i]!.seq, (video[i - 1]!.seq + 1) & 0xffff, `no gap or duplicate at packet ${i}`);
    const dt = (video[i]!.ts - video[i - 1]!.ts) >>> 0;
    assert.ok(dt < 0x80000000, `timestamps never go back (packet ${i})`);
  }
}

for (const bytes of [false, true]) {
  describe(`Fanout with the GOP cache (${bytes ? 'holding where kept packets are' : 'holding the packets'})`, () => {
    const rig = (options: FanoutOptions = {}, gop = 10) => rigFor(options, gop, bytes);
    it('starts a viewer joining mid-GOP at the cached keyframe, sends its picture at once, catches up, then goes live', () => {
      const { fanout, stats, pictures } = rig({ catchUp: 2 }, 20);
      pictures(6); // keyframe (4 packets) + 5 P pictures (10 packets) cached
      const a = recorder();
      fanout.add(a.v);
      assert.equal(stats.hits, 1);
      assert.equal(stats.waits, 0);
      assert.deepEqual(
        a.video.map((s) => s.source),
        [1000, 1001, 1002, 1003, 1004, 1005],
        'the keyframe picture (SPS, PPS, IDR) plus two more at once',
      );
      assert.equal(fanout.catchingUp(a.v), true);
      pictures(6); // 12 live packets: 3 sent per packet received while catching up
      assert.equal(fanout.catchingUp(a.v), false);
      assert.equal(a.video.length, 14 + 12, 'every packet of the GOP, once');
      assert.deepEqual(
        a.video.map((s) => s.source),
        Array.from({ length: 26 }, (_, i) => 1000 + i),
      );
      assertTimeline(a.video);
      assert.ok(a.audio.length === 6, 'audio flows at once');
    });

    it("compresses the cached pictures' timestamps to end at the newest one; the newest and live pictures keep theirs", () => {
      const { fanout, pictures } = rig({ catchUp: 100 });
      pictures(4);
      const a = recorder();
      fanout.add(a.v);
      pictures(1);
      const newest = 90000 + 3 * TICKS;
      assert.deepEqual(
        a.video.map((s) => s.ts),
        [
          newest - 3,
          newest - 3,
          newest - 3,
          newest - 3,
          newest - 2,
          newest - 2,
          newest - 1,
          newest - 1,
          newest,
          newest,
          newest + TICKS,
          newest + TICKS,
        ],
      );
      assertTimeline(a.video);
    });

    it("keeps the cached pictures' capture timestamps with timing 'original'", () => {
      const { fanout, pictures } = rig({ catchUp: 100, timing: 'original' });
      pictures(3);
      const a = recorder();
      fanout.add(a.v);
      assert.deepEqual([...new Set(a.video.map((s) => s.ts))], [90000, 90000 + TICKS, 90000 + 2 * TICKS]);
    });

    it('makes a viewer that comes before any keyframe wait, with audio only, and starts it at the keyframe', () => {
      const { fanout, stats, pictures } = rig({}, 5);
      const a = recorder();
      fanout.add(a.v);
      assert.equal(fanout.waiting(a.v), true, 'nothing cached to start from');
      pictures(1);
      assert.equal(fanout.waiting(a.v), false);
      assert.equal(stats.waits, 1, 'the first keyframe is the one it waited for');
      assert.equal(stats.hits, 0);
      assertTimeline(a.video);
    });

    it('ignores a keyframe request during the hold-off and answers one after it by replaying the GOP with newer timestamps', () => {
      const { fanout, stats, pictures, clock } = rig({ catchUp: 100, requestHoldoffMs: 500 });
      pictures(1);
      const a = recorder();
      fanout.add(a.v);
      pictures(3);
      fanout.keyframeRequest(a.v);
      assert.deepEqual([stats.answered, stats.ignored], [0, 1], 'it got its keyframe 100 ms ago');
      clock.now += 1000;
      const before = a.video.length;
      const lastTs = a.video.at(-1)!.ts;
      fanout.keyframeRequest(a.v);
      assert.deepEqual([stats.answered, stats.ignored], [1, 1]);
      pictures(1);
      const replay = a.video.slice(before);
      assert.deepEqual(
        replay.map((s) => s.source),
        [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011],
        'the cached GOP again, then the new picture',
      );
      assert.deepEqual(
        replay.map((s) => s.ts),
        [
          lastTs + 1,
          lastTs + 1,
          lastTs + 1,
          lastTs + 1,
          lastTs + 2,
          lastTs + 2,
          lastTs + 3,
          lastTs + 3,
          lastTs + 4,
          lastTs + 4,
          lastTs + TICKS,
          lastTs + TICKS,
        ],
      );
      assertTimeline(a.video);
    });

    it('drops the cache on a source restart, makes viewers wait, and resumes them at the new keyframe without a sequence gap', () => {
      const { fanout, stats, pictures, restartEncoder } = rig({ catchUp: 100 }, 4);
      pictures(2);
      const a = recorder();
      fanout.add(a.v);
      pictures(1);
      restartEncoder();
      pictures(0);
      fanout.restarted('video');
      assert.equal(fanout.cache.valid, false);
      assert.equal(fanout.waiting(a.v), true);
      const late = recorder();
      fanout.add(late.v);
      assert.equal(fanout.waiting(late.v), true, 'nothing cached to start from');
      pictures(3);
      assert.equal(fanout.waiting(a.v), false);
      assertTimeline(a.video);
      assertTimeline(late.video);
      assert.equal(stats.hits, 1);
      assert.equal(stats.waits, 2);
    });

    it('moves a viewer still catching up to a new keyframe, without a gap', () => {
      const { fanout, pictures } = rig({ catchUp: 0 }, 4);
      pictures(3);
      const a = recorder();
      fanout.add(a.v);
      pictures(2); // the second picture is the next keyframe; the viewer is still behind
      assert.equal(a.video.filter((s) => inspectH264(s.payload).sps.length > 0).length, 2, 'it got both keyframes');
      assertTimeline(a.video);
    });

    it('makes every viewer wait for the next keyframe after packets were skipped, without a sequence gap', () => {
      const { fanout, pictures } = rig({ catchUp: 100 }, 4);
      pictures(2);
      const a = recorder();
      fanout.add(a.v);
      fanout.skipped();
      assert.equal(fanout.waiting(a.v), true);
      assert.equal(fanout.cache.valid, false);
      pictures(3); // two P pictures withheld, then a keyframe
      assert.equal(fanout.waiting(a.v), false);
      assertTimeline(a.video);
    });

    it('makes a viewer catching up wait when the cache is dropped (GOP over maxBytes)', () => {
      const { fanout, pictures } = rig({ catchUp: 0, gop: { maxBytes: 40, maxAgeMs: 10_000 } }, 8);
      pictures(3);
      const a = recorder();
      fanout.add(a.v);
      pictures(5); // the cache outgrows 40 bytes
      assert.equal(fanout.waiting(a.v), true);
      pictures(1); // next keyframe
      assert.equal(fanout.waiting(a.v), false);
      assertTimeline(a.video);
    });
  });
}
