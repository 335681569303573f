/**
 * Every viewer on the egress's one media port, browsers included: the egress (its own process,
 * two fan-out workers sharing the port) serves two headless Chromium viewers and werift viewers
 * at once, and each of them talks to the one server port — Chromium's selected candidate pair
 * says so (getStats), as does each werift viewer's selected pair — while the pod holds one media
 * socket per worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startTestPattern } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Page } from 'playwright-core';
import { EgressChild, freeTcpPort, freeUdpPort } from './egress-child.ts';

/** What the in-page viewer reports. */
interface PageViewer {
  state: string;
  frames: number;
  /** Remote (server) port of the selected candidate pair. */
  serverPort?: number;
}

/**
 * A plain WHEP viewer in the page: recvonly offer, gathered completely, POSTed; the selected
 * pair's remote port and the decoded frames are read from getStats().
 */
function viewInPage(page: Page, endpoint: string): Promise<void> {
  return page.evaluate(async (url) => {
    const w = window as unknown as { viewer: PageViewer };
    w.viewer = { state: 'starting', frames: 0 };
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    });
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    if (res.status !== 201) {
      w.viewer.state = `POST ${res.status}`;
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    w.viewer.state = 'answered';
    setInterval(async () => {
      type Stat = { id: string; type: string; kind?: string; framesDecoded?: number; selectedCandidatePairId?: string; remoteCandidateId?: string; port?: number };
      const byId = new Map<string, Stat>();
      (await pc.getStats()).forEach((s: Stat) => byId.set(s.id, s));
      for (const s of byId.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'video') w.viewer.frames = s.framesDecoded ?? 0;
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = byId.get(s.selectedCandidatePairId);
          w.viewer.serverPort = pair?.remoteCandidateId ? byId.get(pair.remoteCandidateId)?.port : undefined;
        }
      }
    }, 300);
  }, endpoint);
}

const missing = [!ffmpegPath() && 'ffmpeg', !chromiumInstalled() && 'chromium'].filter(Boolean);

describe('one media port for every viewer, browsers included', { timeout: 240000 }, () => {
  let egress: EgressChild;
  let ffmpeg: FfmpegRun;
  let browser: TestBrowser;
  let udpPort: number;

  before(async () => {
    if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (scripts/setup.sh test installs them)`);
    const rtp = { host: '127.0.0.1', videoPort: await freeUdpPort(), audioPort: await freeUdpPort() };
    udpPort = await freeUdpPort();
    egress = new EgressChild({
      http: { host: '127.0.0.1', port: await freeTcpPort() },
      metrics: { port: await freeTcpPort() },
      streams: [{ processId: 'demo', video: { port: rtp.videoPort }, audio: { port: rtp.audioPort } }],
      // Loopback only (Chromium runs with --allow-loopback-in-peer-connection).
      ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort },
      media: { workers: 2 },
      logLevel: 'warn',
    });
    await egress.start();
    ffmpeg = startTestPattern(rtp, { size: '320x180', gopSeconds: 1 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ffmpeg?.kill();
    await egress?.kill('SIGTERM');
  });

  it('two Chromium viewers and four werift viewers play, all on the one server port', async (t) => {
    const endpoint = `${egress.url}/api/v3/process/demo/whep`;
    const pages: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const page = await browser.context.newPage();
      // Same origin as the endpoint: the page's fetch needs no CORS.
      await page.goto(`${egress.url}/healthz`);
      await viewInPage(page, endpoint);
      pages.push(page);
    }
    const werift = Array.from({ length: 4 }, () => new WhepTestClient());
    t.after(() => Promise.all(werift.map((v) => v.close())));
    for (const v of werift) assert.equal((await v.post(endpoint)).status, 201);

    const viewerOf = (page: Page) => page.evaluate(() => (window as unknown as { viewer: PageViewer }).viewer);
    for (const [i, page] of pages.entries()) {
      await waitUntil(async () => (await viewerOf(page)).frames >= 30, 60000, `Chromium viewer ${i} decoding`).catch(
        async (err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify(await viewerOf(page))}`, { cause: err });
        },
      );
      assert.equal((await viewerOf(page)).serverPort, udpPort, `Chromium viewer ${i}'s selected pair ends at the media port`);
    }
    await waitUntil(() => werift.every((v) => v.received.video.length > 30), 60000, 'every werift viewer receiving');
    for (const [i, v] of werift.entries()) {
      const agent = (v.pc.iceTransports[0] as unknown as { connection: { nominated?: { remoteAddr: [string, number] } } }).connection;
      assert.equal(agent.nominated?.remoteAddr[1], udpPort, `werift viewer ${i}'s selected pair ends at the media port`);
    }
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 6);
    assert.equal(await egress.metric('corecast_egress_ice_mux_entries', { kind: 'sockets' }), 2, 'one media socket per worker');
  });
});
