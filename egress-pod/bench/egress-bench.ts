/**
 * `npm run bench:egress`: the egress pod under load, on this machine, in one run.
 *
 * - viewers held by one egress process (one core) for a 720p30 ~2.5 Mbps H.264 + Opus stream
 *   with zero loss and event-loop delay p99 ≤ 20 ms: viewer steps until a step fails;
 * - egress RSS idle and per viewer, CPU per viewer, ingest-to-last-viewer delay;
 * - then (unless --no-browser) bench/browser-bench.ts: time to first frame and glass-to-glass in
 *   Chromium.
 *
 * The source is a pre-encoded clip streamed with the production FFmpeg command (video copied),
 * so FFmpeg costs next to nothing; the load is real werift peers in a separate process
 * (bench/whep-load.ts), so the egress is measured, not the load generator.
 * Prints one JSON object per line: {name, value, unit}.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchRig } from './rig.ts';
import { emit, loopDelays, maximum, scrape, start, stepFigures, total } from './lib.ts';
import { udpDrops } from './udp-drops.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50,100,150,200,250,300,400' },
    seconds: { type: 'string', default: '15' },
    gop: { type: 'string', default: '4' },
    'cpu-prof': { type: 'string' },
    workers: { type: 'string', default: '1' },
    'no-browser': { type: 'boolean', default: false },
    // off: werift's UDP socket per viewer and address instead of the one media port (comparison).
    'ice-mux': { type: 'string', default: 'on' },
    // off: one dgram send per datagram instead of rtc-fastpath's sendmmsg batches (comparison).
    'batch-send': { type: 'string', default: 'on' },
    // off: SRTP protected in JavaScript instead of rtc-fastpath's addon (comparison; needs batch-send on to matter).
    'native-srtp': { type: 'string', default: 'on' },
    // Run the compiled dist/ the image runs instead of the TypeScript sources.
    compiled: { type: 'boolean', default: false },
    // Run every step even after one failed (comparisons at fixed viewer counts).
    'keep-going': { type: 'boolean', default: false },
    // Another WHEP server, already running and fed: the same load steps, its CPU from /proc (server-bench.ts).
    url: { type: 'string' },
    'server-pid': { type: 'string' },
    label: { type: 'string' },
    // The egress beside Janus, each in its own loopback-only network namespace (side-by-side.ts).
    'side-by-side': { type: 'boolean', default: false },
    servers: { type: 'string' },
  },
});
if (values['side-by-side']) {
  const child = spawn(process.execPath, [new URL('./side-by-side.ts', import.meta.url).pathname, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit((await new Promise<number | null>((r) => child.on('exit', r))) ?? 1);
}
if (values.url) {
  const child = spawn(process.execPath, [new URL('./server-bench.ts', import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit((await new Promise<number | null>((r) => child.on('exit', r))) ?? 1);
}
const steps = values.steps.split(',').map(Number);
/** A fan-out delay (ingest to last viewer) p99 above this means the worker is falling behind. */
const MAX_FANOUT_DELAY_MS = 100;
const node = process.execPath;
const root = new URL('../../', import.meta.url).pathname;

const dir = await mkdtemp(join(tmpdir(), 'corecast-bench-'));
const rig = await benchRig(dir, {
  gopSeconds: Number(values.gop),
  workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
  nodeArgs: values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [],
  env: { CORECAST_EGRESS_ICE_MUX: values['ice-mux'], CORECAST_BATCH_SEND: values['batch-send'], CORECAST_NATIVE_SRTP: values['native-srtp'] },
  compiled: values.compiled,
});
const { whep } = rig;
const metricsUrl = rig.metrics;

/** What one step of viewers measured. */
interface StepFigures {
  /** Every viewer connected, nothing lost, no fan-out backlog (p99 delay within MAX_FANOUT_DELAY_MS). */
  delivered: boolean;
  /** And every event loop's delay p99 within 20 ms. */
  pass: boolean;
  why: string;
  connected: number;
  lossRatio: number;
  p99: number;
  /** The main thread's alone. */
  mainP99: number;
  rss: number;
  cpu: number;
  /** Media datagrams sent to viewers per second (one per packet and viewer). */
  datagrams: number;
  fanoutDelay: number;
  clientCpu: number;
  srtp: string | undefined;
  /** UDP sockets the egress process held with the step's viewers connected. */
  udpSockets: number;
  /** Datagrams a second one worker passed to another (the mux's thread traffic; 0 with one worker). */
  forwarded: number;
  /** Datagrams the load client's sockets dropped in the window (their kernel receive buffers overflowed). */
  clientDrops: number;
}

/**
 * UDP sockets the egress process holds: its descriptors that are sockets (/proc/<pid>/fd) and
 * appear in the kernel's UDP tables (/proc/<pid>/net/udp, udp6), by inode.
 */
