/**
 * The store of kept packets (src/kept.ts): copies apart from the message they came in, chunks
 * written over only once no reader holds a packet in them and KEEP_MS have passed, a packet
 * written over known as such (no retransmission of someone else's bytes), queued sends out
 * before a chunk changes, and chunks let go when the stream needs fewer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onFlushSends } from '../src/batch-send.ts';
import { KEEP_MS, keptCopy, KeptStore } from '../src/kept.ts';

/** An RTP packet of `size` bytes in all: a 12-byte header (sequence number, timestamp, SSRC), then `fill`. */
function rtp(seq: number, timestamp: number, ssrc: number, size: number, fill: number): Buffer {
  const b = Buffer.alloc(size, fill);
  b[0] = 0x80;
  b[1] = 96;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(timestamp, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

/** A store with a clock the test moves, and chunks of 4 KiB (three 1200-byte packets each). */
function store(readers: (ArrayBufferLike | undefined)[] = []) {
  const clock = { now: 0 };
  const s = new KeptStore({ now: () => clock.now, chunkBytes: 4096 });
  s.readers(() => readers);
  return { s, clock, readers };
}

/** Keeps packets until one lands in a chunk other than `than`'s; returns them. */
function fillPast(s: KeptStore, than: Buffer, from: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = from; out.length === 0 || out.at(-1)!.buffer === than.buffer; i++) out.push(s.copy(rtp(i, i * 90, 7, 1200, i % 256)));
  return out;
}

describe('kept packets', () => {
  it('are copies, 8-byte aligned, many to a 128 KiB chunk (one mapping of its own)', () => {
    const message = Buffer.alloc(4000, 7);
    const a = keptCopy(message.subarray(100, 1300));
    const b = keptCopy(message.subarray(1300, 1313));
    message.fill(9);
    assert.deepEqual(a, Buffer.alloc(1200, 7), 'a copy, not a view of the message');
    assert.deepEqual(b, Buffer.alloc(13, 7));
    assert.notEqual(a.buffer, message.buffer);
    assert.equal(a.buffer, b.buffer, 'one chunk for many packets');
    assert.equal(a.buffer.byteLength, 128 * 1024, 'malloc’s 128 KiB mmap threshold: a mapping of its own');
    assert.equal(b.byteOffset % 8, 0);
    assert.ok(b.byteOffset >= a.byteOffset + 1200);
  });

  it('writes a full chunk over only after KEEP_MS, and then knows its old packets are gone', () => {
    const { s, clock } = store();
    const first = s.copy(rtp(1, 90, 7, 1200, 1));
    const later = fillPast(s, first, 2);
    assert.deepEqual(s.counts(), { chunks: 2, reused: 0, allocated: 2, released: 0 });

    // Before KEEP_MS: a new chunk, the first untouched.
    clock.now = KEEP_MS - 1;
    const second = fillPast(s, later.at(-1)!, 100);
    assert.equal(s.counts().allocated, 3);
    assert.equal(first.readUInt16BE(2), 1);
    assert.ok(s.intact(first.subarray(12), 12, 1, 90, 7));

    // KEEP_MS after the first chunk was filled (at 0): it is written over from its start.
    clock.now = KEEP_MS;
    const reused = fillPast(s, second.at(-1)!, 200).at(-1)!;
    assert.equal(reused.buffer, first.buffer, 'the oldest chunk again');
    assert.equal(reused.byteOffset, 0);
    assert.deepEqual(s.counts(), { chunks: 3, reused: 1, allocated: 3, released: 0 });
    assert.equal(s.intact(first.subarray(12), 12, 1, 90, 7), false, 'its old packet is known to be gone');
    const seq = reused.readUInt16BE(2);
    assert.ok(s.intact(reused.subarray(12), 12, seq, seq * 90, 7), 'the new one is intact');
    assert.ok(s.intact(Buffer.alloc(100).subarray(12), 12, 5, 5, 5), 'a buffer from elsewhere is never written over');
  });

  it('does not wait KEEP_MS while no NACK history can hold a packet (a thread without viewers)', () => {
    const { s, readers } = store();
    let viewers = 0;
    s.readers(
      () => readers,
      () => viewers > 0,
    );
    const first = s.copy(rtp(1, 90, 7, 1200, 1));
    let last = first;
    for (let i = 0; i < 10; i++) last = s.copy(rtp(2 + i, 90, 7, 1200, 1));
    assert.equal(last.buffer, first.buffer, 'nothing reads the full chunk: written over at once, from its start');
    assert.deepEqual(s.counts(), { chunks: 1, reused: 3, allocated: 1, released: 0 });
    viewers = 1;
    for (let i = 0; i < 3; i++) last = s.copy(rtp(20 + i, 90, 7, 1200, 1));
    assert.notEqual(last.buffer, first.buffer, 'with a viewer, a full chunk waits KEEP_MS');
    assert.equal(s.counts().allocated, 2);
  });

  it('keeps every chunk from the oldest one a reader holds, however old', () => {
    const readers: (ArrayBufferLike | undefined)[] = [];
    const { s, clock } = store(readers);
    const gopStart = s.copy(rtp(1, 90, 7, 1200, 1));
    readers.push(gopStart.buffer, undefined);
    let last = fillPast(s, gopStart, 2).at(-1)!;
    for (let round = 0; round < 5; round++) {
      clock.now += 10 * KEEP_MS;
      last = fillPast(s, last, 100 * (round + 1)).at(-1)!;
    }
    assert.equal(s.counts().reused, 0, 'nothing written over while the GOP’s first packet is read');
    assert.equal(gopStart.readUInt16BE(2), 1);
    assert.deepEqual(gopStart.subarray(12), Buffer.alloc(1188, 1));

    // The reader moves on to the newest chunk: the oldest is free again.
    readers[0] = last.buffer;
    clock.now += 10 * KEEP_MS;
    const next = fillPast(s, last, 1000).at(-1)!;
    assert.equal(next.buffer, gopStart.buffer);
    assert.equal(s.counts().reused, 1);
  });

  it('lets a chunk go when a second one is free and unused for 30 s (the stream needs fewer than it has)', () => {
    const { s, clock } = store();
    let last = s.copy(rtp(1, 90, 7, 1200, 1));
    for (let i = 0; i < 4; i++) last = fillPast(s, last, 10 * (i + 1)).at(-1)!;
    assert.equal(s.counts().allocated, 5);
    // Free, but used recently (a GOP frees its chunks all at once, the next needs as many): kept.
    clock.now = KEEP_MS;
    last = fillPast(s, last, 100).at(-1)!;
    assert.deepEqual(s.counts(), { chunks: 5, reused: 1, allocated: 5, released: 0 });
    clock.now += 30_000;
    fillPast(s, last, 200);
    assert.deepEqual(s.counts(), { chunks: 4, reused: 2, allocated: 5, released: 1 });
  });

  it('sends what is queued before a chunk is written over', () => {
    const { s, clock } = store();
    const first = s.copy(rtp(1, 90, 7, 1200, 0xab));
    const last = fillPast(s, first, 2).at(-1)!;
    clock.now = KEEP_MS;
    const seen: number[] = [];
    // flushSends runs its hooks (the native SRTP path's flush among them): what they send must still be there.
    onFlushSends(() => seen.push(first.readUInt16BE(2), first[500]!));
    fillPast(s, last, 100);
    assert.equal(s.counts().reused, 1);
    assert.deepEqual(seen, [1, 0xab], 'flushed while the old bytes were there');
    assert.notEqual(first.readUInt16BE(2), 1, 'then written over');
  });
});
