/**
 * One server of the side-by-side benchmark (bench/side-by-side.ts), run inside its own network
 * namespace (`unshare -n`: loopback, brought up here, and a veth end with one local address,
 * see addJanusInterface; no route out), with everything it needs beside it in the
 * namespace: FFmpeg feeding it the shared clip with the production command, the server, and the
 * load steps of bench/server-bench.ts (the load client, its CPU window, drop counters).
 *
 *   unshare -n node egress-pod/bench/side-by-side-server.ts --server corecast|janus --clip <loop.txt> \
 *     [--workers auto|1] [--steps 50,100] [--seconds 20] [--gop 4] [--label corecast-auto]
 *
 * Prints JSON lines {name, value, unit}, the server-bench's and its own: the namespace's
 * interfaces, Janus's NAT settings, and the packets that found no route out (Ip OutNoRoutes:
 * in a namespace with loopback alone, any try to reach an outside address counts there).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startJanusWhep } from './janus-whep.ts';
import { addJanusInterface, JANUS_ADDRESS, janusNatSettings, janusVersion, startJanus } from './janus.ts';
import { emit, freeTcpPort, start, stop } from './lib.ts';
import { benchRig, feedArgs } from './rig.ts';
import { namespaceNoRoutes } from './udp-drops.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    clip: { type: 'string' },
    workers: { type: 'string', default: 'auto' },
    steps: { type: 'string', default: '50,100,150,200' },
    seconds: { type: 'string', default: '20' },
    gop: { type: 'string', default: '4' },
    label: { type: 'string' },
    'client-nice': { type: 'string', default: '-10' },
    runs: { type: 'string', default: '20' },
  },
});
const server = values.server;
if ((server !== 'corecast' && server !== 'janus') || !values.clip) {
  console.error('--server corecast|janus and --clip <the loop playlist makeClip made> are required');
  process.exit(2);
}
const label = values.label ?? server;
/** The load client's niceness (root may raise it; --client-nice): see where it is set. */
const LOAD_CLIENT_PRIORITY = Number(values['client-nice']);
if (!Number.isInteger(LOAD_CLIENT_PRIORITY) || LOAD_CLIENT_PRIORITY < -20 || LOAD_CLIENT_PRIORITY > 19) {
  console.error(`--client-nice ${values['client-nice']}: a niceness from -20 to 19`);
  process.exit(2);
}

// A fresh namespace's loopback is down; nothing else is there.
// Every server's namespace gets Janus's interface and address, used or not: the same shape for all.
execFileSync('ip', ['link', 'set', 'lo', 'up']);
const added = addJanusInterface();
// /proc/net/dev is this namespace's (/sys/class/net is the namespace's that mounted /sys).
const interfaces = (await readFile('/proc/net/dev', 'utf8'))
  .split('\n')
  .slice(2)
  .map((l) => l.split(':')[0]!.trim())
  .filter(Boolean);
const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).trim().split('\n');
emit(`${label}.netns.interfaces`, interfaces.length, 'interfaces', { names: interfaces, routes });
if (interfaces.some((name) => ![...added, 'lo'].includes(name))) {
  console.error(`not a loopback-only namespace (interfaces: ${interfaces.join(', ')}): run this through unshare -n`);
  process.exit(2);
}
const noRoutes0 = await namespaceNoRoutes();

const dir = await mkdtemp(join(tmpdir(), `corecast-side-by-side-${server}-`));
const stops: (() => Promise<void>)[] = [];
// Stopped from outside (the driver interrupted): nothing of this run stays behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void (async () => {
      for (const s of stops) await s().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      process.exit(1);
    })();
  });
