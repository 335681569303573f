/**
 * Batched sends (src/batch-send.ts, native/batch_send.c) against plain dgram sends: the same
 * datagrams, byte for byte and in order, reach real receiving sockets — over IPv4 and IPv6
 * loopback, to several destinations in one batch, across more than one sendmmsg call — and a
 * socket closed before its batch went out sends nothing (its number may belong to another
 * socket by then). On Linux the addon must have loaded; CORECAST_BATCH_SEND=off runs the same
 * checks on the dgram path.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { batchCounts, flushSends, sendBatched, sendPath } from '../src/batch-send.ts';
import { bound as boundSocket, receive } from './udp-sockets.ts';

const bound = (type: 'udp4' | 'udp6', address: string) => boundSocket(type, address, 4 * 2 ** 20);

/** Packets of every size from 1 byte to a full RTP packet, random contents. */
function packets(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => randomBytes(1 + ((i * 97) % 1400)));
}

describe('batched UDP sends', () => {
  let ipv6 = true;
  before(async () => {
    await bound('udp6', '::1').catch(() => {
      ipv6 = false;
    });
  });

  test('on Linux the sendmmsg addon is the path (unless turned off)', () => {
    const path = sendPath();
    if (process.platform === 'linux' && process.env.CORECAST_BATCH_SEND !== 'off') assert.equal(path.path, 'sendmmsg', path.why);
    else assert.equal(path.path, 'dgram');
  });

  for (const family of ['udp4', 'udp6'] as const) {
    test(`${family}: the same datagrams as dgram, in order, to two destinations in one batch and across several calls`, async (t) => {
      if (family === 'udp6' && !ipv6) return t.skip('no IPv6 loopback here');
      const host = family === 'udp4' ? '127.0.0.1' : '::1';
      const sender = await bound(family, host);
      const [batchedA, batchedB, plainA, plainB] = await Promise.all([1, 2, 3, 4].map(() => bound(family, host)));
      // 2500 datagrams: more than one call's 1024, interleaved over two destinations.
      const sent = packets(2500);
      const forA = sent.filter((_, i) => i % 3 !== 0);
      const forB = sent.filter((_, i) => i % 3 === 0);
      const gotBatched = Promise.all([receive(batchedA!, forA.length), receive(batchedB!, forB.length)]);
      const gotPlain = Promise.all([receive(plainA!, forA.length), receive(plainB!, forB.length)]);
      const before = { ...batchCounts() };
      sent.forEach((p, i) => sendBatched(sender, p, (i % 3 === 0 ? batchedB! : batchedA!).address().port, host));
      flushSends();
      const [a, b] = await gotBatched;
      sent.forEach((p, i) => sender.send(p, (i % 3 === 0 ? plainB! : plainA!).address().port, host));
      const [pa, pb] = await gotPlain;
      assert.deepEqual(a, forA);
      assert.deepEqual(b, forB);
      assert.deepEqual(a, pa);
      assert.deepEqual(b, pb);
      if (sendPath().path === 'sendmmsg') {
        const now = batchCounts();
        assert.equal(now.datagrams + now.fallbacks - before.datagrams - before.fallbacks, sent.length);
        assert.ok(now.calls - before.calls >= 3, `2500 datagrams take at least three calls (made ${now.calls - before.calls})`);
      }
    });
  }

  test('queued sends go out on the next turn without a flush', async () => {
    const sender = await bound('udp4', '127.0.0.1');
    const receiver = await bound('udp4', '127.0.0.1');
    const sent = packets(10);
    const got = receive(receiver, sent.length);
    for (const p of sent) sendBatched(sender, p, receiver.address().port, '127.0.0.1');
    assert.deepEqual(await got, sent);
  });

  test('a socket closed before its batch went out sends nothing', async (t) => {
    if (sendPath().path !== 'sendmmsg') return t.skip('dgram sends at once: nothing is held back');
    const sender = await bound('udp4', '127.0.0.1');
    const receiver = await bound('udp4', '127.0.0.1');
    let arrived = 0;
    receiver.on('message', () => arrived++);
    const dropped = batchCounts().dropped;
    for (const p of packets(5)) sendBatched(sender, p, receiver.address().port, '127.0.0.1');
    await new Promise<void>((r) => sender.close(() => r()));
    flushSends();
    // A datagram sent later on another socket arrives: anything from the closed one would be before it.
    const other = await bound('udp4', '127.0.0.1');
    const marker = receive(receiver, 1);
    other.send(Buffer.from('after'), receiver.address().port, '127.0.0.1');
    await marker;
    assert.equal(arrived, 1);
    assert.equal(batchCounts().dropped - dropped, 5);
  });
});
