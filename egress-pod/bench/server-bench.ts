/**
 * The load steps of `npm run bench:egress` against any WHEP server already running and fed:
 * `npm run bench:egress -- --url <WHEP endpoint> --server-pid <pid>` (or this file directly).
 * Another server (MediaMTX, Janus behind a signalling adapter, another Corecast) is measured
 * exactly like the egress: the same load client (real werift viewers in their own process,
 * 8 MiB receive buffers, the kernel's drop counters of its sockets checked), and the server's
 * CPU read from /proc/<pid>/stat (user + system time of all its threads) over the same window,
 * its RSS from /proc/<pid>/status at the window's end. Run each server alone, on the same
 * machine, one after the other, with the same feed.
 *
 *   node egress-pod/bench/server-bench.ts --url http://127.0.0.1:8889/bench/whep --server-pid 1234 \
 *     [--steps 50,100,150] [--seconds 20] [--label mediamtx] [--server-offer] [--verify 10] [--address A]
 *     [--metrics <a Corecast egress's /metrics URL>]
 *
 * Prints JSON lines {name, value, unit}; a step fails on any loss, any viewer not connected, or
 * any datagram the load client's sockets (or any socket of the network namespace, /proc/net/snmp)
 * dropped. `viewers_held` is the last step before the first failure.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, loopDelays, maximum, scrape, start, stepFigures } from './lib.ts';
import { namespaceUdpErrors, udpDrops } from './udp-drops.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    'server-pid': { type: 'string' },
    steps: { type: 'string', default: '50,100,150' },
    seconds: { type: 'string', default: '20' },
    label: { type: 'string', default: 'server' },
    // The server makes the offer (Janus behind bench/janus-whep.ts): passed to the load client.
    'server-offer': { type: 'boolean', default: false },
    // Viewers that decrypt for real (the others count sequence numbers): they time the first keyframe.
    verify: { type: 'string', default: '10' },
    // The local address the load client's ICE uses (whep-load.ts --address).
    address: { type: 'string' },
    // A Corecast egress's /metrics: its event-loop delays and fan-out delay are printed per step.
    metrics: { type: 'string' },
  },
  strict: false,
});
const url = values.url as string | undefined;
const pid = Number(values['server-pid']);
if (!url || !Number.isInteger(pid) || pid <= 0) {
  console.error('--url <WHEP endpoint> and --server-pid <pid of the server> are required');
  process.exit(2);
}
const label = String(values.label);
const seconds = Number(values.seconds);
const root = new URL('../../', import.meta.url).pathname;
/** Clock ticks per second of /proc/<pid>/stat's times. */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds of a process, all threads (fields 14 and 15 of /proc/<pid>/stat). */
async function cpuSeconds(of: number): Promise<number> {
  const stat = await readFile(`/proc/${of}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

async function rssMiB(of: number): Promise<number> {
  const status = await readFile(`/proc/${of}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
}

const idleRss = await rssMiB(pid);
emit(`${label}.rss_idle`, idleRss, 'MiB');
emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'start', note: 'a shared machine: other work runs beside the benchmark' });
/** Zero loss so far: every step until this one had every viewer connected, nothing lost, nothing dropped. */
let held = 0;
let holding = true;
for (const n of values.steps!.toString().split(',').map(Number)) {
  const load = start(process.execPath, [
    join(root, 'egress-pod/bench/whep-load.ts'),
    ...['--url', url, '--viewers', String(n), '--seconds', String(seconds), '--label', `step${n}`, '--verify', String(values.verify)],
    ...(values['server-offer'] ? ['--server-offer'] : []),
    ...(values.address ? ['--address', String(values.address)] : []),
  ]);
  // Stopped from outside: the load client goes too.
  const interrupted = () => {
    console.error(`${label} step ${n}: stopped by SIGTERM`);
    load.kill('SIGTERM');
    process.exit(1);
  };
  process.once('SIGTERM', interrupted);
  let out = '';
  type Reading = [cpu: number, drops: number, udp: { rcvbufErrors: number; inErrors: number }];
  let atHolding: Promise<Reading> | undefined;
  let atEnd: Promise<[...Reading, number]> | undefined;
  // Corecast's own view of the window (the first scrape resets its main-thread loop histogram).
  let metricsAtEnd: Promise<Map<string, number> | undefined> | undefined;
  const metricsNow = () => (values.metrics ? scrape(String(values.metrics)).catch(() => undefined) : Promise.resolve(undefined));
  load.stdout?.on('data', (d) => {
    out += d;
    if (!atHolding && out.includes('"event":"holding"')) {
      atHolding = Promise.all([cpuSeconds(pid), udpDrops(load.pid!), namespaceUdpErrors()]);
      void metricsNow();
    }
    if (!atEnd && out.includes('"event":"window-end"')) {
      atEnd = Promise.all([cpuSeconds(pid), udpDrops(load.pid!), namespaceUdpErrors(), rssMiB(pid)]);
      metricsAtEnd = metricsNow();
    }
  });
  const code = await new Promise((r) => load.on('exit', r));
  process.off('SIGTERM', interrupted);
  if (!atHolding || !atEnd) {
    console.error(`step ${n}: the load client exited ${code} before its window: ${load.tail()}`);
    emit(`${label}.step.${n}.held`, 0, 'bool');
    break;
  }
  const [[cpu0, drops0, udp0], [cpu1, drops1, udp1, rss]] = await Promise.all([atHolding, atEnd]);
  const figures = stepFigures(out, n);
  const cores = (cpu1 - cpu0) / seconds;
  const connected = figures.viewers_connected ?? 0;
  emit(`${label}.step.${n}.cpu`, cores, 'cores', { from: `/proc/${pid}/stat` });
  emit(`${label}.step.${n}.cpu_per_viewer`, (1000 * cores) / Math.max(1, connected), 'ms/s');
  emit(`${label}.step.${n}.viewers_connected`, connected, 'viewers');
  emit(`${label}.step.${n}.viewers_silent`, figures.viewers_silent ?? 0, 'viewers', {
    what: 'connected, but received nothing in the window',
  });
  emit(`${label}.step.${n}.loss_ratio`, figures.loss_ratio ?? Number.NaN, 'ratio');
  emit(`${label}.step.${n}.load_client_drops`, drops1 - drops0, 'datagrams', { receiveBuffer: figures.client_receive_buffer });
  // The network namespace's counters: every UDP socket in it (the load client's, the server's).
  emit(`${label}.step.${n}.namespace_udp_rcvbuf_errors`, udp1.rcvbufErrors - udp0.rcvbufErrors, 'datagrams', { from: '/proc/net/snmp' });
  emit(`${label}.step.${n}.namespace_udp_in_errors`, udp1.inErrors - udp0.inErrors, 'datagrams', { from: '/proc/net/snmp' });
  emit(`${label}.step.${n}.rss`, rss, 'MiB');
  emit(`${label}.step.${n}.rss_per_viewer`, (rss - idleRss) / Math.max(1, connected), 'MiB');
  emit(`${label}.step.${n}.load_client_cpu`, figures.client_cpu ?? 0, 'cores');
  emit(`${label}.step.${n}.first_packet_p50`, figures.first_packet_p50 ?? Number.NaN, 'ms', { what: 'POST to the first RTP packet' });
  if (figures.first_keyframe_p50 !== undefined) {
    emit(`${label}.step.${n}.first_keyframe_p50`, figures.first_keyframe_p50, 'ms', {
      viewers: figures.first_keyframe_viewers,
      what: 'POST to the first packet of a keyframe, decrypting viewers',
    });
    emit(`${label}.step.${n}.first_keyframe_p95`, figures.first_keyframe_p95 ?? Number.NaN, 'ms');
  }
  const m = await metricsAtEnd;
  if (m) {
    const loop = loopDelays(m);
    emit(`${label}.step.${n}.event_loop_p99`, loop.worst, 'ms', { main: loop.main, worst_worker: loop.worker, from: 'the egress /metrics' });
    emit(`${label}.step.${n}.fanout_delay_p99`, maximum(m, 'corecast_egress_worker_fanout_delay_p99_seconds') * 1000, 'ms', {
      what: 'ingest to the last viewer sent, worst worker',
    });
  }
  const problems = [
    code !== 0 && `load client exit ${code}`,
    connected !== n && `${connected}/${n} viewers connected`,
    figures.loss_ratio !== 0 && `loss ${figures.loss_ratio}`,
    (figures.viewers_silent ?? 0) > 0 && `${figures.viewers_silent} silent viewers`,
    drops1 - drops0 > 0 && `the load client's sockets dropped ${drops1 - drops0} datagrams`,
    udp1.inErrors - udp0.inErrors > 0 && `the namespace's UDP InErrors grew by ${udp1.inErrors - udp0.inErrors}`,
  ].filter(Boolean);
  emit(`${label}.step.${n}.held`, problems.length === 0 ? 1 : 0, 'bool');
  if (problems.length > 0) console.error(`${label} step ${n}: ${problems.join(', ')}\n${load.tail()}`);
  holding &&= problems.length === 0;
  if (holding) held = n;
  await new Promise((r) => setTimeout(r, 3000));
}
emit(`${label}.viewers_held`, held, 'viewers', {
  criteria: 'every step up to it: all viewers connected, zero loss, no datagram dropped in the namespace',
});
// What the server keeps once every viewer has gone (the last step's sessions closed 3 s ago).
await new Promise((r) => setTimeout(r, 5000));
emit(`${label}.rss_after_load`, await rssMiB(pid), 'MiB', { after: 'the last viewers left 8 s before' });
emit('machine.load_average_1m', loadavg()[0]!, 'load', { when: 'end' });