let url: string;
let pid: number;
/** The egress's /metrics (Corecast only): event-loop and fan-out delays per step. */
let metrics: string | undefined;
try {
  if (server === 'corecast') {
    const rig = await benchRig(dir, {
      gopSeconds: Number(values.gop),
      workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
      clip: values.clip,
    });
    stops.push(() => rig.stop());
    url = rig.whep;
    pid = rig.egress.pid!;
    metrics = rig.metrics;
  } else {
    const janus = await startJanus(dir);
    stops.push(() => janus.stop());
    const nat = await janusNatSettings(janus.configFile);
    emit(`${label}.nat_settings_to_outside`, nat.outside.length, 'settings', { nat: nat.nat, found: nat.outside, version: janusVersion() });
    if (nat.outside.length > 0) throw new Error(`Janus's configuration names an outside address: ${nat.outside.join(', ')}`);
    const adapter = await startJanusWhep(janus.api, await freeTcpPort());
    stops.unshift(() => adapter.close());
    const ffmpeg = start('ffmpeg', await feedArgs(dir, { gopSeconds: Number(values.gop), clip: values.clip }, janus));
    ffmpeg.stdout?.resume();
    stops.unshift(() => stop(ffmpeg));
    url = adapter.url;
    pid = janus.process.pid!;
  }
  // Settle (the feed's first keyframes, the server's start-up) before the idle reading.
  await new Promise((r) => setTimeout(r, 5000));
  emit(`${label}.netns.no_route_packets_at_start`, (await namespaceNoRoutes()) - noRoutes0, 'packets', {
    what: 'tries to reach an address outside the namespace while the server and its feed started (Ip OutNoRoutes)',
  });
  const bench = spawn(
    process.execPath,
    [
      new URL('./server-bench.ts', import.meta.url).pathname,
      ...['--url', url, '--server-pid', String(pid), '--steps', values.steps, '--seconds', values.seconds, '--label', label],
      ...(server === 'janus' ? ['--server-offer', '--address', JANUS_ADDRESS] : []),
      ...(metrics ? ['--metrics', metrics] : []),
    ],
    { stdio: 'inherit' },
  );
  // The load client (server-bench's whep-load child inherits this) must not be the one starved:
  // one thread reading every viewer's socket, on the same cores as the server and whatever else
  // runs on the machine. Starved, it fell seconds behind its sockets; the ICE consent answers
  // waiting there behind the media came too late for werift (500 ms) on both sides, and the
  // server closed those viewers (ice-failed) — "connected, but silent" — once two fan-out
  // threads took both cores. Niced up, the client keeps reading; the server gets the rest.
  setPriority(bench.pid!, LOAD_CLIENT_PRIORITY);
  stops.unshift(async () => void bench.kill('SIGTERM'));
  const code = await new Promise((r) => bench.on('exit', r));
  if (code !== 0) throw new Error(`server-bench exited ${code}`);
  const noRoutesLoad = await namespaceNoRoutes();
  emit(`${label}.netns.no_route_packets`, noRoutesLoad - noRoutes0, 'packets', {
    what: 'tries to reach an address outside the namespace from the start to the end of the load steps (Ip OutNoRoutes): nothing can leave it',
  });
  // Chromium's time to first frame, once the load has gone: late joiners at random GOP phases.
  const browser = spawn(
    process.execPath,
    [
      new URL('./browser-first-frame.ts', import.meta.url).pathname,
      ...['--url', url, '--label', label, '--runs', values.runs],
      ...(server === 'janus' ? ['--server-offer'] : []),
    ],
    { stdio: 'inherit' },
  );
  stops.unshift(async () => void browser.kill('SIGTERM'));
  // A browser that cannot play is printed (its own line on stderr) but keeps the load figures.
  await new Promise((r) => browser.on('exit', r));
  // Chromium's WebRTC asks the kernel for a route to a public address (a UDP connect, no
  // datagram) to learn its default local address: counted here apart from the server's.
  emit(`${label}.netns.no_route_browser`, (await namespaceNoRoutes()) - noRoutesLoad, 'route lookups', {
    what: 'route lookups towards an outside address while Chromium played (Ip OutNoRoutes)',
  });
} catch (error) {
  console.error(`${label}: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const s of stops) await s().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
