import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { inspectH264, stapA } from '../src/rtp/h264.ts';
import { type KeyframeStart, type MediaSink, Source, type SourceState } from '../src/source.ts';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1f]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
const IDR = Buffer.from([0x65, 0x88, 0x84]);
const IDR_FU_START = Buffer.from([0x7c, 0x85, 0xaa]);
const IDR_FU_END = Buffer.from([0x7c, 0x45, 0xbb]);
const P = Buffer.from([0x41, 0x9a, 0x02]);

function packet(seq: number, timestamp: number, payload: Buffer, ssrc = 1): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp, ssrc, payloadType: 102 }), payload);
}

/** A sink recording what the source emits. */
function recorder() {
  const video: { seq: number; payload: Buffer; keyframe: KeyframeStart | undefined }[] = [];
  const restarts: string[] = [];
  const sink: MediaSink = {
    video: (p, keyframe) => video.push({ seq: p.header.sequenceNumber, payload: p.payload, keyframe }),
    audio: () => {},
    restarted: (kind) => restarts.push(kind),
  };
  return { video, restarts, sink };
}

function source(sink: MediaSink, clock = { now: 0 }) {
  const states: SourceState[] = [];
  const counts = { injected: 0, unusable: 0 };
  const s = new Source(
    sink,
    { state: (st) => states.push(st), injected: () => counts.injected++, unusableKeyframe: () => counts.unusable++ },
    { timeoutMs: 1000, graceMs: 5000 },
    () => clock.now,
  );
  return { s, states, counts, clock };
}

describe('Source', () => {
  it('marks the IDR start of a picture with SPS/PPS as a keyframe, with the parameter sets as its preamble', () => {
    const r = recorder();
    const { s, counts } = source(r.sink);
    s.pushVideo(packet(1, 3000, SPS));
    s.pushVideo(packet(2, 3000, PPS));
    s.pushVideo(packet(3, 3000, IDR_FU_START));
    s.pushVideo(packet(4, 3000, IDR_FU_END));
    s.pushVideo(packet(5, 6000, P));
    assert.deepEqual(
      r.video.map((v) => [v.seq, v.keyframe?.preamble.map((p) => p.header.sequenceNumber)]),
      [
        [1, undefined],
        [2, undefined],
        [3, [1, 2]],
        [4, undefined],
        [5, undefined],
      ],
    );
    assert.equal(counts.injected, 0);
  });

  it('puts the last SPS/PPS in front of a keyframe that lacks them, in a STAP-A with a sequence number of its own', () => {
    const r = recorder();
    const { s, counts } = source(r.sink);
    s.pushVideo(packet(1, 3000, stapA([SPS, PPS])));
    s.pushVideo(packet(2, 3000, IDR));
    s.pushVideo(packet(3, 6000, P));
    s.pushVideo(packet(4, 9000, IDR)); // a keyframe without parameter sets
    s.pushVideo(packet(5, 12000, P));
    assert.deepEqual(
      r.video.map((v) => v.seq),
      [1, 2, 3, 4, 5, 6],
    );
    const injected = r.video[3]!;
    assert.deepEqual(inspectH264(injected.payload).sps, [SPS]);
    assert.deepEqual(inspectH264(injected.payload).pps, [PPS]);
    assert.ok(injected.keyframe, 'waiting viewers start at the injected packet');
    assert.equal(r.video[4]!.keyframe, undefined);
    assert.equal(counts.injected, 1);
  });

  it('cannot start anyone at a keyframe when no SPS/PPS was ever seen', () => {
    const r = recorder();
    const { s, counts } = source(r.sink);
    s.pushVideo(packet(1, 3000, IDR));
    assert.equal(r.video[0]!.keyframe, undefined);
    assert.equal(counts.unusable, 1);
  });

  it('reports a restart and keeps the output sequence continuous', () => {
    const r = recorder();
    const { s } = source(r.sink);
    s.pushVideo(packet(100, 3000, P));
    s.pushVideo(packet(9, 77, SPS, 2));
    assert.deepEqual(r.restarts, ['video']);
    assert.deepEqual(
      r.video.map((v) => v.seq),
      [100, 101],
    );
  });

  it('goes up with the first packet, down after the timeout or a BYE, gone after the grace period', () => {
    const r = recorder();
    const { s, states, clock } = source(r.sink);
    assert.equal(s.state, 'waiting');
    s.pushVideo(packet(1, 0, P));
    clock.now = 900;
    s.check();
    assert.equal(s.state, 'up');
    clock.now = 1100;
    s.check();
    assert.equal(s.state, 'down');
    clock.now = 6000;
    s.check();
    assert.equal(s.state, 'down');
    clock.now = 6200;
    s.check();
    assert.equal(s.state, 'gone');
    s.pushVideo(packet(2, 0, P));
    s.bye();
    assert.deepEqual(states, ['up', 'down', 'gone', 'up', 'down']);
  });
});
