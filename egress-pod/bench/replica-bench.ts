/**
 * `npm run bench:egress:replicas`: what egress replicas cost and hold on this machine.
 *
 * - The relay: replica 0 (its own process, the image's Node flags) fed by the production FFmpeg
 *   command, relaying to 0, 1, 2, 4 and 8 targets (UDP sinks in this process that count what
 *   arrives, and a /room answer for each, which replica 0 polls every second as it does a
 *   sibling); the egress process's CPU over a window, from /proc/<pid>/stat. A target's cost is
 *   the CPU above the 0-target run (relay and room poll together), also given per datagram relayed.
 * - Viewers held with zero loss by 1, 2 and 3 replicas (each its own process with one fan-out
 *   worker, siblings fed by replica 0's relay): load steps of real werift viewers
 *   (bench/whep-load.ts, a separate process) POSTing to replica 0 only, placement spreading them.
 *
 * Prints one JSON object per line: {name, value, unit}. No assertion: figures for the README.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, scrape, start, stepFigures, stop, total, waitFor } from './lib.ts';
import { cpuSeconds, type Replica, startReplica, writeAtomic } from './replica-rig.ts';
import { feedArgs, makeClip } from './rig.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '0,1,2,4,8' },
    'relay-seconds': { type: 'string', default: '20' },
    replicas: { type: 'string', default: '1,2,3' },
    steps: { type: 'string', default: '100,150,200,250,300,400' },
    seconds: { type: 'string', default: '10' },
    'no-relay': { type: 'boolean', default: false },
    'no-viewers': { type: 'boolean', default: false },
  },
});
const root = new URL('../../', import.meta.url).pathname;
const dir = await mkdtemp(join(tmpdir(), 'corecast-replica-bench-'));
const clip = await makeClip(dir, 4);
/** Viewers' sessions: a short liveness timeout, no per-client cap (every load viewer is on loopback). */
const SESSION = { livenessTimeoutSeconds: 15, maxPerClient: 10000 };

/** The relay's cost: replica 0 relaying to `n` UDP sinks for each n. */
async function relayCost(): Promise<void> {
  const targetsFile = join(dir, 'relay-targets');
  await writeAtomic(targetsFile, '');
  const r0 = await startReplica(0, targetsFile, { session: SESSION });
  const ffmpeg = start('ffmpeg', await feedArgs(dir, { gopSeconds: 4, clip }, { videoPort: r0.video, audioPort: r0.audio }));
  ffmpeg.stdout?.resume();
  const sinks: { socket: Socket; received: number }[] = [];
  let closeRoom = () => {};
  try {
    await waitFor('source up', async () => ((await fetch(`http://127.0.0.1:${r0.http}/readyz`)).ok ? true : undefined), 60_000);
    const most = Math.max(...values.targets.split(',').map(Number));
    sinks.push(...(await Promise.all(Array.from({ length: 2 * most }, sink))));
    // Each target's /room, as a sibling answers it: replica 0 asks every target once a second.
    const room = createServer((_, res) => res.end(JSON.stringify({ viewers: 0, max: 1, draining: false })));
    await new Promise<void>((r) => room.listen(0, '127.0.0.1', r));
    closeRoom = () => room.close();
    const roomPort = (room.address() as AddressInfo).port;
    let zero: number | undefined;
    for (const n of values.targets.split(',').map(Number)) {
      const entries = Array.from({ length: n }, (_, i) => {
        const [v, a] = [sinks[2 * i]!.socket.address().port, sinks[2 * i + 1]!.socket.address().port];
        return `${i + 1}=127.0.0.1:${v}:${a}:${roomPort}`;
      });
      await writeAtomic(targetsFile, entries.join(','));
      await new Promise((r) => setTimeout(r, 3000));
      const received0 = sinks.reduce((s, x) => s + x.received, 0);
      const [m0, cpu0, t0] = [await scrape(r0.metrics), await cpuSeconds(r0.child.pid!), performance.now()];
      await new Promise((r) => setTimeout(r, Number(values['relay-seconds']) * 1000));
      const [m1, cpu1, t1] = [await scrape(r0.metrics), await cpuSeconds(r0.child.pid!), performance.now()];
      await new Promise((r) => setTimeout(r, 300));
      const seconds = (t1 - t0) / 1000;
      const cores = (cpu1 - cpu0) / seconds;
      const packets = total(m1, 'corecast_egress_rtp_packets_in_total') - total(m0, 'corecast_egress_rtp_packets_in_total');
      const relayed = total(m1, 'corecast_egress_relay_packets_total') - total(m0, 'corecast_egress_relay_packets_total');
      const arrived = sinks.reduce((s, x) => s + x.received, 0) - received0;
      zero ??= n === 0 ? cores : undefined;
      emit(`relay.targets${n}.cpu`, cores * 1000, 'ms/s', {
        packetsPerSecond: Math.round(packets / seconds),
        relayedPerSecond: Math.round(relayed / seconds),
      });
      emit(`relay.targets${n}.arrived_ratio`, relayed > 0 ? Math.min(arrived, relayed) / relayed : 1, 'ratio');
      if (n > 0 && zero !== undefined && relayed > 0) {
        emit(`relay.targets${n}.cpu_per_datagram`, (((cores - zero) * seconds) / relayed) * 1e6, 'µs', { perTarget: true });
        emit(`relay.targets${n}.cpu_per_target`, ((cores - zero) * 1000) / n, 'ms/s');
      }
    }
  } finally {
    for (const s of sinks) s.socket.close();
    closeRoom();
    await stop(ffmpeg);
    await stop(r0.child);
  }
}

