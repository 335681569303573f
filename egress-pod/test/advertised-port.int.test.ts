/**
 * `ice.advertisedPort`: the egress behind a port mapping, as on a NodePort Service, where the
 * viewer sends to nodeIP:nodePort and something in between delivers it to the pod's ICE port.
 * The mapping here is a UDP relay on loopback (like kube-proxy with masquerading: the egress sees
 * the relay's address). The answer names the mapped port, not the bound one, and a real werift
 * viewer that uses the answer as it comes plays through the mapping.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

/** A port mapping on loopback: datagrams to `port` go on to `target`, and the answers come back. */
async function portMapping(): Promise<{ port: number; target(port: number): void; relayed(): number; close(): void }> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let target = 0;
  let viewer: RemoteInfo | undefined;
  let relayed = 0;
  front.on('message', (data, from) => {
    viewer = from;
    relayed++;
    if (target) back.send(data, target, '127.0.0.1');
  });
  back.on('message', (data) => {
    if (viewer) front.send(data, viewer.port, viewer.address);
  });
  await Promise.all([front, back].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
  return {
    port: front.address().port,
    target: (port) => (target = port),
    relayed: () => relayed,
    close: () => {
      front.close();
      back.close();
    },
  };
}

const hostCandidatePorts = (sdp: string) => [
  ...new Set([...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]))),
];

describe('ice.advertisedPort: the egress behind a port mapping', { timeout: 120000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  let mapping: Awaited<ReturnType<typeof portMapping>>;
  before(async () => {
    mapping = await portMapping();
    egress = await startTestEgress({
      ice: { allowLoopbackCandidates: true, udpPort: 0, advertise: { addresses: ['127.0.0.1'], only: true }, advertisedPort: mapping.port },
    });
    mapping.target(egress.mediaPort);
    ffmpeg = await feed(egress, 'demo', { size: '160x90', rate: 10, gopSeconds: 1 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
    mapping?.close();
  });

  it('answers with the mapped port, and the viewer plays through the mapping', async (t) => {
    assert.notEqual(mapping.port, egress.mediaPort);
    const viewer = new WhepTestClient();
    t.after(() => viewer.close());
    const res = await fetch(whepUrl(egress), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: await viewer.offer() });
    assert.equal(res.status, 201);
    const answer = await res.text();
    assert.deepEqual(hostCandidatePorts(answer), [mapping.port], 'the host candidate carries the mapped port');
    viewer.location = new URL(res.headers.get('location')!, whepUrl(egress)).toString();
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await viewer.connected();
    await waitUntil(() => viewer.received.video.length > 20, 20000, 'video through the mapping');
    assert.ok(mapping.relayed() > 0, 'the viewer sent through the mapped port');
  });
});
