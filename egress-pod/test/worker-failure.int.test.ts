/**
 * A fan-out worker that fails, with real threads: the real media worker made to throw an
 * uncaught exception (failing-media-worker.ts), real FFmpeg and werift viewers on loopback.
 * The failure is logged with its cause and counted, its viewers are closed, readiness and the
 * per-worker viewer gauge show the missing worker, new viewers go to the other one, and the
 * slot is restarted after a backoff that grows while the new threads keep failing.
 */
import assert from 'node:assert/strict';
import { BroadcastChannel } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { createLogger, type Egress, resolveConfig, startEgress } from '../src/index.ts';
import { FAIL_AT_START, FAIL_CHANNEL } from './failing-media-worker.ts';
import { feed, logSink, metric, testConfig, whepUrl } from './helpers.ts';

async function readyz(
  egress: Egress,
): Promise<{ status: number; body: { ready: boolean; workers?: { running: number; wanted: number } } }> {
  const res = await fetch(`${egress.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; workers?: { running: number; wanted: number } } };
}

describe('a fan-out worker that fails', { timeout: 180000 }, () => {
  const log = logSink();
  const clients: WhepTestClient[] = [];
  let egress: Egress;
  let ffmpeg: FfmpegRun;

  before(async () => {
    const config = testConfig({ media: { workers: 2 }, streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 } }] });
    egress = await startEgress(resolveConfig({ ...config, logLevel: 'info' }, {}), {
      log: createLogger('info', log.stream),
      defaultMetrics: false,
      workerScript: new URL('./failing-media-worker.ts', import.meta.url),
    });
    ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10, audio: false });
  });
  after(async () => {
    delete process.env[FAIL_AT_START];
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await egress?.stop();
  });

  const join = async (): Promise<WhepTestClient> => {
    const c = new WhepTestClient();
    clients.push(c);
    const res = await c.post(whepUrl(egress));
    assert.equal(res.status, 201, await res.clone().text());
    await c.connected();
    return c;
  };
  const viewersOf = (worker: number) => metric(egress, 'corecast_egress_worker_viewers', { worker: String(worker) });
  const failures = () => metric(egress, 'corecast_egress_worker_failures_total', { worker: '0' });

  it('is logged with its cause, counted, closes its viewers, shows in readiness, and is restarted with backoff', async () => {
    await join();
    await join();
    assert.equal(await viewersOf(0), 1, 'one viewer on each worker');
    assert.equal(await viewersOf(1), 1);
    await waitUntil(async () => (await readyz(egress)).status === 200, 20000, 'ready with both workers and the source up');
    assert.deepEqual((await readyz(egress)).body.workers, { running: 2, wanted: 2 });

    // Worker 0 throws; every thread started in its slot from now on throws before it is ready.
    process.env[FAIL_AT_START] = '0';
    const channel = new BroadcastChannel(FAIL_CHANNEL);
    channel.postMessage({ worker: 0 });
    channel.close();

    await waitUntil(async () => (await failures()) >= 1, 10000, 'the failure counted');
    const ended = log.lines().find((l) => l.msg === 'media worker ended; its viewers were closed, a new one starts after the delay');
    assert.ok(ended, 'the failure is logged');
    assert.equal(ended.worker, 0);
    assert.equal(ended.viewers, 1);
    assert.match(
      String((ended.err as { message?: string } | undefined)?.message),
      /deliberate failure in media worker 0/,
      'with its cause',
    );
    assert.equal(await metric(egress, 'corecast_egress_sessions_closed_total', { process: 'demo', reason: 'worker-exit' }), 1);
    assert.equal(await viewersOf(0), 0, "the dead worker's viewers are gone");
    assert.equal(await viewersOf(1), 1, "the other worker's viewer plays on");
    const dead = await readyz(egress);
    assert.equal(dead.status, 503, 'not ready while a worker is missing');
    assert.deepEqual(dead.body.workers, { running: 1, wanted: 2 });

    // A new viewer goes to the worker that runs.
    await join();
    assert.equal(await viewersOf(1), 2);
    assert.equal(await viewersOf(0), 0);

    // The slot's new threads fail as they start: each waits longer than the one before.
    await waitUntil(async () => (await failures()) >= 4, 30000, 'three failed restarts');
    const delays = log
      .lines()
      .filter((l) => l.msg === 'media worker ended; its viewers were closed, a new one starts after the delay' && l.worker === 0)
      .map((l) => Number(l.restartInMs));
    assert.ok(delays.length >= 4, `${delays.length} failures logged`);
    for (let i = 1; i < 4; i++) assert.ok(delays[i]! > delays[i - 1]!, `backoff grows: ${delays.join(', ')} ms`);
    const atStart = log
      .lines()
      .filter((l) => l.msg === 'media worker ended; its viewers were closed, a new one starts after the delay')
      .at(-1);
    assert.match(String((atStart?.err as { message?: string } | undefined)?.message), /deliberate failure as media worker 0 starts/);
    assert.equal((await readyz(egress)).status, 503);

    // The cause goes away: the next restart takes, readiness comes back, and the slot takes viewers again.
    delete process.env[FAIL_AT_START];
    await waitUntil(async () => (await readyz(egress)).status === 200, 30000, 'ready again after the restart');
    assert.deepEqual((await readyz(egress)).body.workers, { running: 2, wanted: 2 });
    assert.ok((await metric(egress, 'corecast_egress_worker_restarts_total', { worker: '0' })) >= 4);
    assert.ok(log.lines().some((l) => l.msg === 'media worker restarted' && l.worker === 0));
    await join();
    assert.equal(await viewersOf(0), 1, 'the restarted worker takes the next viewer');
  });
});
