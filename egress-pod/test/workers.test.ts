import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EgressConfig, parseOrThrow } from '@corecast/api';
import { RtpHeader, RtpPacket } from 'werift';
import { makeRing, RingReader, RingWriter } from '../src/workers/batch-ring.ts';
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

describe('batch ring', () => {
  const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

  it('hands batches over in shared memory, in order, and takes them back once the thread is done', () => {
    const ring = makeRing(1024);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    const a = writer.write(bytes(300, 1))!;
    const b = writer.write(bytes(300, 2))!;
    assert.deepEqual([a, b], [0, 300]);
    assert.deepEqual(reader.batch(a, 300), bytes(300, 1));
    assert.deepEqual(reader.batch(b, 300), bytes(300, 2));
    assert.equal(reader.batch(a, 300).buffer, ring.data, 'read where it was written, not copied');
    assert.equal(writer.write(bytes(500, 3)), undefined, 'no room: 600 of 1024 bytes still being read');
    reader.done(a + 300);
    const c = writer.write(bytes(400, 3))!;
    assert.equal(c, 600);
    // 200 bytes do not fit before the end (24 left): written from the start, the tail skipped.
    const d = writer.write(bytes(200, 4))!;
    assert.equal(d, 1024);
    assert.deepEqual(reader.batch(d, 200), bytes(200, 4));
    assert.equal(writer.write(bytes(200, 5)), undefined, 'would write over the unread batch b');
    assert.deepEqual(reader.batch(b, 300), bytes(300, 2), 'the unread batch is as written');
    reader.done(b + 300);
    const e = writer.write(bytes(200, 5))!;
    assert.equal(e, 1224);
    assert.deepEqual(reader.batch(c, 400), bytes(400, 3), 'an unread batch is never written over');
    assert.deepEqual(reader.batch(e, 200), bytes(200, 5));
    reader.done(e + 200);
    assert.equal(writer.write(bytes(2000, 6)), undefined, 'a batch larger than the ring goes as a copy');
    assert.equal(writer.write(bytes(1024, 7)), 2048, 'all of it free again (the 624-byte tail skipped)');
  });

  it('counts on past 2^32 bytes', () => {
    const size = 2 ** 16;
    const ring = makeRing(size);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    const batch = new Uint8Array(size - 1);
    let last = 0;
    // 65,540 batches of 65,535 bytes: the counts wrap past 2^32 once.
    for (let i = 0; i < 65_540; i++) {
      batch[0] = i & 0xff;
      batch[size - 2] = (i >> 8) & 0xff;
      const start = writer.write(batch);
      assert.notEqual(start, undefined, `batch ${i}`);
      const read = reader.batch(start!, size - 1);
      if (read[0] !== (i & 0xff) || read[size - 2] !== ((i >> 8) & 0xff)) assert.fail(`batch ${i} read back wrong`);
      if (start! < last) assert.ok(i > 65_530, 'wrapped once, near the end');
      last = start!;
      reader.done((start! + size - 1) >>> 0);
    }
    assert.ok(last < 2 ** 16 * 5, `the count wrapped (${last})`);
  });

  it('has a size that is a power of two', () => {
    assert.throws(() => makeRing(1000), /power of two/);
  });
});
