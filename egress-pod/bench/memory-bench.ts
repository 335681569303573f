/**
 * `npm run bench:egress:memory` (node egress-pod/bench/memory-bench.ts): the egress pod's memory
 * idle, with viewers, and after they have gone, and what each MiB is.
 *
 *   node egress-pod/bench/memory-bench.ts [--viewers 100] [--seconds 20] [--after 60]
 *     [--workers auto] [--source] [--settings both|image|before] [--try='<flags>|<env>']… [--idle-only]
 *     [--settle 60]
 *
 * `--settings`: the image's runtime settings (egress-pod/Dockerfile: its Node flags and malloc
 * variables, `imageSettings()`), the ones it had before (BEFORE below: a 2 MiB semi-space, Node's
 * four V8 helper threads, glibc's default arenas), or both, one after the other in the same run
 * (default), each in a fresh egress, with a summary of the two at the end. The CPU the egress used
 * while the viewers were held is printed too (ms per viewer-second), so a setting that saves
 * memory at the cost of CPU shows it. `--try='<node flags>|<VAR=value …>'` (repeatable) adds a run
 * with other settings, e.g. `--try='--max-semi-space-size=1|MALLOC_ARENA_MAX=4'`.
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
 * Idle is sampled twice, with the stream flowing and nobody watching: 10 s after the start, and
 * `--settle` seconds after it (default 60), once the heaps have reached the size they keep (RSS
 * is printed every 15 s on the way: the trend).
 * The settled figure is the idle RSS; per viewer and "after" are counted from it.
 * At the end: idle RSS, RSS per viewer, RSS `--after` seconds after the last viewer left.
 * `--idle-only` stops after the idle sample (no viewers): a quick look at a start-up change.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, scrape, start, total } from './lib.ts';
import { benchRig, imageSettings, type RuntimeSettings } from './rig.ts';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    after: { type: 'string', default: '60' },
    workers: { type: 'string', default: 'auto' },
    source: { type: 'boolean', default: false },
    settings: { type: 'string', default: 'both' },
    try: { type: 'string', multiple: true, default: [] },
    'idle-only': { type: 'boolean', default: false },
    settle: { type: 'string', default: '60' },
  },
});
if (!['both', 'image', 'before'].includes(values.settings))
  throw new Error(`--settings is both, image or before, not "${values.settings}"`);
/** The image's settings before the memory work: the Node flags it had, no malloc variables. */
const BEFORE: RuntimeSettings = { nodeArgs: ['--max-semi-space-size=2'], env: {} };
const viewers = Number(values.viewers);
const MiB = 2 ** 20;
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** kB fields of /proc/<pid>/status, in MiB. */
async function status(pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(VmRSS|RssAnon|RssFile|RssShmem|Threads):\s+(\d+)/gm))
    out[m[1]!] = Number(m[2]) / (m[1] === 'Threads' ? 1 : 1024);
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
  for (const [thread, figures] of Object.entries(perThread))
    emit(`memory.${label}.thread.${thread}`, figures.heap_used ?? 0, 'MiB', figures);
  return s.VmRSS!;
}

/** `--try='<node flags>|<VAR=value …>'`: other settings to measure beside them. */
function trySettings(text: string): RuntimeSettings {
  const [flags = '', vars = ''] = text.split('|');
  const env: Record<string, string> = {};
  for (const pair of vars.split(/\s+/).filter(Boolean)) {
    const [key, value] = pair.split('=');
    if (!key || value === undefined) throw new Error(`--try: "${pair}" is not VAR=value`);
    env[key] = value;
  }
  return { nodeArgs: flags.split(/\s+/).filter(Boolean), env };
}

/** CPU seconds the process has used (user + system), from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Figures {
  readonly idle: number;
  /** RSS 10 s after the start (before the heaps have settled). */
  readonly start: number;
  readonly perViewer: number;
  readonly after: number;
  readonly cpuMsPerViewerSecond: number;
}

