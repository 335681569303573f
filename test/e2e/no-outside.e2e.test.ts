/**
 * Nothing outside is contacted — proven by counting packets. The whole media path runs in a
 * network namespace this test creates (netns.ts): the egress pod with its default ICE
 * settings, FFmpeg, a werift viewer as its own program, and headless Chromium playing the
 * player page. Every packet for an address other than the namespace's own goes out one
 * interface, whose transmit counter must not move. (When tcpdump is installed, the packets are
 * printed on failure.)
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PORTS, whepPath } from '@corecast/api';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startFfmpeg, testPatternArgs } from '@corecast/testkit/ffmpeg';
import { createNetns, type Netns, netnsAvailable } from '@corecast/testkit/netns';
import { waitUntil } from '@corecast/testkit/whep-client';
import { EgressChild } from './egress-child.ts';

const VIEWER = fileURLToPath(new URL('./fixtures/werift-viewer.ts', import.meta.url));

describe('no outside address is contacted', { timeout: 240000 }, () => {
  let ns: Netns;
  let egress: EgressChild;
  let ffmpeg: FfmpegRun;
  let browser: TestBrowser | undefined;
  let capture: ChildProcess | undefined;
  let captured = '';
  let txBefore = 0;
  const whep = `http://127.0.0.1:${PORTS.http}${whepPath('demo')}`;

  const leaked = async (): Promise<string> => {
    const sent = (await ns.txPackets()) - txBefore;
    return sent === 0 ? '' : `${sent} packet(s) left the namespace:\n${captured || '(install tcpdump to see them)'}`;
  };

  before(async () => {
    const missing = [
      !(await netnsAvailable()) && 'root with iproute2 (ip netns)',
      !ffmpegPath() && 'ffmpeg',
      !chromiumInstalled() && 'chromium',
    ].filter(Boolean);
    if (missing.length > 0) throw new Error(`this test needs ${missing.join(', ')}`);
    ns = await createNetns();
    if (spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0) {
      capture = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'tcpdump', '-n', '-l', '-i', 'cc0'], { stdio: ['ignore', 'pipe', 'ignore'] });
      capture.stdout?.setEncoding('utf8').on('data', (chunk: string) => (captured += chunk));
    }
    txBefore = await ns.txPackets();
    // The pod's defaults: ports 5004/5006/8080, no STUN server, every interface gathered.
    egress = new EgressChild(
      { http: { host: '0.0.0.0', port: PORTS.http }, streams: [{ processId: 'demo' }], logLevel: 'info' },
      { prefix: ns.exec },
    );
    await egress.start();
    ffmpeg = startFfmpeg(
      testPatternArgs({ host: '127.0.0.1', videoPort: PORTS.videoRtp, audioPort: PORTS.audioRtp }, { size: '320x180' }),
      ns.exec,
    );
  });

  after(async () => {
    await browser?.close();
    await ffmpeg?.kill();
    await egress?.kill('SIGTERM');
    capture?.kill();
    await ns?.remove();
  });

  it('a werift viewer plays, and no packet leaves the namespace', async () => {
    const viewer = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, VIEWER, whep, '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    viewer.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    viewer.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise((resolve) => viewer.once('exit', resolve));
    assert.equal(code, 0, `werift viewer: ${out} ffmpeg: ${ffmpeg.stderr()}`);
    const got = JSON.parse(out.trim().split('\n').at(-1)!) as { video: number; audio: number };
    assert.ok(got.video >= 60 && got.audio >= 10);
    assert.equal(await leaked(), '');
  });

  it('Chromium plays the player page, and no packet leaves the namespace', async () => {
    browser = await launchChromium({ prefix: ns.exec });
    const page = await browser.context.newPage();
    await page.goto(`${whep}/player`);
    await waitUntil(
      async () => (await page.evaluate(() => (window as unknown as { corecast: { framesDecoded: number } }).corecast.framesDecoded)) >= 30,
      60000,
      'frames decoded in Chromium',
    );
    assert.equal(await leaked(), '');
  });
});
