import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { GopCache } from '../src/gop-cache.ts';

function packet(seq: number, timestamp: number, bytes = 100): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp, ssrc: 1, payloadType: 102 }), Buffer.alloc(bytes, 0x41));
}

describe('GopCache', () => {
  it('keeps the packets since the keyframe start and numbers their pictures by timestamp', () => {
    const c = new GopCache({ maxBytes: 10_000, maxAgeMs: 1000 });
    assert.equal(c.joinable(0), false, 'nothing before the first keyframe');
    c.start([packet(1, 3000), packet(2, 3000)], 0);
    c.append(packet(3, 3000), 10);
    c.append(packet(4, 6000), 20);
    c.append(packet(5, 9000), 30);
    assert.deepEqual(
      c.packets.map((p) => p.header.sequenceNumber),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => c.picture(i)),
      [0, 0, 0, 1, 2],
    );
    assert.equal(c.bytes, 500);
    assert.equal(c.joinable(30), true);
  });

  it('is dropped when the GOP outgrows maxBytes: a partial GOP cannot start a decoder', () => {
    const c = new GopCache({ maxBytes: 250, maxAgeMs: 1000 });
    c.start([packet(1, 0)], 0);
    assert.equal(c.append(packet(2, 0), 0), true);
    assert.equal(c.append(packet(3, 0), 0), false);
    assert.equal(c.valid, false);
    assert.equal(c.joinable(0), false);
    assert.deepEqual([...c.packets], []);
    assert.equal(c.bytes, 0);
    assert.equal(c.append(packet(4, 0), 0), false, 'stays dropped until the next keyframe');
    c.start([packet(5, 1)], 1);
    assert.equal(c.joinable(1), true);
  });

  it('stops offering a GOP older than maxAgeMs and frees it on the next packet', () => {
    const c = new GopCache({ maxBytes: 10_000, maxAgeMs: 1000 });
    c.start([packet(1, 0)], 0);
    assert.equal(c.joinable(1000), true);
    assert.equal(c.joinable(1001), false);
    assert.equal(c.append(packet(2, 90), 1001), false);
    assert.equal(c.valid, false);
    assert.equal(c.bytes, 0);
  });

  it('gives every new GOP a new array, so a reader of the old one keeps a consistent view', () => {
    const c = new GopCache({ maxBytes: 10_000, maxAgeMs: 1000 });
    c.start([packet(1, 0)], 0);
    const old = c.packets;
    c.append(packet(2, 1), 0);
    c.start([packet(3, 2)], 0);
    assert.notEqual(c.packets, old);
    assert.deepEqual(
      old.map((p) => p.header.sequenceNumber),
      [1, 2],
    );
  });
});
