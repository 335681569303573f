/**
 * Viewers come and go many times — DELETE after playing, a vanished viewer (no DELETE), a DELETE
 * before ICE even connects — and afterwards nothing is left: no session, no viewer, no UDP
 * socket, no timer, in the main thread or in any fan-out worker. (RSS growth over 1000 cycles is
 * measured by bench/leak-bench.ts, not asserted here.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

const CYCLES = 45;
const AT_ONCE = 5;

/** Resource counts per thread and type, from the egress's own gauge. */
async function resources(egress: Egress): Promise<Map<string, number>> {
  const m = egress.metrics.registry.getSingleMetric('corecast_egress_thread_resources');
  if (!m) throw new Error('no corecast_egress_thread_resources metric');
  const out = new Map<string, number>();
  // HTTP keep-alive connections from the test's own fetches come and go: not the egress's to keep.
  for (const v of (await m.get()).values)
    if (!String(v.labels.type).startsWith('TCP')) out.set(`${v.labels.thread}/${v.labels.type}`, v.value);
  return out;
}

/** One viewer's life, ending the way `exit` says. */
async function cycle(egress: Egress, exit: number): Promise<void> {
  const c = new WhepTestClient();
  try {
    const res = await c.post(whepUrl(egress));
    assert.equal(res.status, 201, await res.clone().text());
    if (exit === 2) {
      assert.equal((await c.delete()).status, 200, 'DELETE before ICE connects');
      return;
    }
    await c.connected();
    await waitUntil(() => c.received.video.length > 5, 20000, 'video');
    if (exit === 0) assert.equal((await c.delete()).status, 200);
    // exit 1: the viewer vanishes without a DELETE; the egress must notice by itself.
  } finally {
    await c.close();
  }
}

for (const workers of [0, 2]) {
  describe(`no leaks after viewers come and go (${workers} workers)`, { timeout: 240000 }, () => {
    let egress: Egress;
    let ffmpeg: FfmpegRun;
    before(async () => {
      egress = await startTestEgress({
        media: { workers },
        streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 50 }],
        session: { livenessTimeoutSeconds: 2, connectTimeoutSeconds: 5 },
      });
      ffmpeg = await feed(egress, 'demo', { gopSeconds: 1 });
    });
    after(async () => {
      await ffmpeg?.kill();
      await egress?.stop();
    });

    const settled = async () => {
      await waitUntil(async () => (await metric(egress, 'corecast_egress_viewers', { process: 'demo' })) === 0, 20000, 'no viewers');
      await waitUntil(async () => egress.sessions.count() === 0, 20000, 'no sessions');
    };

    it(`leaves no session, viewer, socket or timer behind after ${CYCLES} join/leave cycles`, async () => {
      // Warm-up: the first viewers (one per worker) set up what stays for the life of the pod.
      await Promise.all([cycle(egress, 0), cycle(egress, 0)]);
      await settled();
      const baseline = await resources(egress);
      for (let i = 0; i < CYCLES; i += AT_ONCE) {
        await Promise.all(Array.from({ length: AT_ONCE }, (_, k) => cycle(egress, (i + k) % 3)));
      }
      await settled();
      const created = await metric(egress, 'corecast_egress_sessions_created_total', { process: 'demo' });
      const closed = await metric(egress, 'corecast_egress_sessions_closed_total', { process: 'demo' });
      assert.equal(created, CYCLES + 2);
      assert.equal(closed, created, 'every session created was closed');
      assert.equal(egress.streams.get('demo')!.fanout.size, 0);
      // Sockets and timers end asynchronously after a session closes: wait for them, then compare.
      // The main thread is shared with this test's own clients, so only its UDP sockets (the two
      // ingest sockets, and the ICE mux's when there are no workers) are the egress's to count there.
      const mainUdp = 2 + (baseline.get('main/mux-sockets') ?? 0);
      const leftovers = (now: Map<string, number>) =>
        [...now].filter(([k, v]) => (k.startsWith('worker-') ? v > (baseline.get(k) ?? 0) : k === 'main/UDPWrap' && v !== mainUdp));
      let now = await resources(egress);
      await waitUntil(
        async () => {
          now = await resources(egress);
          return leftovers(now).length === 0;
        },
        20000,
        'resources back to the baseline',
      ).catch(() => undefined);
      assert.deepEqual(leftovers(now), [], `left behind, against ${JSON.stringify(Object.fromEntries(baseline))}`);
      // A worker's only UDP socket is its share of the one media port (the ICE mux).
      if (workers > 0) assert.equal(now.get('worker-0/UDPWrap') ?? 0, now.get('worker-0/mux-sockets'), 'no viewer socket left in a worker');
      for (const kind of ['sessions', 'ufrags', 'addresses', 'transactions']) {
        assert.equal(now.get(`${workers > 0 ? 'worker-0' : 'main'}/mux-${kind}`), 0, `no ICE mux ${kind} left`);
      }
      assert.ok(baseline.has('main/UDPWrap'), `ingest sockets are counted: ${[...baseline.keys()]}`);
    });
  });
}