async function udpSockets(pid: number): Promise<number> {
  const inodes = new Set<string>();
  for (const table of ['udp', 'udp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) inodes.add(inode);
    }
  }
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode && inodes.has(inode)) n++;
  }
  return n;
}

/** Holds `n` viewers from a separate load process; egress figures cover the steady window only. */
async function runStep(n: number): Promise<StepFigures> {
  const load = start(node, [
    join(root, 'egress-pod/bench/whep-load.ts'),
    '--url',
    whep,
    '--viewers',
    String(n),
    '--seconds',
    values.seconds,
    '--label',
    `step${n}`,
  ]);
  let out = '';
  let atHolding: Promise<Map<string, number>> | undefined;
  let atEnd: Promise<Map<string, number>> | undefined;
  let srtp: string | undefined;
  let sockets: Promise<number> | undefined;
  let dropsAtHolding: Promise<number> | undefined;
  let dropsAtEnd: Promise<number> | undefined;
  load.stdout?.on('data', (d) => {
    out += d;
    // The first scrape also resets the egress's event-loop histogram: its p99 covers the window.
    if (!atHolding && out.includes('"event":"holding"')) {
      atHolding = scrape(metricsUrl);
      sockets = udpSockets(rig.egress.pid!);
      dropsAtHolding = udpDrops(load.pid!);
    }
    if (!atEnd && out.includes('"event":"window-end"')) {
      atEnd = scrape(metricsUrl);
      dropsAtEnd = udpDrops(load.pid!);
      srtp = /"event":"window-end","srtp":"(\w+)"/.exec(out)?.[1];
    }
  });
  const code = await new Promise((r) => load.on('exit', r));
  const figures = stepFigures(out, n);
  if (!atHolding || !atEnd)
    return {
      delivered: false,
      pass: false,
      mainP99: Number.NaN,
      why: `load client exited ${code} before its window: ${load.tail()}`,
      connected: 0,
      lossRatio: Number.NaN,
      p99: Number.NaN,
      rss: 0,
      cpu: 0,
      datagrams: 0,
      fanoutDelay: Number.NaN,
      clientCpu: 0,
      srtp,
      udpSockets: 0,
      forwarded: 0,
      clientDrops: 0,
    };
  const [m0, m1] = await Promise.all([atHolding, atEnd]);
  const seconds = Number(values.seconds);
  const step = {
    connected: figures.viewers_connected ?? 0,
    lossRatio: figures.loss_ratio ?? Number.NaN,
    // The worst event loop: the main thread's (HTTP, ingest) or a fan-out worker's (its viewers' jitter).
    p99: loopDelays(m1).worst,
    mainP99: loopDelays(m1).main,
    rss: total(m1, 'process_resident_memory_bytes') / 2 ** 20,
    cpu: (total(m1, 'process_cpu_seconds_total') - total(m0, 'process_cpu_seconds_total')) / seconds,
    datagrams: (total(m1, 'corecast_egress_rtp_packets_out_total') - total(m0, 'corecast_egress_rtp_packets_out_total')) / seconds,
    fanoutDelay: maximum(m1, 'corecast_egress_worker_fanout_delay_p99_seconds') * 1000,
    clientCpu: figures.client_cpu ?? 0,
    srtp,
    udpSockets: (await sockets) ?? 0,
    forwarded: (total(m1, 'corecast_egress_ice_mux_forwarded_total') - total(m0, 'corecast_egress_ice_mux_forwarded_total')) / seconds,
    clientDrops: ((await dropsAtEnd) ?? 0) - ((await dropsAtHolding) ?? 0),
  };
  const lost = [
    code !== 0 && `load client exit ${code}`,
    step.connected !== n && `${step.connected}/${n} viewers connected`,
    step.lossRatio !== 0 && `loss ${step.lossRatio}`,
    step.clientDrops > 0 && `the load client's sockets dropped ${step.clientDrops} datagrams (its receive buffers overflowed)`,
    (figures.viewers_silent ?? 0) > 0 && `${figures.viewers_silent} silent viewers`,
    // A worker that falls behind queues packets (delay grows) or sheds them (overruns).
    step.fanoutDelay > MAX_FANOUT_DELAY_MS && `fan-out delay p99 ${step.fanoutDelay.toFixed(0)} ms`,
    total(m1, 'corecast_egress_fanout_overruns_total') > total(m0, 'corecast_egress_fanout_overruns_total') && 'fan-out overruns',
  ].filter(Boolean);
  const problems = [...lost, step.p99 > 20 && `event-loop delay p99 ${step.p99.toFixed(1)} ms`].filter(Boolean);
  return {
    delivered: lost.length === 0,
    pass: problems.length === 0,
    why: `${problems.join(', ')}; load client: ${JSON.stringify(figures)}\n${load.tail()}`,
    ...step,
  };
}

