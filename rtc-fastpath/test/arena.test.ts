import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { keptCopy, packetBuffer, recycleArena, sendingOn } from '../src/arena.ts';

describe('packet arena', () => {
  it('hands out 8-byte aligned buffers that do not overlap', () => {
    recycleArena();
    const a = packetBuffer(13);
    const b = packetBuffer(1200);
    assert.equal(a.byteOffset % 8, 0);
    assert.equal(b.byteOffset % 8, 0);
    assert.equal(a.buffer, b.buffer);
    assert.ok(b.byteOffset >= a.byteOffset + 13);
  });

  it('reuses its slab once the sockets sent on have nothing queued, and takes a new one when a send is still queued', () => {
    const socket = createSocket('udp4');
    try {
      recycleArena();
      const first = packetBuffer(100);
      sendingOn(socket);
      recycleArena();
      const again = packetBuffer(100);
      assert.equal(again.buffer, first.buffer, 'same slab');
      assert.equal(again.byteOffset, first.byteOffset, 'from its start');

      // A socket whose send is still in libuv's queue (the kernel buffer was full): its packet must survive.
      const busy = { getSendQueueCount: () => 1 } as unknown as Socket;
      sendingOn(busy);
      recycleArena();
      assert.notEqual(packetBuffer(100).buffer, again.buffer, 'a new slab');
    } finally {
      socket.close();
    }
  });

  it('copies kept packets into slabs of their own, apart from the message they came in and from outgoing packets', () => {
    const message = Buffer.alloc(4000, 7);
    const a = keptCopy(message.subarray(100, 1300));
    const b = keptCopy(message.subarray(1300, 1313));
    message.fill(9);
    assert.deepEqual(a, Buffer.alloc(1200, 7), 'a copy, not a view of the message');
    assert.deepEqual(b, Buffer.alloc(13, 7));
    assert.notEqual(a.buffer, message.buffer);
    assert.equal(a.buffer, b.buffer, 'one slab for many packets');
    assert.equal(a.buffer.byteLength, 256 * 1024, 'a slab malloc maps on its own (at or above its 128 KiB mmap threshold)');
    assert.equal(b.byteOffset % 8, 0);
    assert.ok(b.byteOffset >= a.byteOffset + 1200);
    recycleArena();
    assert.notEqual(packetBuffer(100).buffer, a.buffer, 'outgoing packets never write over kept ones');
    // A full slab is left to the packets in it; the next copy starts another.
    const fill: Buffer[] = [];
    while (fill.length === 0 || fill.at(-1)!.buffer === a.buffer) fill.push(keptCopy(Buffer.alloc(1200, fill.length % 256)));
    assert.notEqual(fill.at(-1)!.buffer, a.buffer);
    assert.deepEqual(a, Buffer.alloc(1200, 7), 'earlier copies are untouched');
    fill.forEach((copy, i) => assert.equal(copy[0], i % 256));
  });
});
