/**
 * `npm run bench:egress:leaks`: viewers join and leave the egress (its own process) 1000 times —
 * DELETE after the first packets, a viewer that vanishes without DELETE, a DELETE before ICE
 * connects — a few at a time, while the source plays. Prints RSS along the way and at the end
 * the growth per 1000 cycles after a warm-up, and what is left: sessions, viewers, and every
 * thread's sockets and timers (corecast_egress_thread_resources) against the warm baseline.
 *
 *   node egress-pod/bench/leak-bench.ts [--cycles 1000] [--at-once 10] [--workers auto]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, scrape, total } from './lib.ts';
import { benchRig } from './rig.ts';
import { WhepViewer } from './whep-viewer.ts';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '1000' },
    'at-once': { type: 'string', default: '10' },
    workers: { type: 'string', default: 'auto' },
    warmup: { type: 'string', default: '100' },
  },
});
const cycles = Number(values.cycles);
const atOnce = Number(values['at-once']);
const warmup = Number(values.warmup);

/** Resource counts by thread/type (TCP connections of the benchmark's own HTTP requests left out). */
function resources(m: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of m) {
    const match = /^corecast_egress_thread_resources\{thread="([^"]+)",type="([^"]+)"\}$/.exec(key);
    if (match && !match[2]!.startsWith('TCP')) out.set(`${match[1]}/${match[2]}`, value);
  }
  return out;
}

/** One viewer's life; `exit` 0: DELETE after media, 1: vanish, 2: DELETE before ICE. */
async function cycle(whep: string, exit: number): Promise<boolean> {
  const v = new WhepViewer({ url: whep });
  try {
    await v.connect();
    if (exit !== 2) await v.firstPacket();
    await v.close({ vanish: exit === 1 });
    return true;
  } catch {
    await v.close().catch(() => undefined);
    return false;
  }
}

const dir = await mkdtemp(join(tmpdir(), 'corecast-leaks-'));
const rig = await benchRig(dir, {
  gopSeconds: 1,
  workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
  config: { session: { livenessTimeoutSeconds: 3, connectTimeoutSeconds: 5 } },
});
const metricsUrl = rig.metrics;
const settle = async () => {
  for (let i = 0; i < 60; i++) {
    const m = await scrape(metricsUrl);
    if (total(m, 'corecast_egress_viewers') === 0 && [...resources(m)].every(([k, v]) => !k.endsWith('/sessions') || v === 0)) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
  return scrape(metricsUrl);
};

try {
  let failed = 0;
  let baseline: Map<string, number> | undefined;
  let warmRss = 0;
  for (let done = 0; done < cycles; done += atOnce) {
    const results = await Promise.all(Array.from({ length: atOnce }, (_, k) => cycle(rig.whep, (done + k) % 3)));
    failed += results.filter((ok) => !ok).length;
    const n = done + atOnce;
    if (n % 100 === 0 || n === warmup) {
      const m = await settle();
      const rss = total(m, 'process_resident_memory_bytes') / 2 ** 20;
      emit('leaks.rss', rss, 'MiB', { cycles: n });
      if (n === warmup) {
        baseline = resources(m);
        warmRss = rss;
      }
    }
  }
  await new Promise((r) => setTimeout(r, 6000)); // liveness timeouts of the last vanished viewers
  const end = await settle();
  const rss = total(end, 'process_resident_memory_bytes') / 2 ** 20;
  emit('leaks.cycles', cycles, 'cycles', { failed });
  emit('leaks.rss_end', rss, 'MiB');
  emit('leaks.rss_growth_after_warmup', rss - warmRss, 'MiB', { over: cycles - warmup });
  emit('leaks.sessions_left', total(end, 'corecast_egress_viewers'), 'sessions');
  emit('leaks.sessions_created', total(end, 'corecast_egress_sessions_created_total'), 'sessions');
  emit('leaks.sessions_closed', total(end, 'corecast_egress_sessions_closed_total'), 'sessions');
  const now = resources(end);
  const grown = [...now].filter(([k, v]) => v > (baseline?.get(k) ?? 0)).map(([k, v]) => `${k} ${baseline?.get(k) ?? 0}→${v}`);
  emit('leaks.resources_grown', grown.length, 'types', { grown, now: Object.fromEntries(now) });
} catch (error) {
  console.error(`leak benchmark failed: ${(error as Error).message}\negress: ${rig.egress.tail()}`);
  process.exitCode = 1;
} finally {
  await rig.stop();
  await rm(dir, { recursive: true, force: true });
}
// The benchmark's own werift peers (the viewers that vanished without a word) leave timers in
// this process; the figures are out and the egress is stopped.
process.exit();
