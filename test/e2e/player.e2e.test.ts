/**
 * The viewer's experience, end to end with real parts only: FFmpeg (lavfi testsrc2 + sine →
 * libx264/libopus → RTP) → the egress pod (its own process) → the player page in headless
 * Chromium. One browser page lives through a source restart, an egress restart and its own
 * crash, in that order; every step waits for what the viewer would see, never for a fixed time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startTestPattern } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import type { Page } from 'playwright-core';
import type { PlayerStatus } from '../../egress-pod/src/player/client.ts';
import { EgressChild, freeUdpPort, loopbackEgressConfig } from './egress-child.ts';

const missing = [!ffmpegPath() && 'ffmpeg', !chromiumInstalled() && 'chromium'].filter(Boolean);

describe('player page in Chromium', { timeout: 300000 }, () => {
  const logDir = mkdtempSync(join(tmpdir(), 'corecast-e2e-'));
  let egress: EgressChild;
  let ffmpeg: FfmpegRun | undefined;
  let browser: TestBrowser;
  let page: Page;
  let rtp: { host: string; videoPort: number; audioPort: number };

  const status = (): Promise<PlayerStatus> => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
  const until = async (what: string, check: (s: PlayerStatus) => boolean | Promise<boolean>, timeoutMs = 60000) => {
    try {
      await waitUntil(async () => check(await status()), timeoutMs, what);
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; page status ${JSON.stringify(await status().catch(() => ({})))}; ffmpeg: ${ffmpeg?.stderr() ?? ''}; logs in ${logDir}`,
        { cause: err },
      );
    }
  };

  before(async () => {
    if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (scripts/setup.sh test installs them)`);
    rtp = { host: '127.0.0.1', videoPort: await freeUdpPort(), audioPort: await freeUdpPort() };
    egress = new EgressChild(
      {
        ...(await loopbackEgressConfig(rtp)),
        session: { livenessTimeoutSeconds: 5 },
        logLevel: 'info',
      },
      { logFile: join(logDir, 'egress.log') },
    );
    await egress.start();
    ffmpeg = startTestPattern(rtp, { gopSeconds: 1 });
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  after(async () => {
    await browser?.close();
    await ffmpeg?.kill();
    await egress?.kill('SIGTERM');
  });

  it('plays video at the source size and receives audio', async () => {
    const started = performance.now();
    await page.goto(`${egress.url}/api/v3/process/demo/whep/player`);
    await until('first decoded frame', (s) => s.framesDecoded > 0);
    const firstFrameMs = performance.now() - started;
    await until(
      '30 frames at 640x360 and audio',
      (s) => s.framesDecoded >= 30 && s.width === 640 && s.height === 360 && s.audioPacketsReceived > 25,
    );
    const s = await status();
    assert.equal(s.state, 'playing');
    assert.equal(s.posts, 1);
    // The first picture was a keyframe: Chromium never had to ask for one.
    assert.ok(s.keyFramesDecoded >= 1);
    assert.equal(s.pliCount, 0, 'no PLI: the viewer got no P-frame before its first keyframe');
    assert.equal(await egress.metric('corecast_egress_pli_received_total', { process: 'demo' }), 0);
    console.log(JSON.stringify({ name: 'e2e_time_to_first_frame_ms', value: Math.round(firstFrameMs), unit: 'ms' }));
  });

  it('keeps playing through an FFmpeg restart without a new POST', async () => {
    await ffmpeg!.kill('SIGKILL');
    const before = await status();
    ffmpeg = startTestPattern(rtp, { gopSeconds: 1 });
    await until('frames after the source restart', (s) => s.framesDecoded >= before.framesDecoded + 60);
    const s = await status();
    assert.equal(s.posts, 1, 'the same session carried on');
    assert.equal(s.state, 'playing');
    assert.equal(await egress.metric('corecast_egress_sessions_created_total', { process: 'demo' }), 1);
    assert.ok((await egress.metric('corecast_egress_source_restarts_total', { process: 'demo', kind: 'video' })) >= 1);
  });

  it('reconnects by itself when the egress is killed and restarted', async () => {
    const before = await status();
    await egress.kill('SIGKILL');
    await egress.start();
    await until('a new session playing', (s) => s.posts > before.posts && s.state === 'playing' && s.framesDecoded >= 30, 90000);
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 1);
  });

  it('closes the session of a crashed tab within seconds, and the counters return to zero', async () => {
    const cdp = await browser.context.newCDPSession(page);
    const crashed = new Promise((resolve) => page.once('crash', resolve));
    // A renderer crash: no DELETE, no pagehide, no DTLS alert — like a killed tab. The command
    // gets no answer (its page is gone), so only the crash event is awaited.
    void cdp.send('Page.crash').catch(() => {});
    await crashed;
    await waitUntil(async () => (await egress.metric('corecast_egress_viewers', { process: 'demo' })) === 0, 30000, 'viewer gone');
    assert.equal(await egress.metric('corecast_egress_sessions_closed_total', { process: 'demo', reason: 'liveness-timeout' }), 1);
    const created = await egress.metric('corecast_egress_sessions_created_total', { process: 'demo' });
    const closed = await egress.metric('corecast_egress_sessions_closed_total', { process: 'demo' });
    assert.equal(created, closed, 'every session created was closed');
  });
});
