/**
 * `node egress-pod/bench/drain-gap.ts [--runs 5]`: what a drain looks like from the player page.
 * Two egress replicas in this process (each on its own loopback address, replica 1 fed by
 * replica 0's relay), real FFmpeg into replica 0, the real player page in headless Chromium
 * (Debian's) on replica 0's URL. Each run drains the replica the player is on; the player's
 * session is closed by the server, it comes back through the same URL and replica 0 places it
 * on the other replica. The figure is the longest time without a new presented frame around the
 * drain (window.corecast.framesPresented, sampled every 20 ms), and what the page said meanwhile.
 * Prints one JSON object per line: {name, value, unit}. The machine's other work counts in.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatRelayTargets, playerPath } from '@corecast/api';
import { launchChromium } from '@corecast/testkit/chromium';
import { startTestPattern } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import type { PlayerStatus } from '../src/player/client.ts';
import { type Egress, resolveConfig, startEgress } from '../src/index.ts';
import { emit, percentile } from './lib.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const dir = mkdtempSync(join(tmpdir(), 'corecast-drain-gap-'));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, `${name}.tmp`), text);
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
};
const address = (i: number) => `127.0.0.${i + 1}`;
write('relay-targets', '');
const replicas: Egress[] = [];
for (const i of [0, 1]) {
  write(`drain-${i}`, '');
  write(`pin-${i}`, address(0));
  replicas.push(
    await startEgress(
      resolveConfig(
        {
          http: { host: address(i), port: 0 },
          metrics: { port: 0 },
          streams: [
            { processId: 'demo', video: { port: 0 }, audio: { port: 0 }, ...(i > 0 ? { sourceAddressFile: join(dir, `pin-${i}`) } : {}) },
          ],
          ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort: 0 },
          logLevel: 'warn',
          replica: {
            index: i,
            ...(i === 0 ? { relayTargetsFile: join(dir, 'relay-targets') } : {}),
            drainFile: join(dir, `drain-${i}`),
            drainSeconds: 30,
          },
        },
        {},
      ),
      { defaultMetrics: false },
    ),
  );
}
const [r0, r1] = replicas as [Egress, Egress];
const target = (draining: boolean) => {
  const ports = r1.rtpPorts.get('demo')!;
  return { index: 1, address: address(1), videoPort: ports.video, audioPort: ports.audio, httpPort: r1.httpPort, draining };
};
const ffmpeg = startTestPattern(
  { host: '127.0.0.1', videoPort: r0.rtpPorts.get('demo')!.video, audioPort: r0.rtpPorts.get('demo')!.audio },
  { gopSeconds: 1 },
);
const browser = await launchChromium();
try {
  write('relay-targets', formatRelayTargets([target(false)]));
  await waitUntil(() => r1.streams.get('demo')!.source.state === 'up', 30000, 'replica 1 relayed to');
  await waitUntil(() => r0.replica.siblings!.rooms()[0]?.room !== undefined, 5000, 'replica 0 knows replica 1');
  const page = await browser.context.newPage();
  await page.goto(`${r0.url}${playerPath('demo')}`);
  const status = () => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
  await waitUntil(async () => (await status()).framesPresented > 30, 30000, 'the player plays');
  const gaps: number[] = [];
  for (let run = 0; run < Number(values.runs); run++) {
    const from = r0.sessions.count() === 1 ? 0 : 1;
    const to = 1 - from;
    // Drain the replica the player is on; replica 0's targets say so when it is replica 1.
    write(`drain-${from}`, new Date(Date.now() + 1000).toISOString());
    if (from === 1) write('relay-targets', formatRelayTargets([target(true)]));
    let last = (await status()).framesPresented;
    let lastAt = performance.now();
    let longest = 0;
    const said = new Set<string>();
    let movedAt: number | undefined;
    const started = performance.now();
    while (performance.now() - started < 15000) {
      const s = await status();
      if (s.state !== 'playing') said.add(`${s.state}: ${s.detail}`);
      if (s.framesPresented !== last) {
        longest = Math.max(longest, performance.now() - lastAt);
        last = s.framesPresented;
        lastAt = performance.now();
      }
      // Moved, and playing on the other replica for two seconds: the gap is behind us.
      if (replicas[to]!.sessions.count() === 1 && replicas[from]!.sessions.count() === 0 && s.state === 'playing') {
        movedAt ??= performance.now();
        if (performance.now() - movedAt > 2000) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    gaps.push(longest);
    emit('drain.gap_without_picture', longest, 'ms', { run, from, to, page: [...said], load: loadavg()[0]!.toFixed(1) });
    write(`drain-${from}`, '');
    if (from === 1) write('relay-targets', formatRelayTargets([target(false)]));
    await new Promise((r) => setTimeout(r, 2000));
  }
  gaps.sort((a, b) => a - b);
  emit('drain.gap_without_picture_p50', percentile(gaps, 50), 'ms', { runs: gaps.length });
  emit('drain.gap_without_picture_max', gaps.at(-1)!, 'ms');
} finally {
  await browser.close();
  await ffmpeg.kill();
  await Promise.all(replicas.map((r) => r.stop()));
  rmSync(dir, { recursive: true, force: true });
}
