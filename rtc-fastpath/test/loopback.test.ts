/**
 * The workspace's interface end to end on real werift peers over loopback: a server peer
 * answering as the DTLS server sends through ViewerSender (fast path: own header, own SRTP,
 * straight to the socket), and werift viewers receive it — one decrypting with werift's own
 * receive path, one counting at the ICE transport. For both SRTP profiles, chosen by the viewer,
 * through the SRTP path in use (the addon's on Linux, src/native-srtp.ts; the JavaScript writer
 * with CORECAST_NATIVE_SRTP=off), also across a sequence-number wrap (the rollover counter).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback, RtpHeader, RtpPacket, RTCPeerConnection, useH264, useOPUS } from 'werift';
import {
  answerAsDtlsServer,
  batchCounts,
  interceptIceData,
  keptCopy,
  loopbackOnly,
  loopbackPeerConfig,
  offerOnlySrtpProfile,
  recycleArena,
  removeDefaultStun,
  type SrtpProfileName,
  srtpPath,
  srtpProfileOf,
  usesNoStun,
  ViewerSender,
} from '../src/index.ts';

const PACKETS = 50;

const peer = () => new RTCPeerConnection(loopbackPeerConfig({ video: [useH264()], audio: [useOPUS()] }));

/** A connected viewer/server pair; the server has one sendonly video transceiver. */
async function connect(profile: SrtpProfileName): Promise<{ viewer: RTCPeerConnection; server: RTCPeerConnection }> {
  const viewer = peer();
  const server = peer();
  viewer.addTransceiver('video', { direction: 'recvonly' });
  const offer = await viewer.createOffer();
  removeDefaultStun(viewer);
  offerOnlySrtpProfile(viewer, profile);
  await viewer.setLocalDescription(offer);
  server.addTransceiver('video', { direction: 'sendonly' });
  await server.setRemoteDescription({ type: 'offer', sdp: loopbackOnly(viewer.localDescription!.sdp) });
  removeDefaultStun(server);
  answerAsDtlsServer(server);
  assert.equal(usesNoStun(server), true);
  await server.setLocalDescription(await server.createAnswer());
  const connected = Promise.all(
    [viewer, server].map(
      (pc) =>
        new Promise<void>((resolve, reject) => {
          pc.connectionStateChange.subscribe((state) => {
            if (state === 'connected') resolve();
            if (state === 'failed') reject(new Error('peer connection failed'));
          });
        }),
    ),
  );
  await viewer.setRemoteDescription({ type: 'answer', sdp: loopbackOnly(server.localDescription!.sdp) });
  await connected;
  return { viewer, server };
}

/** A source packet as the fan-out holds it (its SSRC, sequence and timestamp get rewritten per viewer). */
function sourcePacket(i: number): RtpPacket {
  const header = new RtpHeader({ payloadType: 96, ssrc: 0xabcdef, sequenceNumber: 9000 + i, timestamp: 1000 * i, marker: i % 5 === 4 });
  return new RtpPacket(header, Buffer.alloc(100 + i, i));
}

const peers: RTCPeerConnection[] = [];
after(async () => {
  await Promise.allSettled(peers.map((pc) => pc.close()));
});

