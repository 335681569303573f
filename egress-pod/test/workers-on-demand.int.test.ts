/**
 * `media.workers: auto` with real parts (FFmpeg → egress → werift viewers on loopback): one
 * fan-out thread runs while the pod is idle; the next starts only when a joiner finds every
 * running one holding its share (`nextThreadAt`, 1 here instead of the pod's 100), takes the next
 * viewer and plays it; once it has had no viewer for a while it stops
 * (not counted as a failure), the pod stays ready, and the threads' memory gauge and the send
 * path gauge are there; the thread kept, having had viewers, is then replaced by a fresh one
 * (what they left in its heap and malloc arena goes with it) and the next viewer plays there.
 * Needs two cores (auto is one thread per core).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { type Egress, resolveConfig, startEgress } from '../src/index.ts';
import { availableCores } from '../src/workers/cores.ts';
import { feed, metric, testConfig, whepUrl } from './helpers.ts';

async function readyz(egress: Egress): Promise<{ status: number; workers?: { running: number; wanted: number } }> {
  const res = await fetch(`${egress.url}/readyz`);
  const body = (await res.json()) as { workers?: { running: number; wanted: number } };
  return { status: res.status, ...(body.workers ? { workers: body.workers } : {}) };
}

describe('fan-out workers on demand', { timeout: 180000, skip: availableCores() < 2 && 'one core: auto runs one worker' }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startEgress(resolveConfig(testConfig({ media: { workers: 'auto' } }), {}), { defaultMetrics: false, nextThreadAt: 1 });
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 1 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('starts the next thread when the running one holds its share and stops it once it has none', async (t) => {
    const viewersOf = (worker: number) => metric(egress, 'corecast_egress_worker_viewers', { worker: String(worker) });
    // A thread that is starting is listed at once (the pool starts it while answering the joiner's POST).
    const threadsListed = async () =>
      (await egress.metrics.registry.getSingleMetric('corecast_egress_worker_viewers')!.get()).values.map((v) => v.labels.worker);
    assert.equal(egress.workers, 1, 'one thread while idle');
    await waitUntil(async () => (await readyz(egress)).status === 200, 20000, 'ready with one thread');
    assert.deepEqual((await readyz(egress)).workers, { running: 1, wanted: 1 });
    assert.ok((await metric(egress, 'corecast_egress_thread_memory_bytes', { thread: 'worker-0', type: 'heap_used' })) > 0);
    assert.ok((await metric(egress, 'corecast_egress_thread_memory_bytes', { thread: 'main', type: 'code' })) > 0);
    assert.equal(
      (await metric(egress, 'corecast_egress_udp_send_path', { path: 'sendmmsg' })) +
        (await metric(egress, 'corecast_egress_udp_send_path', { path: 'dgram' })),
      1,
      'exactly one send path in use',
    );

    const clients: WhepTestClient[] = [];
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const join = async () => {
      const c = new WhepTestClient();
      clients.push(c);
      const res = await c.post(whepUrl(egress));
      assert.equal(res.status, 201, await res.clone().text());
      await c.connected();
      await waitUntil(() => c.received.video.length > 30, 20000, 'the viewer receiving video');
      return c;
    };
    const first = await join();
    assert.equal(await viewersOf(0), 1);
    assert.deepEqual(await threadsListed(), ['0'], 'one viewer is within the first thread’s share: no second thread');
    const second = await join();
    assert.equal(await viewersOf(0), 2, 'the joiner goes to the warm thread, not the one starting');
    await waitUntil(async () => (await readyz(egress)).workers?.running === 2, 30000, 'a second thread started');
    assert.deepEqual((await readyz(egress)).workers, { running: 2, wanted: 2 });
    const third = await join();
    assert.equal(await viewersOf(1), 1, 'the new thread takes the next viewer');

    await Promise.all([first.close(), second.close(), third.close()]);
    await waitUntil(async () => (await viewersOf(0)) + (await viewersOf(1)) === 0, 20000, 'the viewers gone');
    await waitUntil(async () => (await readyz(egress)).workers?.running === 1, 60000, 'the idle thread stopped');
    const now = await readyz(egress);
    assert.equal(now.status, 200, 'still ready: the stopped thread is not missing');
    assert.deepEqual(now.workers, { running: 1, wanted: 1 });
    assert.equal(
      (await metric(egress, 'corecast_egress_worker_failures_total', { worker: '0' })) +
        (await metric(egress, 'corecast_egress_worker_failures_total', { worker: '1' })),
      0,
      'stopping an idle thread is no failure',
    );
    // The thread kept had viewers: a fresh one takes its place (it starts, then the old one stops).
    const replaced = () => metric(egress, 'corecast_egress_worker_replacements_total');
    await waitUntil(async () => (await replaced()) === 1, 60000, 'the last thread replaced by a fresh one');
    await waitUntil(async () => (await readyz(egress)).workers?.running === 1, 30000, 'the old thread stopped');
    assert.equal((await readyz(egress)).status, 200, 'ready throughout');
    assert.equal(
      (await metric(egress, 'corecast_egress_worker_failures_total', { worker: '0' })) +
        (await metric(egress, 'corecast_egress_worker_failures_total', { worker: '1' })),
      0,
      'replacing a thread is no failure',
    );
    // The next viewer still plays, on the fresh thread.
    await join();
    assert.equal((await viewersOf(0)) + (await viewersOf(1)), 1);
    assert.equal(await replaced(), 1, 'a thread that never had a viewer is not replaced again');
  });
});
