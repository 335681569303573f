/**
 * `npm run bench:egress`: the egress pod under load, on this machine, in one run.
 *
 * - viewers held by one egress process (one core) for a 720p30 ~2.5 Mbps H.264 + Opus stream
 *   with zero loss and event-loop p99 ≤ 20 ms: viewer steps until a step fails;
 * - egress RSS idle and per viewer;
 * - (browser figures — time to first frame, glass-to-glass — come from bench/browser-bench.ts).
 *
 * The source is a pre-encoded clip streamed with the production FFmpeg command (video copied),
 * so FFmpeg costs next to nothing; the load is real werift peers in a separate process
 * (bench/whep-load.ts), so the egress is measured, not the load generator.
 * Prints one JSON object per line: {name, value, unit}.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildFfmpegArgs, parseProcess } from '@corecast/api';
import { emit, freeTcpPort, freeUdpPort, scrape, start, stop, total, waitFor } from './lib.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50,100,150,200,250,300,400' },
    seconds: { type: 'string', default: '15' },
    gop: { type: 'string', default: '4' },
    'cpu-prof': { type: 'string' },
  },
});
const steps = values.steps.split(',').map(Number);
const node = process.execPath;
const root = new URL('../../', import.meta.url).pathname;

/** Encodes the benchmark clip once: 720p30, ~2.5 Mbps constrained-baseline H.264 (GOP as given), Opus. */
async function makeClip(dir: string, gopSeconds: number): Promise<string> {
  const file = join(dir, 'clip.mkv');
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '24',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-profile:v',
    'baseline',
    '-pix_fmt',
    'yuv420p',
    '-b:v',
    '2500k',
    '-maxrate',
    '2500k',
    '-bufsize',
    '2500k',
    '-g',
    String(30 * gopSeconds),
    '-bf',
    '0',
    '-c:a',
    'libopus',
    '-b:a',
    '128k',
    '-ar',
    '48000',
    '-ac',
    '2',
    file,
  ];
  const child = spawn('ffmpeg', args, { stdio: 'inherit' });
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`ffmpeg could not encode the clip (exit ${code})`);
  return file;
}

const dir = await mkdtemp(join(tmpdir(), 'corecast-bench-'));
const httpPort = await freeTcpPort();
const videoPort = await freeUdpPort();
const audioPort = await freeUdpPort();
const base = `http://127.0.0.1:${httpPort}`;
const whep = `${base}/api/v3/process/bench/whep`;

const clip = await makeClip(dir, Number(values.gop));
const config = {
  http: { host: '127.0.0.1', port: httpPort },
  streams: [
    { processId: 'bench', video: { port: videoPort, payloadType: 102 }, audio: { port: audioPort, payloadType: 111 }, maxViewers: 10000 },
  ],
  maxViewers: 100000,
  ice: { advertise: { addresses: ['127.0.0.1'], only: true } },
  logLevel: 'warn',
};
const profile = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
const egress = start(node, [...profile, join(root, 'egress-pod/src/main.ts')], { CORECAST_EGRESS_CONFIG: JSON.stringify(config) });
const spec = parseProcess({
  apiVersion: 'corecast.dev/v1alpha1',
  kind: 'Process',
  metadata: { name: 'bench' },
  spec: {
    input: [{ id: 'clip', address: clip, options: ['-re', '-stream_loop', '-1'] }],
    output: [{ id: 'discard', address: '-', options: ['-map', '0:v:0', '-c', 'copy', '-f', 'null'] }],
    options: ['-loglevel', 'error'],
    webrtc: { enabled: true },
  },
});
const ffmpeg = start(
  'ffmpeg',
  buildFfmpegArgs({ name: 'bench', spec: spec.spec }, { egress: { host: '127.0.0.1', videoPort, audioPort } }),
);

try {
  await waitFor('egress /readyz', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 3000));
  const idle = await scrape(`${base}/metrics`);
  const idleRss = total(idle, 'process_resident_memory_bytes') / 2 ** 20;
  emit('egress.rss_idle', idleRss, 'MiB');

  let best = 0;
  let bestRss = idleRss;
  for (const n of steps) {
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
    let holding = false;
    load.stdout?.on('data', (d) => {
      out += d;
      if (!holding && out.includes('"event":"holding"')) {
        holding = true;
        // Resets the egress's event-loop histogram: the p99 below covers the steady window only.
        void scrape(`${base}/metrics`);
      }
    });
    // RSS is read while every viewer is connected (the load client prints after its window).
    let rssAtLoad = 0;
    const rssTimer = setInterval(async () => {
      const m = await scrape(`${base}/metrics`).catch(() => undefined);
      const viewers = m ? total(m, 'corecast_egress_viewers') : 0;
      if (m && viewers >= n) rssAtLoad = Math.max(rssAtLoad, total(m, 'process_resident_memory_bytes') / 2 ** 20);
    }, 5000);
    const code = await new Promise((r) => load.on('exit', r));
    clearInterval(rssTimer);
    const after = await scrape(`${base}/metrics`);
    const figures = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { name?: string; value?: number })
        .filter((f) => f.name !== undefined)
        .map((f) => [f.name!.replace(`step${n}.`, ''), f.value]),
    );
    const p99 = total(after, 'nodejs_eventloop_lag_p99_seconds') * 1000;
    const pass = code === 0 && figures.viewers_connected === n && figures.loss_ratio === 0 && figures.viewers_silent === 0 && p99 <= 20;
    emit(`egress.step.${n}.loss_ratio`, figures.loss_ratio ?? Number.NaN, 'ratio');
    emit(`egress.step.${n}.event_loop_p99`, p99, 'ms');
    emit(`egress.step.${n}.viewers_connected`, figures.viewers_connected ?? 0, 'viewers');
    emit(`egress.step.${n}.rss`, rssAtLoad, 'MiB');
    if (!pass) {
      console.error(`step ${n} failed (exit ${code}): ${load.tail()}`);
      break;
    }
    best = n;
    bestRss = rssAtLoad;
    await new Promise((r) => setTimeout(r, 3000)); // let closed sessions drain
  }
  emit('egress.viewers_per_core', best, 'viewers', { criteria: 'zero loss, event-loop p99 <= 20 ms, one egress process' });
  if (best > 0) emit('egress.rss_per_viewer', (bestRss - idleRss) / best, 'MiB');
} catch (error) {
  console.error(`benchmark failed: ${(error as Error).message}\negress: ${egress.tail()}\nffmpeg: ${ffmpeg.tail()}`);
  process.exitCode = 1;
} finally {
  await stop(ffmpeg);
  await stop(egress);
  await rm(dir, { recursive: true, force: true });
}
