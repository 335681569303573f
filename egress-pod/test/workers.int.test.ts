/**
 * The fan-out split over worker threads, with real parts (FFmpeg → egress with two workers →
 * werift viewers on loopback): viewers spread over both workers, and every viewer's stream
 * stays continuous — no gap, no duplicate, keyframe first — while others join and leave.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { type Received, WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { inspectH264 } from '../src/rtp/h264.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** Asserts a received sequence is gap-free and duplicate-free. */
function assertContinuous(what: string, packets: readonly Received[]): void {
  for (let i = 1; i < packets.length; i++) {
    assert.equal(packets[i]!.seq, (packets[i - 1]!.seq + 1) & 0xffff, `${what}: packet ${i} follows packet ${i - 1}`);
  }
}

describe('fan-out workers', { timeout: 180000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startTestEgress({
      media: { workers: 2 },
      streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 20 }],
    });
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 2 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('spreads viewers over the workers and keeps every stream continuous while viewers join and leave', async (t) => {
    assert.equal(egress.workers, 2);
    const join = async () => {
      const c = new WhepTestClient();
      const res = await c.post(whepUrl(egress));
      assert.equal(res.status, 201, await res.clone().text());
      await c.connected();
      return c;
    };
    const all: WhepTestClient[] = [];
    const playing: WhepTestClient[] = [];
    t.after(() => Promise.all(all.map((c) => c.close())));
    // Rounds: two join, one of the earlier ones leaves (DELETE), while the rest keep playing.
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 2; i++) {
        const c = await join();
        all.push(c);
        playing.push(c);
      }
      const counts = playing.map((c) => c.received.video.length);
      await waitUntil(() => playing.every((c, i) => c.received.video.length > counts[i]! + 30), 20000, 'every viewer receiving');
      if (round === 1) {
        const perWorker = [
          await metric(egress, 'corecast_egress_worker_viewers', { worker: '0' }),
          await metric(egress, 'corecast_egress_worker_viewers', { worker: '1' }),
        ];
        assert.ok(Math.min(...perWorker) >= 1 && Math.abs(perWorker[0]! - perWorker[1]!) <= 1, `viewers spread evenly: ${perWorker}`);
      }
      const leaving = playing.shift()!;
      assert.equal((await leaving.delete()).status, 200);
      await leaving.close();
    }
    const counts = playing.map((c) => c.received.video.length);
    await waitUntil(
      () => playing.every((c, i) => c.received.video.length > counts[i]! + 30),
      20000,
      'the remaining viewers still receiving',
    );

    for (const [n, c] of all.entries()) {
      const first = c.received.video[0]!;
      const type = first.head[0]! & 0x1f;
      assert.ok(type === 7 || type === 24 || inspectH264(first.head).idrStart, `viewer ${n} starts with a keyframe (NAL ${type})`);
      assertContinuous(`viewer ${n} video`, c.received.video);
      assertContinuous(`viewer ${n} audio`, c.received.audio);
    }
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), playing.length);
    for (const c of playing) {
      await c.delete();
      await c.close();
    }
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), 0);
    assert.equal(egress.streams.get('demo')!.fanout.size, 0);
    await waitUntil(
      async () =>
        (await metric(egress, 'corecast_egress_worker_viewers', { worker: '0' })) +
          (await metric(egress, 'corecast_egress_worker_viewers', { worker: '1' })) ===
        0,
      5000,
      'no viewer left in the workers',
    );
  });
});
