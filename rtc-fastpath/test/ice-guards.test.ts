/**
 * The ICE guards on real werift peers: the public STUN fallback werift adds is there before
 * and gone after removeDefaultStun (a configured server is kept), and a socket error of a
 * gathered peer reaches the guard's callback instead of being thrown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { guardSockets, removeDefaultStun, stunServersOf, usesNoStun } from '../src/ice-guards.ts';

/** A peer whose ICE transport exists (createOffer makes it) but has not gathered. */
async function peerWithTransport(config: ConstructorParameters<typeof RTCPeerConnection>[0]): Promise<RTCPeerConnection> {
  const pc = new RTCPeerConnection(config);
  pc.addTransceiver('video', { direction: 'sendonly' });
  await pc.createOffer();
  return pc;
}

describe('ICE guards', () => {
  it('werift falls back to a public STUN server with no STUN configured; removeDefaultStun takes it away', async () => {
    const pc = await peerWithTransport({ iceServers: [] });
    try {
      assert.deepEqual(stunServersOf(pc), [['stun.l.google.com', 19302]], 'the werift behaviour this guards against');
      assert.equal(usesNoStun(pc), false);
      removeDefaultStun(pc);
      assert.equal(usesNoStun(pc), true);
      assert.deepEqual(stunServersOf(pc), [undefined]);
    } finally {
      await pc.close();
    }
  });

  it('keeps a STUN server the operator configured', async () => {
    const pc = await peerWithTransport({ iceServers: [{ urls: 'stun:198.51.100.1:3478' }] });
    try {
      removeDefaultStun(pc);
      assert.deepEqual(stunServersOf(pc), [['198.51.100.1', 3478]]);
      assert.equal(usesNoStun(pc), false);
    } finally {
      await pc.close();
    }
  });

  it("hands a gathered peer's socket errors to the callback instead of throwing them", async () => {
    const pc = await peerWithTransport({ iceServers: [], iceInterfaceAddresses: { udp4: '127.0.0.1' }, iceUseIpv6: false });
    try {
      removeDefaultStun(pc);
      await pc.setLocalDescription(await pc.createOffer());
      const errors: Error[] = [];
      guardSockets(pc, (err) => errors.push(err));
      guardSockets(pc, (err) => errors.push(err)); // a second call adds no second listener
      const sockets = pc.iceTransports.flatMap((t) =>
        (
          (t as unknown as { connection: { protocols: { transport?: { socket?: NodeJS.EventEmitter } }[] } }).connection.protocols ?? []
        ).map((p) => p.transport?.socket),
      );
      assert.ok(sockets.length > 0 && sockets.every((s) => s !== undefined), 'the peer gathered at least one UDP socket');
      for (const socket of sockets) socket!.emit('error', new Error('EPERM on send'));
      assert.equal(errors.length, sockets.length);
      assert.equal(errors[0]!.message, 'EPERM on send');
    } finally {
      await pc.close();
    }
  });
});
