/**
 * The player page and the egress through the rest of a session's life, with real parts only
 * (FFmpeg → the egress pod in its own process → headless Chromium): a source gone past its grace
 * period and back, tokens from the URL fragment and from the prompt, and a browser peer that
 * closes without DELETE. Every step waits for what the viewer or the pod would show, never for
 * a fixed time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { EgressConfigInput } from '@corecast/api';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startTestPattern } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import type { Page } from 'playwright-core';
import { EgressChild, freeUdpPort, loopbackEgressConfig } from './egress-child.ts';
import type { PlayerStatus } from '../../egress-pod/src/player/client.ts';

const missing = [!ffmpegPath() && 'ffmpeg', !chromiumInstalled() && 'chromium'].filter(Boolean);
const PLAYER = '/api/v3/process/demo/whep/player';
const SECRET = 'the e2e HS256 secret, long enough 0123456789';

/** The namespace the egress under test serves (tokens name `<namespace>/<process>`). */
const NAMESPACE = 'e2e';

/** A signed HS256 token for process "demo" of NAMESPACE. */
function token(secret = SECRET): Promise<string> {
  return new SignJWT({ 'corecast.dev/processes': [`${NAMESPACE}/demo`] })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

describe('player page and session lifecycle in Chromium', { timeout: 300000 }, () => {
  const logDir = mkdtempSync(join(tmpdir(), 'corecast-e2e-'));
  let browser: TestBrowser;
  const stops: (() => Promise<void>)[] = [];

  /** An egress child on loopback with its own FFmpeg test pattern. */
  const startPod = async (name: string, overrides: Partial<EgressConfigInput> = {}, env: Record<string, string> = {}) => {
    const rtp = { host: '127.0.0.1', videoPort: await freeUdpPort(), audioPort: await freeUdpPort() };
    const egress = new EgressChild(
      {
        ...(await loopbackEgressConfig(rtp)),
        session: { livenessTimeoutSeconds: 5 },
        logLevel: 'info',
        ...overrides,
      },
      { env, logFile: join(logDir, `${name}.log`) },
    );
    await egress.start();
    const pod = {
      egress,
      ffmpeg: startTestPattern(rtp, { gopSeconds: 1 }) as FfmpegRun,
      restartFfmpeg: () => {
        pod.ffmpeg = startTestPattern(rtp, { gopSeconds: 1 });
      },
    };
    stops.push(async () => {
      await pod.ffmpeg.kill();
      await egress.kill('SIGTERM');
    });
    return pod;
  };

  const status = (page: Page): Promise<PlayerStatus> => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
  const until = async (page: Page, what: string, check: (s: PlayerStatus) => boolean, timeoutMs = 60000): Promise<PlayerStatus> => {
    let last: PlayerStatus | undefined;
    try {
      await waitUntil(
        async () => {
          last = await status(page);
          return check(last);
        },
        timeoutMs,
        what,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; page status ${JSON.stringify(last)}; logs in ${logDir}`, { cause: err });
    }
    return last!;
  };

  before(async () => {
    if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (scripts/setup.sh test installs them)`);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    for (const stop of stops) await stop().catch(() => {});
  });

  it('a source gone past its grace period: the page waits for it per Retry-After, then plays again', async () => {
    const { egress, ffmpeg, restartFfmpeg } = await startPod('source-gone', {
      source: { timeoutSeconds: 0.5, graceSeconds: 1 },
      retryAfterSeconds: { noSource: 2, full: 10 },
    });
    const page = await browser.context.newPage();
    await page.goto(`${egress.url}${PLAYER}`);
    await until(page, 'playing with decoded frames', (s) => s.state === 'playing' && s.framesDecoded >= 30);

    await ffmpeg.kill('SIGKILL');
    // Down after 0.5 s without RTP, gone 1 s later: the pod closes the session.
    await waitUntil(
      async () => (await egress.metric('corecast_egress_sessions_closed_total', { process: 'demo', reason: 'source-gone' })) === 1,
      30000,
      'session closed as source-gone',
    );
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 0);

    // The page notices, POSTs again and gets 409 + Retry-After: 2, retried after exactly that
    // (its own backoff is jittered, so a detail naming 2.0 s every time comes from the header).
    const waiting = await until(page, 'waiting for the source', (s) => s.state === 'waiting-source');
    const details = new Set<string>();
    const refusedBefore = await egress.metric('corecast_egress_whep_refused_total', { status: '409' });
    await until(page, 'two more 409 answers', (s) => {
      if (s.state === 'waiting-source') details.add(s.detail);
      return s.posts >= waiting.posts + 2;
    });
    assert.deepEqual([...details], ['waiting for the source; retrying in 2.0 s']);
    assert.ok((await egress.metric('corecast_egress_whep_refused_total', { status: '409' })) >= refusedBefore + 2);
    assert.equal((await status(page)).state, 'waiting-source');

    restartFfmpeg();
    const back = await until(
      page,
      'playing again with decoded frames',
      (s) => s.state === 'playing' && s.posts > waiting.posts && s.framesDecoded >= 30 && s.width === 640 && s.height === 360,
      90000,
    );
    assert.notEqual(back.sessionUrl, '');
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 1);
    assert.equal(await egress.metric('corecast_egress_sessions_created_total', { process: 'demo' }), 2);
    await page.close();
  });

  it('HS256: a valid fragment token plays; a refused one brings up the prompt, and a valid answer plays', async () => {
    const { egress } = await startPod('hs256', { namespace: NAMESPACE, auth: { mode: 'hs256' } }, { CORECAST_JWT_SECRET: SECRET });
    const valid = await token();
    const wrongKey = await token('another secret, also long enough 0123456789');

    const page = await browser.context.newPage();
    const unexpected: string[] = [];
    page.on('dialog', (d) => {
      unexpected.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(`${egress.url}${PLAYER}#token=${valid}`);
    await until(page, 'playing with the fragment token', (s) => s.state === 'playing' && s.framesDecoded >= 30);
    assert.deepEqual(unexpected, [], 'no prompt for a valid token');
    assert.equal((await status(page)).posts, 1);
    await page.close();

    const refusedBefore = await egress.metric('corecast_egress_whep_refused_total', { status: '401' });
    const prompted = await browser.context.newPage();
    const dialogs: string[] = [];
    prompted.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.accept(valid);
    });
    await prompted.goto(`${egress.url}${PLAYER}#token=${wrongKey}`);
    await until(prompted, 'playing with the token from the prompt', (s) => s.state === 'playing' && s.framesDecoded >= 30);
    assert.deepEqual(dialogs, ['prompt: The access token was refused; enter another one:']);
    // Refused twice with the fragment's token: the OPTIONS that asks for ICE servers, and the POST.
    assert.equal(await egress.metric('corecast_egress_whep_refused_total', { status: '401' }), refusedBefore + 2);
    assert.equal((await status(prompted)).posts, 2);
    await prompted.close();
  });

  it('a browser peer closed without DELETE: the pod closes the session and every count returns to zero', async () => {
    const { egress } = await startPod('peer-close');
    // The peer below POSTs once, with no retry on 409 as the player page has: wait for the source.
    await waitUntil(async () => (await fetch(`${egress.url}/readyz`)).status === 200, 30000, 'the pod ready, its source up');
    const page = await browser.context.newPage();
    // Any page of the pod's origin; the peer is made by hand so the test can close it.
    await page.goto(`${egress.url}/healthz`);
    const endpoint = `${egress.url}/api/v3/process/demo/whep`;
    const location = await page.evaluate(async (url) => {
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      (window as unknown as { viewer: RTCPeerConnection }).viewer = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const connected = new Promise<void>((resolve, reject) => {
        pc.onconnectionstatechange = () => {
          if (pc.connectionState === 'connected') resolve();
          else if (pc.connectionState === 'failed') reject(new Error('connection failed'));
        };
      });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      });
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription?.sdp });
      if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      await connected;
      return res.headers.get('Location');
    }, endpoint);
    assert.match(location ?? '', /\/whep\/[\w-]{22}$/);

    const videoPackets = () =>
      page.evaluate(async () => {
        let n = 0;
        (await (window as unknown as { viewer: RTCPeerConnection }).viewer.getStats()).forEach((s: Record<string, unknown>) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') n = Number(s.packetsReceived ?? 0);
        });
        return n;
      });
    await waitUntil(async () => (await videoPackets()) > 100, 30000, 'video reaching the browser peer');
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 1);
    // The main thread's index holds it (and a fan-out worker, when there is one, its peer).
    assert.equal(await egress.metric('corecast_egress_thread_resources', { thread: 'main', type: 'sessions' }), 1);

    // close(): no DELETE. Chromium ends DTLS with a close_notify alert, and the pod ends the
    // session on it (egress-pod/src/whep/session.ts #watch).
    await page.evaluate(() => (window as unknown as { viewer: RTCPeerConnection }).viewer.close());
    await waitUntil(async () => (await egress.metric('corecast_egress_viewers', { process: 'demo' })) === 0, 30000, 'viewer gone');
    assert.equal(await egress.metric('corecast_egress_sessions_closed_total', { process: 'demo', reason: 'dtls-closed' }), 1);
    assert.equal(await egress.metric('corecast_egress_sessions_closed_total', { process: 'demo' }), 1);
    assert.equal(await egress.metric('corecast_egress_thread_resources', { type: 'sessions' }), 0);
    assert.equal(await egress.metric('corecast_egress_thread_resources', { type: 'viewers' }), 0);
    // The session is gone from the index too: its URL is unknown now (DELETE of one: 204).
    assert.equal((await fetch(new URL(location!, egress.url), { method: 'DELETE' })).status, 204);
    await page.close();
  });
});
