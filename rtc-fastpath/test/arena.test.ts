import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { packetBuffer, recycleArena, sendingOn } from '../src/arena.ts';

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
});
