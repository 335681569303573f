import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EgressConfig, parseOrThrow } from '@corecast/api';
import { RtpHeader, RtpPacket } from 'werift';
import { coresFromQuota, workerCount } from '../src/workers/cores.ts';
import { BatchReader, type BatchRecord, BatchWriter, RECORD } from '../src/workers/protocol.ts';

/** Every record of a batch, copied out of the reader. */
function records(batch: Uint8Array): BatchRecord[] {
  const out: BatchRecord[] = [];
  const reader = new BatchReader(batch, RtpPacket);
  while (reader.next())
    out.push({ kind: reader.kind, stream: reader.stream, packet: reader.packet, keyframe: reader.keyframe, preamble: reader.preamble });
  assert.equal(reader.next(), false, 'stays at the end');
  return out;
}

const packet = (seq: number, marker: boolean, payload: number[]) =>
  new RtpPacket(
    new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0xabcdef01, payloadType: 102, marker }),
    Buffer.from(payload),
  );

describe('media batches', () => {
  it('carry packets, keyframe marks, preamble lengths and restarts of several streams, in order', () => {
    const w = new BatchWriter();
    assert.equal(w.empty, true);
    w.packet(0, 'video', packet(10, false, [0x67, 1, 2]), false, 0);
    w.packet(0, 'video', packet(11, true, [0x65, 3]), true, 1);
    w.packet(3, 'audio', packet(7, true, [9]), false, 0);
    w.restarted(0, 'video');
    const batch = w.take();
    assert.equal(w.empty, true);
    const read = records(batch);
    assert.deepEqual(
      read.map((r) => [
        r.kind,
        r.stream,
        r.keyframe,
        r.preamble,
        r.packet?.header.sequenceNumber,
        r.packet?.header.marker,
        r.packet?.payload.toString('hex'),
      ]),
      [
        [RECORD.VIDEO, 0, false, 0, 10, false, '670102'],
        [RECORD.VIDEO, 0, true, 1, 11, true, '6503'],
        [RECORD.AUDIO, 3, false, 0, 7, true, '09'],
        [RECORD.RESTART_VIDEO, 0, false, 0, undefined, undefined, undefined],
      ],
    );
    assert.equal(read[1]!.packet!.header.timestamp, 33000);
    assert.equal(read[1]!.packet!.header.ssrc, 0xabcdef01);
  });

  it('grow past their first buffer', () => {
    const w = new BatchWriter();
    for (let i = 0; i < 100; i++) w.packet(1, 'video', packet(i, false, new Array(1200).fill(i)), false, 0);
    const read = records(w.take());
    assert.equal(read.length, 100);
    assert.equal(read[99]!.packet!.payload[0], 99);
  });
});

describe('worker count', () => {
  it('reads a cgroup CPU quota, rounding up, and ignores an unlimited one', () => {
    assert.equal(coresFromQuota('200000 100000'), 2);
    assert.equal(coresFromQuota('150000 100000\n'), 2);
    assert.equal(coresFromQuota('50000 100000'), 1);
    assert.equal(coresFromQuota('max 100000'), undefined);
    assert.equal(coresFromQuota(undefined, { quota: '300000', period: '100000' }), 3);
    assert.equal(coresFromQuota(undefined, { quota: '-1', period: '100000' }), undefined);
    assert.equal(coresFromQuota(undefined), undefined);
  });

  it("is one per available core for 'auto', or the number configured", () => {
    assert.ok(workerCount('auto') >= 1);
    assert.equal(workerCount(0), 0);
    assert.equal(workerCount(3), 3);
  });

  it('is validated with the field path in the message', () => {
    const base = { streams: [{ processId: 'demo' }] };
    assert.equal(parseOrThrow(EgressConfig, base, 'cfg').media.workers, 'auto');
    assert.equal(parseOrThrow(EgressConfig, base, 'cfg').media.gopCache.maxBytes, 8 * 1024 * 1024);
    assert.throws(
      () => parseOrThrow(EgressConfig, { ...base, media: { workers: -1 } }, 'cfg'),
      /media\.workers: must be 'auto' or a whole number from 0 to 64/,
    );
    assert.throws(
      () => parseOrThrow(EgressConfig, { ...base, media: { workers: 'all' } }, 'cfg'),
      /media\.workers: must be 'auto' or a whole number from 0 to 64/,
    );
    assert.throws(
      () => parseOrThrow(EgressConfig, { ...base, media: { gopCache: { maxAgeSeconds: 61 } } }, 'cfg'),
      /media\.gopCache\.maxAgeSeconds/,
    );
  });
});