try {
  await new Promise((r) => setTimeout(r, 3000));
  const idle = await scrape(metricsUrl);
  const idleRss = total(idle, 'process_resident_memory_bytes') / 2 ** 20;
  emit('egress.rss_idle', idleRss, 'MiB');
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'start', cores: availableParallelism() });
  emit('egress.udp_send_path', total(idle, 'corecast_egress_udp_send_path{path="sendmmsg"}'), 'sendmmsg', { batchSend: values['batch-send'] });

  let best = 0;
  let delivered = 0;
  let deliveredStep: StepFigures | undefined;
  for (const n of steps) {
    const step = await runStep(n);
    emit(`egress.step.${n}.loss_ratio`, step.lossRatio, 'ratio');
    emit(`egress.step.${n}.event_loop_delay_p99`, step.p99, 'ms', { main: step.mainP99 });
    emit(`egress.step.${n}.viewers_connected`, step.connected, 'viewers');
    emit(`egress.step.${n}.rss`, step.rss, 'MiB');
    emit(`egress.step.${n}.cpu`, step.cpu, 'cores');
    emit(`egress.step.${n}.fanout_delay_p99`, step.fanoutDelay, 'ms', { what: 'ingest to the last viewer sent, worst worker' });
    emit(`egress.step.${n}.cpu_per_viewer`, (1000 * step.cpu) / Math.max(1, step.connected), 'ms/s');
    emit(`egress.step.${n}.cpu_per_datagram`, (1e6 * step.cpu) / Math.max(1, step.datagrams), 'µs', {
      datagramsPerSecond: Math.round(step.datagrams),
      nativeSrtp: values['native-srtp'],
    });
    emit(`egress.step.${n}.load_client_cpu`, step.clientCpu, 'cores', { srtp: step.srtp });
    emit(`egress.step.${n}.load_client_drops`, step.clientDrops, 'datagrams', { what: "drops counted by the kernel on the load client's sockets in the window" });
    emit(`egress.step.${n}.mux_forwarded_per_second`, step.forwarded, 'datagrams/s', { what: 'passed between workers (inbound only)' });
    emit(`egress.step.${n}.udp_sockets`, step.udpSockets, 'sockets', { iceMux: values['ice-mux'], what: 'UDP sockets of the egress process (RTP ingest included)' });
    if (!step.pass) console.error(`step ${n}: ${step.why}`);
    // Steps go on while every packet arrives; the 20 ms event-loop bound is judged per step.
    if (!step.delivered && !values['keep-going']) break;
    if (step.delivered) {
      delivered = n;
      deliveredStep = step;
      if (step.pass) best = n;
    }
    await new Promise((r) => setTimeout(r, 3000)); // let closed sessions drain
  }
  // Fan-out on the main thread (0 workers) is one core's work too.
  const workers = total(idle, 'corecast_egress_workers');
  const cores = Math.max(1, workers);
  emit('egress.viewers_held', best, 'viewers', { workers, criteria: 'zero loss, every event-loop delay p99 <= 20 ms' });
  emit('egress.viewers_per_core', best / cores, 'viewers', { workers });
  emit('egress.viewers_sustained', delivered, 'viewers', {
    workers,
    criteria: `zero loss, fan-out delay p99 <= ${MAX_FANOUT_DELAY_MS} ms, no overrun (event loop not judged)`,
  });
  if (deliveredStep) {
    emit('egress.rss_per_viewer', (deliveredStep.rss - idleRss) / delivered, 'MiB', { at: delivered });
    // What one core could carry at this per-viewer cost, were the load generator elsewhere.
    emit('egress.cpu_per_viewer', (1000 * deliveredStep.cpu) / delivered, 'ms/s', { at: delivered });
    emit('egress.projected_viewers_per_core', delivered / deliveredStep.cpu, 'viewers', {
      basis: 'viewers / egress CPU cores used, 100 % busy',
    });
  }
  emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'end', cores: availableParallelism() });
} catch (error) {
  console.error(`benchmark failed: ${(error as Error).message}\negress: ${rig.egress.tail()}\nffmpeg: ${rig.ffmpeg.tail()}`);
  process.exitCode = 1;
} finally {
  await rig.stop();
  await rm(dir, { recursive: true, force: true });
}

if (!values['no-browser']) {
  const browser = spawn(node, [join(root, 'egress-pod/bench/browser-bench.ts')], { stdio: 'inherit' });
  const code = await new Promise((r) => browser.on('exit', r));
  if (code !== 0) process.exitCode = 1;
}