/** A UDP socket on loopback counting what arrives (a relay target's RTP port). */
async function sink(): Promise<{ socket: Socket; received: number }> {
  const socket = createSocket('udp4');
  const s = { socket, received: 0 };
  socket.on('message', () => s.received++);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return s;
}

/** Viewer steps against `count` replicas through replica 0; the most held with zero loss. */
async function viewersHeld(count: number): Promise<void> {
  const targetsFile = join(dir, `relay-targets-${count}`);
  await writeAtomic(targetsFile, '');
  const replicas: Replica[] = [];
  let ffmpeg: ReturnType<typeof start> | undefined;
  try {
    for (let i = 0; i < count; i++) replicas.push(await startReplica(i, targetsFile, { session: SESSION }));
    await writeAtomic(
      targetsFile,
      replicas
        .slice(1)
        .map((r) => `${r.index}=127.0.0.1:${r.video}:${r.audio}:${r.http}`)
        .join(','),
    );
    ffmpeg = start(
      'ffmpeg',
      await feedArgs(dir, { gopSeconds: 4, clip }, { videoPort: replicas[0]!.video, audioPort: replicas[0]!.audio }),
    );
    ffmpeg.stdout?.resume();
    for (const r of replicas) {
      await waitFor(
        `replica ${r.index} source`,
        async () => ((await fetch(`http://127.0.0.1:${r.http}/readyz`)).ok ? true : undefined),
        60_000,
      );
    }
    await new Promise((r) => setTimeout(r, 2000)); // replica 0 has polled every room
    let held = 0;
    for (const n of values.steps.split(',').map(Number)) {
      const load = start(process.execPath, [
        join(root, 'egress-pod/bench/whep-load.ts'),
        '--url',
        `http://127.0.0.1:${replicas[0]!.http}/api/v3/process/bench/whep`,
        '--viewers',
        String(n),
        '--seconds',
        values.seconds,
        '--label',
        `step${n}`,
      ]);
      let out = '';
      let spread = '';
      load.stdout?.on('data', (d) => {
        out += d;
        if (!spread && out.includes('"event":"holding"')) {
          spread = 'pending';
          void Promise.all(replicas.map(async (r) => total(await scrape(r.metrics), 'corecast_egress_viewers'))).then((v) => {
            spread = v.join('/');
          });
        }
      });
      const code = await new Promise((r) => load.on('exit', r));
      const f = stepFigures(out, n);
      // Why sessions ended on each replica during the step (a viewer that went silent says why here).
      const closed = await Promise.all(
        replicas.map(async (r) =>
          [...(await scrape(r.metrics))]
            .filter(([k, v]) => k.startsWith('corecast_egress_sessions_closed_total') && v > 0)
            .map(([k, v]) => `${/reason="([^"]+)"/.exec(k)?.[1]}=${v}`)
            .join(' '),
        ),
      );
      const ok = code === 0 && f.viewers_connected === n && f.viewers_silent === 0 && f.loss_ratio === 0;
      emit(`replicas${count}.step${n}.loss_ratio`, f.loss_ratio ?? Number.NaN, 'ratio', {
        connected: f.viewers_connected,
        silent: f.viewers_silent,
        perReplica: spread,
        closed: closed.join(' / '),
        clientCpu: f.client_cpu,
        load: loadavg()[0]!.toFixed(1),
      });
      if (!ok) break;
      held = n;
      await new Promise((r) => setTimeout(r, 3000)); // the viewers' sessions end on every replica
    }
    emit(`replicas${count}.viewers_zero_loss`, held, 'viewers', { cores: availableParallelism() });
  } finally {
    if (ffmpeg) await stop(ffmpeg);
    for (const r of replicas) await stop(r.child);
  }
}

console.log(JSON.stringify({ event: 'machine', cores: availableParallelism(), load: loadavg() }));
try {
  if (!values['no-relay']) await relayCost();
  if (!values['no-viewers']) for (const n of values.replicas.split(',').map(Number)) await viewersHeld(n);
} finally {
  await rm(dir, { recursive: true, force: true });
}