/** One egress with `settings`: idle, with the viewers, and after they left. */
async function measure(name: string, settings: RuntimeSettings): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-memory-'));
  const rig = await benchRig(dir, {
    gopSeconds: 4,
    workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
    compiled: !values.source,
    settings,
  });
  const pid = rig.egress.pid!;
  const at = (phase: string) => `${name}.${phase}`;
  try {
    emit(`memory.${name}.settings`, 0, '', { nodeArgs: settings.nodeArgs.join(' '), env: settings.env });
    await sleep(10_000);
    const early = await sample(at('idle_10s'), pid, rig.metrics);
    // On the way to the settled sample, RSS every 15 s: the trend (does it level out, or climb?).
    const settle = Number(values.settle);
    let elapsed = 10;
    for (; elapsed + 15 < settle; elapsed += 15) {
      await sleep(15_000);
      emit(`memory.${name}.idle_trend.rss`, (await status(pid)).VmRSS!, 'MiB', { seconds: elapsed + 15 });
    }
    await sleep(Math.max(0, settle - elapsed) * 1000);
    const idle = await sample(at('idle'), pid, rig.metrics);
    if (values['idle-only']) return { idle, start: early, perViewer: NaN, after: NaN, cpuMsPerViewerSecond: NaN };
    const load = start(process.execPath, [
      join(root, 'egress-pod/bench/whep-load.ts'),
      ...['--url', rig.whep, '--viewers', String(viewers), '--seconds', values.seconds, '--label', 'memory'],
    ]);
    let out = '';
    let held: Promise<number> | undefined;
    // CPU from 'holding' to the end of the load client's window (its 'window-end', or its exit).
    let cpuFrom: Promise<{ cpu: number; at: number }> | undefined;
    let cpuTo: Promise<{ cpu: number; at: number }> | undefined;
    const cpuNow = async () => ({ cpu: await cpuSeconds(pid), at: performance.now() });
    load.stdout?.on('data', (d) => {
      out += d;
      if (!held && out.includes('"event":"holding"')) {
        held = sample(at('viewers'), pid, rig.metrics);
        cpuFrom = cpuNow();
      }
      if (held && !cpuTo && out.includes('"event":"window-end"')) cpuTo = cpuNow();
    });
    const code = await new Promise((r) => load.on('exit', r));
    cpuTo ??= cpuNow();
    if (!held || !cpuFrom) throw new Error(`load client exited ${code} before holding its viewers: ${load.tail()}`);
    const withViewers = await held;
    const connected = Number(/"name":"memory\.viewers_connected","value":(\d+)/.exec(out)?.[1] ?? 0);
    const [from, to] = await Promise.all([cpuFrom, cpuTo]);
    const viewerSeconds = Math.max(1, connected) * ((to.at - from.at) / 1000);
    // "After the last viewer left" counts from when the pod has none (its viewers gauge at 0).
    const until = performance.now() + 60_000;
    while (total(await scrape(rig.metrics), 'corecast_egress_viewers') > 0 && performance.now() < until) await sleep(250);
    await sleep(5000);
    await sample(at('left_5s'), pid, rig.metrics);
    await sleep(Number(values.after) * 1000 - 5000);
    const after = await sample(at(`left_${values.after}s`), pid, rig.metrics);
    emit(`memory.${name}.threads_replaced`, total(await scrape(rig.metrics), 'corecast_egress_worker_replacements_total'), 'threads', {
      what: 'idle fan-out threads replaced by a fresh one after the viewers left',
    });
    const figures = {
      idle,
      start: early,
      perViewer: (withViewers - idle) / Math.max(1, connected),
      after,
      cpuMsPerViewerSecond: ((to.cpu - from.cpu) * 1000) / viewerSeconds,
    };
    emit(`memory.${name}.rss_idle`, idle, 'MiB', {
      target: '<= 100',
      settledAfter: `${values.settle} s`,
      at10s: early,
      code: values.source ? 'TypeScript sources' : 'compiled dist/',
    });
    emit(`memory.${name}.rss_per_viewer`, figures.perViewer, 'MiB', { viewers: connected, target: '<= 0.5' });
    emit(`memory.${name}.rss_after_last_viewer`, after, 'MiB', {
      seconds: Number(values.after),
      aboveIdle: Math.round((after - idle) * 10) / 10,
      target: 'within 20 of idle',
    });
    emit(`memory.${name}.cpu_per_viewer_second`, figures.cpuMsPerViewerSecond, 'ms', { what: 'egress CPU while the viewers were held' });
    return figures;
  } catch (error) {
    throw new Error(`${(error as Error).message}\negress: ${rig.egress.tail()}`, { cause: error });
  } finally {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'start', note: 'a shared machine: other work runs beside the benchmark' });
  const runs: [string, RuntimeSettings][] = [];
  if (values.settings !== 'image') runs.push(['before', BEFORE]);
  if (values.settings !== 'before') runs.push(['image', imageSettings()]);
  values.try.forEach((t, i) => runs.push([`try${i + 1}`, trySettings(t)]));
  const results: Record<string, Figures> = {};
  for (const [name, settings] of runs) results[name] = await measure(name, settings);
  for (const [name, f] of Object.entries(results)) {
    emit(`memory.summary.${name}`, f.idle, 'MiB idle', {
      settledAfter: `${values.settle} s`,
      at10s: Math.round(f.start * 10) / 10,
      perViewer: Math.round(f.perViewer * 100) / 100,
      after: Math.round(f.after * 10) / 10,
      aboveIdle: Math.round((f.after - f.idle) * 10) / 10,
      cpuMsPerViewerSecond: Math.round(f.cpuMsPerViewerSecond * 100) / 100,
    });
  }
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'end' });
} catch (error) {
  console.error(`memory benchmark failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
