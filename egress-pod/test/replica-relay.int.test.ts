/**
 * Replica 0's relay with real parts: three egress replicas in this process (each on its own
 * loopback address), real FFmpeg sending a 4 s-GOP pattern to replica 0 only, and the relay
 * targets written as the kubelet would. Each sibling must take the relayed RTP as its source,
 * serve werift viewers that join mid-GOP from its own GOP cache, and keep serving undisturbed
 * while another sibling is taken off the list and put back; and the source's BYE is relayed too.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { waitUntil, type WhepTestClient } from '@corecast/testkit/whep-client';
import { feed, metric } from './helpers.ts';
import { type ReplicaSet, siblingsReady, startReplicaSet, viewerOn } from './replica-set.ts';

describe('egress replicas: the relay', { timeout: 180000 }, () => {
  let set: ReplicaSet;
  let ffmpeg: FfmpegRun;
  const viewers: WhepTestClient[] = [];
  before(async () => {
    set = await startReplicaSet(3);
    ffmpeg = await feed(set.replicas[0]!, 'demo', { gopSeconds: 4 });
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await ffmpeg?.kill();
    await set?.stop();
  });

  it('siblings take nothing before they are listed, then the relayed RTP as their source', async () => {
    const [r0, r1, r2] = set.replicas;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(r1!.streams.get('demo')!.source.state, 'waiting', 'no relay before the targets file lists replica 1');
    assert.equal(await metric(r0!, 'corecast_egress_relay_targets'), 0);
    set.setTargets([set.target(1), set.target(2)]);
    await siblingsReady(set);
    assert.equal(await metric(r0!, 'corecast_egress_relay_targets'), 2);
    assert.ok((await metric(r0!, 'corecast_egress_relay_packets_total')) > 0);
    for (const r of [r1!, r2!]) {
      assert.deepEqual(r.streams.get('demo')!.pinned, [set.address(0)], "a sibling's pin is replica 0's address");
      assert.equal(await metric(r, 'corecast_egress_rtp_dropped_total', { reason: 'source' }), 0, 'nothing refused by the pin');
    }
  });

  it('viewers on every replica receive video, joining mid-GOP from the replica’s own GOP cache', async () => {
    // A sibling listed mid-GOP has no keyframe to start anyone from until FFmpeg's next one; a
    // GOP later it has a cache of its own. Joining 1.5 s into a 4 s GOP, only the cache starts a
    // viewer at a keyframe.
    await new Promise((r) => setTimeout(r, 5500));
    for (const r of set.replicas) {
      const { client, res } = await viewerOn(r, viewers);
      assert.equal(res.status, 201, await res.clone().text());
      await client.connected();
    }
    for (const [i, r] of set.replicas.entries()) {
      const client = viewers[i]!;
      await waitUntil(
        () => client.received.video.length >= 100 && client.received.audio.length >= 20,
        20000,
        `video and audio on replica ${i}`,
      );
      const first = client.received.video[0]!.head[0]! & 0x1f;
      // 7: SPS (FFmpeg puts it in front of every keyframe), 24: a STAP-A carrying it.
      assert.ok(first === 7 || first === 24 || first === 5, `replica ${i}: the first video packet starts a keyframe (NAL type ${first})`);
      assert.equal(await metric(r, 'corecast_egress_gop_cache_hits_total', { process: 'demo' }), 1, `replica ${i}: a cache hit`);
      assert.equal(await metric(r, 'corecast_egress_keyframe_waits_total', { process: 'demo' }), 0, `replica ${i}: no keyframe wait`);
    }
  });

  it('taking a sibling off the list and putting it back disturbs no viewer on the others', async () => {
    const [r0, r1, r2] = set.replicas;
    const ffmpegPid = ffmpeg.child.pid!;
    const packetsIn = (r: typeof r0) => metric(r!, 'corecast_egress_rtp_packets_in_total', { process: 'demo' });
    /**
     * Stops FFmpeg for a moment (shorter than the source timeout) and reads every count once it
     * stopped moving: what was sent has arrived everywhere.
     */
    const settled = async () => {
      process.kill(ffmpegPid, 'SIGSTOP');
      let counts: number[] = [];
      for (let same = false; !same;) {
        await new Promise((r) => setTimeout(r, 200));
        const next = await Promise.all([r0, r1, r2].map(packetsIn));
        same = next.every((n, i) => n === counts[i]);
        counts = next;
      }
      process.kill(ffmpegPid, 'SIGCONT');
      return counts;
    };
    const before = await settled();
    const received1 = viewers[1]!.received.video.length;

    set.setTargets([set.target(1)]);
    await waitUntil(async () => (await metric(r0!, 'corecast_egress_relay_targets')) === 1, 5000, 'replica 2 off the list');
    await waitUntil(() => r2!.streams.get('demo')!.source.state === 'down', 10000, "replica 2's source down");
    const stalled = viewers[2]!.received.video.length;
    set.setTargets([set.target(1), set.target(2)]);
    await waitUntil(() => r2!.streams.get('demo')!.source.state === 'up', 10000, "replica 2's source up again");
    await waitUntil(
      () => viewers[2]!.received.video.length > stalled + 50,
      20000,
      'the viewer on replica 2 plays again (kept through the grace period)',
    );
    const afterCounts = await settled();

    const [d0, d1] = [afterCounts[0]! - before[0]!, afterCounts[1]! - before[1]!];
    assert.ok(d0 > 100, `replica 0 kept receiving (${d0} packets)`);
    assert.equal(d1, d0, 'replica 1 was relayed every packet replica 0 accepted while replica 2 left and came back');
    assert.ok(afterCounts[2]! - before[2]! < d0, 'replica 2 missed the packets sent while it was off the list');
    assert.ok(viewers[1]!.received.video.length > received1 + 100, 'the viewer on replica 1 kept playing');
    for (const r of [r1!, r2!])
      assert.equal(await metric(r, 'corecast_egress_rtp_dropped_total', { process: 'demo' }), 0, 'no relayed datagram dropped');
  });
});