for (const profile of ['ctr', 'gcm'] as const) {
  describe(`fast path over loopback (${profile})`, () => {
    it('werift decrypts every packet ViewerSender sent, with the sequence numbers and payloads given', { timeout: 15000 }, async () => {
      const { viewer, server } = await connect(profile);
      peers.push(viewer, server);
      assert.equal(srtpProfileOf(viewer), profile);
      assert.equal(srtpProfileOf(server), profile, 'the server had to take the one profile offered');
      const received: RtpPacket[] = [];
      const all = new Promise<void>((resolve) => {
        const [track] = viewer.getTransceivers()[0]!.receiver.tracks;
        assert.ok(track, 'the viewer has its remote track once connected');
        track.onReceiveRtp.subscribe((rtp) => {
          received.push(rtp);
          if (received.length === PACKETS) resolve();
        });
      });
      const transceiver = server.getTransceivers()[0]!;
      // werift's own send path must not be taken: every packet goes the fast way.
      let slow = 0;
      const sendRtp = transceiver.sender.sendRtp.bind(transceiver.sender);
      transceiver.sender.sendRtp = (rtp) => {
        slow++;
        return sendRtp(rtp);
      };
      // werift's sender-report loop runs on what ViewerSender counted (RFC 3550 §6.4.1).
      const report = new Promise<{ packetCount: number; octetCount: number; rtpTimestamp: number }>((resolve) => {
        viewer.getTransceivers()[0]!.receiver.dtlsTransport.onRtcp.subscribe((rtcp) => {
          const sr = rtcp as unknown as {
            type: number;
            ssrc: number;
            senderInfo: { packetCount: number; octetCount: number; rtpTimestamp: number };
          };
          if (sr.type === 200 && sr.ssrc === transceiver.sender.ssrc && sr.senderInfo.packetCount === PACKETS) resolve(sr.senderInfo);
        });
      });
      const sender = new ViewerSender(transceiver.sender);
      for (let i = 0; i < PACKETS; i++) sender.send(sourcePacket(i), 100 + i, 5000 + i * 90);
      recycleArena();
      await all;
      const info = await report;
      assert.equal(
        info.octetCount,
        Array.from({ length: PACKETS }, (_, i) => 100 + i).reduce((a, b) => a + b, 0),
      );
      assert.equal(info.rtpTimestamp, 5000 + (PACKETS - 1) * 90);
      sender.close();
      assert.equal(slow, 0, 'no packet went through werift sendRtp');
      assert.deepEqual(
        received.map((p) => p.header.sequenceNumber),
        Array.from({ length: PACKETS }, (_, i) => 100 + i),
      );
      for (const [i, p] of received.entries()) {
        assert.equal(p.header.ssrc, transceiver.sender.ssrc);
        assert.equal(p.header.timestamp, 5000 + i * 90);
        assert.equal(p.header.marker, i % 5 === 4);
        assert.deepEqual(p.payload, Buffer.alloc(100 + i, i));
      }
    });

    it('werift decrypts across a sequence-number wrap (rollover counter), through the SRTP path in use', { timeout: 15000 }, async () => {
      const { viewer, server } = await connect(profile);
      peers.push(viewer, server);
      const count = 120;
      const first = 65536 - 60;
      const received: RtpPacket[] = [];
      const all = new Promise<void>((resolve) => {
        viewer.getTransceivers()[0]!.receiver.tracks[0]!.onReceiveRtp.subscribe((rtp) => {
          received.push(rtp);
          if (received.length === count) resolve();
        });
      });
      const before = batchCounts().datagrams;
      const sender = new ViewerSender(server.getTransceivers()[0]!.sender);
      for (let i = 0; i < count; i++) sender.send(sourcePacket(i), (first + i) & 0xffff, i * 90);
      recycleArena();
      await all;
      sender.close();
      assert.deepEqual(
        received.map((p) => p.header.sequenceNumber),
        Array.from({ length: count }, (_, i) => (first + i) & 0xffff),
      );
      for (const [i, p] of received.entries()) assert.deepEqual(p.payload, Buffer.alloc(100 + i, i));
      // The native path sends its own batches: all of these went through sendmmsg.
      if (srtpPath().path === 'native') assert.ok(batchCounts().datagrams - before >= count);
    });

    it('answers a NACK from its history, but not with a kept packet whose bytes were written over', { timeout: 15000 }, async () => {
      const { viewer, server } = await connect(profile);
      peers.push(viewer, server);
      const received: RtpPacket[] = [];
      viewer.getTransceivers()[0]!.receiver.tracks[0]!.onReceiveRtp.subscribe((rtp) => received.push(rtp));
      const sender = new ViewerSender(server.getTransceivers()[0]!.sender);
      // Packets as a fan-out thread keeps them: parsed from copies in the thread's store (kept.ts).
      const kept = Array.from({ length: 10 }, (_, i) => RtpPacket.deSerialize(keptCopy(sourcePacket(i).serialize())));
      for (const [i, p] of kept.entries()) sender.send(p, 200 + i, i * 90);
      recycleArena();
      const until = Date.now() + 5000;
      while (received.length < 10 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(received.length, 10);
      // The store wrote another packet over packet 7's bytes (as it does to a chunk nothing reads any more).
      const over = kept[7]!.payload;
      const start = over.byteOffset - kept[7]!.header.payloadOffset;
      Buffer.from(over.buffer, start, 12).set(sourcePacket(77).header.serialize(12));
      const nack = new GenericNack({ senderSsrc: 1, mediaSourceSsrc: server.getTransceivers()[0]!.sender.ssrc, lost: [203, 207] });
      await viewer.getTransceivers()[0]!.receiver.dtlsTransport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]);
      const again = Date.now() + 5000;
      while (received.length < 11 && Date.now() < again) await new Promise((r) => setTimeout(r, 20));
      // Time for a second answer to arrive, were one sent.
      await new Promise((r) => setTimeout(r, 300));
      recycleArena();
      sender.close();
      assert.deepEqual(
        received.slice(10).map((p) => p.header.sequenceNumber),
        [203],
        'packet 3 again; not 7, whose bytes are no longer its own',
      );
      assert.deepEqual(received[10]!.payload, Buffer.alloc(103, 3));
    });

    it('interceptIceData sees the RTP before werift and keeps it from werift', { timeout: 15000 }, async () => {
      const { viewer, server } = await connect(profile);
      peers.push(viewer, server);
      let decrypted = 0;
      viewer.getTransceivers()[0]!.receiver.tracks[0]!.onReceiveRtp.subscribe(() => decrypted++);
      const seqs: number[] = [];
      const all = new Promise<void>((resolve) => {
        const hooked = interceptIceData(viewer, (data) => {
          const isRtp = data[0]! >= 128 && data[0]! <= 191 && (data[1]! < 192 || data[1]! > 223);
          if (!isRtp) return false;
          seqs.push(data.readUInt16BE(2));
          if (seqs.length === PACKETS) resolve();
          return true;
        });
        assert.equal(hooked, true);
      });
      const sender = new ViewerSender(server.getTransceivers()[0]!.sender);
      for (let i = 0; i < PACKETS; i++) sender.send(sourcePacket(i), 7 + i, i * 90);
      await all;
      sender.close();
      assert.deepEqual(
        seqs,
        Array.from({ length: PACKETS }, (_, i) => 7 + i),
      );
      assert.equal(decrypted, 0);
    });
  });
}
