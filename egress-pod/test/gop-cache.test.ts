import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { GopCache, type GopLimits } from '../src/gop-cache.ts';

/** One memory that packets are parsed from, as a fan-out thread's kept chunks (bytes stay as written). */
const memory = Buffer.alloc(1 << 20);
let used = 0;

/** A packet as the cache is given it: a packet object, or (bytes) parsed from its bytes in `memory`. */
function packetFor(bytes: boolean, seq: number, timestamp: number, size = 100, extra: Partial<RtpHeader> = {}): RtpPacket {
  const p = new RtpPacket(
    new RtpHeader({ sequenceNumber: seq, timestamp, ssrc: 1, payloadType: 102, ...extra }),
    Buffer.alloc(size, seq & 0xff),
  );
  if (!bytes) return p;
  const wire = p.serialize();
  const at = used;
  wire.copy(memory, at);
  used += (wire.length + 7) & ~7;
  return RtpPacket.deSerialize(memory.subarray(at, at + wire.length));
}

const seqs = (c: GopCache) => Array.from({ length: c.length }, (_, i) => c.packet(i).header.sequenceNumber);

for (const bytes of [false, true]) {
  const cacheFor = (limits: GopLimits) => new GopCache(limits, bytes ? (b) => RtpPacket.deSerialize(b) : undefined);
  const packet = (seq: number, timestamp: number, size?: number) => packetFor(bytes, seq, timestamp, size);

  describe(`GopCache (${bytes ? 'holding where the bytes are' : 'holding the packets'})`, () => {
    it('keeps the packets since the keyframe start and numbers their pictures by timestamp', () => {
      const c = cacheFor({ maxBytes: 10_000, maxAgeMs: 1000 });
      assert.equal(c.joinable(0), false, 'nothing before the first keyframe');
      assert.equal(c.start([packet(1, 3000), packet(2, 3000)], 0), true);
      c.append(packet(3, 3000), 10);
      c.append(packet(4, 6000), 20);
      c.append(packet(5, 9000), 30);
      assert.deepEqual(seqs(c), [1, 2, 3, 4, 5]);
      assert.deepEqual(
        [0, 1, 2, 3, 4].map((i) => c.picture(i)),
        [0, 0, 0, 1, 2],
      );
      assert.deepEqual(
        [0, 3, 4].map((i) => c.timestamp(i)),
        [3000, 6000, 9000],
      );
      assert.deepEqual(c.packet(4).payload, Buffer.alloc(100, 5));
      assert.equal(c.bytes, 500);
      assert.equal(c.joinable(30), true);
    });

    it('is dropped when the GOP outgrows maxBytes: a partial GOP cannot start a decoder', () => {
      const c = cacheFor({ maxBytes: 250, maxAgeMs: 1000 });
      c.start([packet(1, 0)], 0);
      assert.equal(c.append(packet(2, 0), 0), true);
      assert.equal(c.append(packet(3, 0), 0), false);
      assert.equal(c.valid, false);
      assert.equal(c.joinable(0), false);
      assert.equal(c.length, 0);
      assert.equal(c.firstBuffer, undefined);
      assert.equal(c.bytes, 0);
      assert.equal(c.append(packet(4, 0), 0), false, 'stays dropped until the next keyframe');
      assert.equal(c.start([packet(5, 1), packet(6, 1), packet(7, 1)], 1), false, 'a keyframe start larger than maxBytes is refused');
      assert.equal(c.valid, false);
      c.start([packet(8, 1)], 1);
      assert.equal(c.joinable(1), true);
    });

    it('stops offering a GOP older than maxAgeMs and frees it on the next packet', () => {
      const c = cacheFor({ maxBytes: 10_000, maxAgeMs: 1000 });
      c.start([packet(1, 0)], 0);
      assert.equal(c.joinable(1000), true);
      assert.equal(c.joinable(1001), false);
      assert.equal(c.append(packet(2, 90), 1001), false);
      assert.equal(c.valid, false);
      assert.equal(c.bytes, 0);
    });

    it('gives every new GOP, and every drop, a new id: a reader of the old one knows', () => {
      const c = cacheFor({ maxBytes: 10_000, maxAgeMs: 1000 });
      c.start([packet(1, 0)], 0);
      const first = c.id;
      c.append(packet(2, 1), 0);
      assert.equal(c.id, first, 'the same GOP');
      c.start([packet(3, 2)], 0);
      assert.notEqual(c.id, first);
      const second = c.id;
      c.drop();
      assert.notEqual(c.id, second);
      assert.deepEqual(seqs(c), []);
    });
  });
}

describe('GopCache holding where the bytes are', () => {
  const parse = (b: Buffer) => RtpPacket.deSerialize(b);

  it('parses each packet afresh from its own bytes: header (CSRCs, padding) and payload as given', () => {
    const c = new GopCache({ maxBytes: 1 << 20, maxAgeMs: 1000 }, parse);
    const given = [
      packetFor(true, 10, 90, 1200),
      packetFor(true, 11, 90, 7, { csrc: [0x01020304, 0x0a0b0c0d], csrcLength: 2 }),
      packetFor(true, 12, 180, 0, { marker: true }),
    ];
    c.start(given.slice(0, 1), 0);
    c.append(given[1]!, 0);
    c.append(given[2]!, 0);
    for (const [i, p] of given.entries()) {
      const read = c.packet(i);
      assert.notEqual(read, p, 'a new object, not the one given');
      assert.equal(c.packet(i), read, 'parsed once, then shared by every reader');
      assert.deepEqual(read.header, p.header);
      assert.deepEqual(read.payload, p.payload);
      assert.equal(read.payload.buffer, memory.buffer, 'a view of the bytes, not a copy');
    }
    assert.equal(c.firstBuffer, memory.buffer);
    const first = c.packet(0);
    c.start([packetFor(true, 20, 270)], 0);
    assert.equal(c.packet(0).header.sequenceNumber, 20, 'a new GOP: parsed afresh');
    assert.notEqual(c.packet(0), first);
  });

  it('keeps no packet object: what it was given can be collected', async () => {
    const c = new GopCache({ maxBytes: 1 << 20, maxAgeMs: 1000 }, parse);
    // Given in a scope of its own: nothing here holds it afterwards.
    const ref = ((): WeakRef<RtpPacket> => {
      const p = packetFor(true, 1, 0);
      c.start([p], 0);
      return new WeakRef(p);
    })();
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // A WeakRef's target lives to the end of the job that made or read it: collect in later ones.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(ref.deref(), undefined, 'collected: the cache held only where its bytes are');
    assert.equal(c.packet(0).header.sequenceNumber, 1);
  });
});