describe("egress replicas: the source's goodbye", { timeout: 60000 }, () => {
  let set: ReplicaSet;
  let ffmpeg: Socket | undefined;
  // A source timeout of a minute: within the test only a relayed BYE can take a source down.
  before(async () => {
    set = await startReplicaSet(2, { source: { timeoutSeconds: 60, graceSeconds: 120 } });
  });
  after(async () => {
    ffmpeg?.close();
    await set?.stop();
  });

  it('an RTCP BYE of the source reaches the siblings: their source goes down with replica 0’s', async () => {
    const [r0, r1] = set.replicas;
    set.setTargets([set.target(1)]);
    await waitUntil(() => r0!.replica.relay!.targets.length === 1, 5000, 'replica 1 listed');
    const socket = createSocket('udp4');
    ffmpeg = socket;
    await new Promise<void>((resolve) => socket.bind(0, set.address(0), resolve));
    const port = r0!.rtpPorts.get('demo')!.video;
    const send = (d: Buffer) => new Promise<void>((resolve) => socket.send(d, port, set.address(0), () => resolve()));
    const ssrc = 0x1234abcd;
    for (let seq = 0; seq < 20; seq++) {
      // An RTP packet (payload type 102, an H.264 non-IDR slice).
      const p = Buffer.alloc(14);
      p[0] = 0x80;
      p[1] = 102;
      p.writeUInt16BE(seq, 2);
      p.writeUInt32BE(seq * 3000, 4);
      p.writeUInt32BE(ssrc, 8);
      p[12] = 0x41;
      p[13] = 0x9a;
      await send(p);
    }
    await waitUntil(() => r1!.streams.get('demo')!.source.state === 'up', 5000, 'replica 1’s source up');
    const byeDatagram = Buffer.alloc(8);
    byeDatagram[0] = 0x81;
    byeDatagram[1] = 203;
    byeDatagram.writeUInt16BE(1, 2);
    byeDatagram.writeUInt32BE(ssrc, 4);
    await send(byeDatagram);
    await waitUntil(() => r0!.streams.get('demo')!.source.state === 'down', 5000, 'replica 0’s source down');
    await waitUntil(() => r1!.streams.get('demo')!.source.state === 'down', 5000, 'replica 1’s source down by the relayed BYE');
  });
});
