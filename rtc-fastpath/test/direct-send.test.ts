import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { sendDirectly } from '../src/direct-send.ts';

async function bound(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  const socket = createSocket(type);
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

/** Sends [1, 2, 3] and overwrites the buffer as soon as `send` returns; resolves with what arrived. */
async function sendThenOverwrite(from: Socket, to: Socket, address: string): Promise<number[]> {
  const arrived = once(to, 'message');
  const buf = Buffer.from([1, 2, 3]);
  from.send(buf, to.address().port, address);
  buf.fill(9);
  const [message] = (await arrived) as [Buffer];
  return [...message];
}

describe('sendDirectly', () => {
  const sockets: Socket[] = [];
  after(() => sockets.forEach((s) => s.close()));

  it('a default socket sends on a later tick: a buffer changed after send() goes out changed', async () => {
    const [a, b] = [await bound('udp4', '127.0.0.1'), await bound('udp4', '127.0.0.1')];
    sockets.push(a, b);
    assert.deepEqual(await sendThenOverwrite(a, b, '127.0.0.1'), [9, 9, 9]);
  });

  it('after sendDirectly, an IP-literal send has happened when send() returns (IPv4 and IPv6)', async () => {
    const [a, b] = [await bound('udp4', '127.0.0.1'), await bound('udp4', '127.0.0.1')];
    const [c, d] = [await bound('udp6', '::1'), await bound('udp6', '::1')];
    sockets.push(a, b, c, d);
    assert.equal(sendDirectly(a), true);
    assert.equal(sendDirectly(a), true, 'idempotent');
    assert.deepEqual(await sendThenOverwrite(a, b, '127.0.0.1'), [1, 2, 3]);
    assert.deepEqual(await sendThenOverwrite(a, b, '127.0.0.1'), [1, 2, 3], 'every send');
    assert.equal(sendDirectly(c), true);
    assert.deepEqual(await sendThenOverwrite(c, d, '::1'), [1, 2, 3]);
  });

  it('host names still resolve through the original lookup', async () => {
    const [a, b] = [await bound('udp4', '127.0.0.1'), await bound('udp4', '127.0.0.1')];
    sockets.push(a, b);
    sendDirectly(a);
    const arrived = once(b, 'message');
    a.send(Buffer.from('hi'), b.address().port, 'localhost');
    const [message] = (await arrived) as [Buffer];
    assert.equal(message.toString(), 'hi');
  });

  it('refuses what is not a Node dgram socket, changing nothing', () => {
    assert.equal(sendDirectly({} as Socket), false);
  });
});
