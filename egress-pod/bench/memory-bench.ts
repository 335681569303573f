/**
 * `npm run bench:egress:memory` (node egress-pod/bench/memory-bench.ts): the egress pod's memory
 * idle, with viewers, and after they have gone, and what each MiB is.
 *
 *   node egress-pod/bench/memory-bench.ts [--viewers 100] [--seconds 20] [--after 60]
 *     [--workers auto] [--source]
 *
 * The egress runs as the image runs it (the compiled dist/, built first; --source runs the
 * TypeScript as written) with the clip of the load benchmarks; the viewers are real werift peers
 * in their own process (bench/whep-load.ts). Each sample prints, as JSON lines:
 * - the process's RSS from /proc/<pid>/status: anonymous (heaps, malloc, stacks) and file-backed
 *   (pages of Node's own binary and libraries it touched: shared, clean, reclaimable);
 * - from /proc/<pid>/smaps: the Node binary's code and read-only data (ICU, the V8 snapshot),
 *   malloc's main heap, and the rest of the anonymous memory;
 * - per thread (corecast_egress_thread_memory_bytes): V8 heap used and resident, external,
 *   malloced, and for the main thread code and array buffers.
 * At the end: idle RSS, RSS per viewer, RSS `--after` seconds after the last viewer left.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, scrape, start } from './lib.ts';
import { benchRig } from './rig.ts';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    after: { type: 'string', default: '60' },
    workers: { type: 'string', default: 'auto' },
    source: { type: 'boolean', default: false },
  },
});
const viewers = Number(values.viewers);
const MiB = 2 ** 20;
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** kB fields of /proc/<pid>/status, in MiB. */
async function status(pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(VmRSS|RssAnon|RssFile|RssShmem|Threads):\s+(\d+)/gm)) out[m[1]!] = Number(m[2]) / (m[1] === 'Threads' ? 1 : 1024);
  return out;
}

/** Resident MiB by mapping kind, from /proc/<pid>/smaps. */
async function mappings(pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const out: Record<string, number> = { node_code: 0, node_data: 0, libraries: 0, malloc_heap: 0, anonymous: 0 };
  let kind = 'anonymous';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line);
    if (head) {
      const [, perms, path] = head;
      if (path === '[heap]') kind = 'malloc_heap';
      else if (path!.endsWith('/node')) kind = perms!.includes('x') ? 'node_code' : 'node_data';
      else if (path!.startsWith('/')) kind = 'libraries';
      else kind = 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind]! += Number(rss[1]) / 1024;
  }
  return out;
}

/** corecast_egress_thread_memory_bytes as thread → type → MiB. */
function threads(m: Map<string, number>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [key, value] of m) {
    const match = /^corecast_egress_thread_memory_bytes\{thread="([^"]+)",type="([^"]+)"\}$/.exec(key);
    if (match) (out[match[1]!] ??= {})[match[2]!] = Math.round((value / MiB) * 10) / 10;
  }
  return out;
}

async function sample(label: string, pid: number, metricsUrl: string): Promise<number> {
  const [s, maps, m] = await Promise.all([status(pid), mappings(pid), scrape(metricsUrl)]);
  const perThread = threads(m);
  const heapResident = Object.values(perThread).reduce((n, t) => n + (t.heap_physical ?? 0), 0);
  emit(`memory.${label}.rss`, s.VmRSS!, 'MiB', { anon: s.RssAnon, file: s.RssFile, threads: s.Threads });
  emit(`memory.${label}.mappings`, s.VmRSS!, 'MiB', Object.fromEntries(Object.entries(maps).map(([k, v]) => [k, Math.round(v * 10) / 10])));
  emit(`memory.${label}.v8_heaps_resident`, heapResident, 'MiB', {
    what: 'every thread’s V8 heap pages in memory; the rest of the anonymous RSS is native (malloc: OpenSSL, libuv, Buffers’ backing stores, thread stacks)',
    native: Math.round((s.RssAnon! - heapResident) * 10) / 10,
  });
  for (const [thread, figures] of Object.entries(perThread)) emit(`memory.${label}.thread.${thread}`, figures.heap_used ?? 0, 'MiB', figures);
  return s.VmRSS!;
}

const dir = await mkdtemp(join(tmpdir(), 'corecast-memory-'));
const rig = await benchRig(dir, {
  gopSeconds: 4,
  workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
  compiled: !values.source,
});
const pid = rig.egress.pid!;
try {
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'start', note: 'a shared machine: other work runs beside the benchmark' });
  await sleep(10_000);
  const idle = await sample('idle', pid, rig.metrics);
  const load = start(process.execPath, [
    join(root, 'egress-pod/bench/whep-load.ts'),
    ...['--url', rig.whep, '--viewers', String(viewers), '--seconds', values.seconds, '--label', 'memory'],
  ]);
  let out = '';
  let held: Promise<number> | undefined;
  load.stdout?.on('data', (d) => {
    out += d;
    if (!held && out.includes('"event":"holding"')) held = sample('viewers', pid, rig.metrics);
  });
  const code = await new Promise((r) => load.on('exit', r));
  if (!held) throw new Error(`load client exited ${code} before holding its viewers: ${load.tail()}`);
  const withViewers = await held;
  const connected = Number(/"name":"memory\.viewers_connected","value":(\d+)/.exec(out)?.[1] ?? 0);
  await sleep(5000);
  await sample('left_5s', pid, rig.metrics);
  await sleep(Number(values.after) * 1000 - 5000);
  const after = await sample(`left_${values.after}s`, pid, rig.metrics);
  emit('memory.rss_idle', idle, 'MiB', { target: '<= 100', code: values.source ? 'TypeScript sources' : 'compiled dist/' });
  emit('memory.rss_per_viewer', (withViewers - idle) / Math.max(1, connected), 'MiB', { viewers: connected, target: '<= 0.5' });
  emit('memory.rss_after_last_viewer', after, 'MiB', { seconds: Number(values.after), aboveIdle: Math.round((after - idle) * 10) / 10, target: 'within 20 of idle' });
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'end' });
} catch (error) {
  console.error(`memory benchmark failed: ${(error as Error).message}\negress: ${rig.egress.tail()}`);
  process.exitCode = 1;
} finally {
  await rig.stop();
  await rm(dir, { recursive: true, force: true });
}
