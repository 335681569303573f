/**
 * Passive ICE-TCP on the pod's one TCP port (ice.tcpPort), with real parts: werift viewers that
 * may only use TCP (UDP candidates removed on both sides) play from an egress with two workers —
 * so some connections land on a worker that does not own their session and are piped to the
 * owner — and a connection whose first frame is not an authenticated check is closed unanswered.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { bindingRequest, removeDefaultStun } from '@corecast/rtc-fastpath';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import { RTCPeerConnection, useH264, useOPUS } from 'werift';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** A free TCP port (bound and released). */
async function freeTcpPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A werift viewer that only connects over TCP (active, to the pod's passive candidate). */
async function tcpViewer(url: string): Promise<{ pc: RTCPeerConnection; video: () => number; answer: string }> {
  const pc = new RTCPeerConnection({
    codecs: {
      video: [useH264({ parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
      audio: [useOPUS()],
    },
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    iceUseTcp: true,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceFilterCandidatePair: (pair) => pair.localCandidate.transport === 'tcp' && pair.remoteCandidate.host === '127.0.0.1',
  });
  let video = 0;
  for (const kind of ['video', 'audio'] as const) {
    const t = pc.addTransceiver(kind, { direction: 'recvonly' });
    if (kind === 'video') t.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => video++));
  }
  const offer = await pc.createOffer();
  removeDefaultStun(pc);
  await pc.setLocalDescription(offer);
  // No candidates of ours (the pod learns us from the TCP connection), none of its UDP ones.
  const sdp = pc
    .localDescription!.sdp.split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  assert.equal(res.status, 201);
  const answer = await res.text();
  const tcpOnly = answer
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || / tcp .* tcptype passive/i.test(l))
    .join('\r\n');
  await pc.setRemoteDescription({ type: 'answer', sdp: tcpOnly });
  return { pc, video: () => video, answer };
}

describe('ICE-TCP on one port', { timeout: 300000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  let tcpPort: number;
  before(async () => {
    tcpPort = await freeTcpPort();
    egress = await startTestEgress({
      media: { workers: 2 },
      streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 40 }],
      ice: { advertise: { addresses: ['127.0.0.1'], only: true }, udpPort: 0, tcpPort },
    });
    ffmpeg = await feed(egress, 'demo', { size: '160x90', rate: 10 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('TCP-only viewers play through the one TCP port, whichever worker accepts their connection', async (t) => {
    const viewers: Awaited<ReturnType<typeof tcpViewer>>[] = [];
    t.after(() => Promise.all(viewers.map((v) => v.pc.close())));
    for (let i = 0; i < 16; i++) viewers.push(await tcpViewer(whepUrl(egress)));
    for (const v of viewers) {
      const passive = v.answer.split('\r\n').filter((l) => / tcp .* tcptype passive/i.test(l));
      assert.ok(passive.length > 0 && passive.every((l) => l.split(' ')[5] === String(tcpPort)), `passive candidates on ${tcpPort}: ${passive}`);
    }
    await waitUntil(() => viewers.every((v) => v.video() > 20), 60000, 'every TCP viewer receiving video');
    // Connections spread over both workers' listeners: some reached the one that does not own
    // their session and are piped (none of 16 would take 2^-16 odds).
    const piped = await metric(egress, 'corecast_egress_thread_resources', { type: 'mux-tcp-piped' });
    assert.ok(piped > 0, 'connections piped to the owning worker');
  });

  it('a connection whose first frame is not an authenticated check is closed without an answer', async (t) => {
    const viewer = await tcpViewer(whepUrl(egress));
    t.after(() => viewer.pc.close());
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(viewer.answer)![1]!;
    const before = await metric(egress, 'corecast_egress_ice_mux_dropped_total', { reason: 'bad-integrity' });
    const check = bindingRequest(`${ufrag}:guess`, 'wrong-password-wrong-password');
    const frame = Buffer.concat([Buffer.from([check.length >> 8, check.length & 0xff]), check]);
    const socket = connect(tcpPort, '127.0.0.1');
    let received = 0;
    socket.on('data', (d) => (received += d.length));
    socket.on('error', () => {});
    socket.write(frame);
    await new Promise((r) => socket.once('close', r));
    assert.equal(received, 0, 'nothing was answered');
    await waitUntil(
      async () => (await metric(egress, 'corecast_egress_ice_mux_dropped_total', { reason: 'bad-integrity' })) > before,
      10000,
      'the bad check counted',
    );
  });
});
