/**
 * A WHEP client we did not write: `whip-whep` from the npm registry (Medooze's whep.js), in
 * headless Chromium, on a page of another origin (another loopback port: the same address
 * space, so Chromium's local-network-access rules stay out of it) — the browser's own CORS
 * checks (the preflight, exposed headers) run against the egress for real. It POSTs its offer
 * before gathering and trickles candidates afterwards — without If-Match (it learns the ETag
 * only from an ICE restart); the egress takes trickled candidates without If-Match for the
 * current ICE session (egress-pod/README.md, "WHEP behaviour"), so every PATCH is a 204.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startTestPattern } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import { EgressChild, freeTcpPort, freeUdpPort } from './egress-child.ts';

const WHEP_JS = readFileSync(createRequire(import.meta.url).resolve('whip-whep/whep.js'), 'utf8');

const page = (endpoint: string) => `<!doctype html><meta charset="utf-8"><video id="v" autoplay muted playsinline></video>
<script type="module">
  import { WHEPClient } from '/whep.js';
  window.result = { state: 'starting', frames: 0 };
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.ontrack = (e) => { document.getElementById('v').srcObject = e.streams[0]; };
  const client = new WHEPClient();
  client.view(pc, ${JSON.stringify(endpoint)}).then(() => { window.result.state = 'viewing'; }, (e) => { window.result.state = 'error: ' + e.message; });
  setInterval(async () => {
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { window.result.frames = s.framesDecoded ?? 0; window.result.width = s.frameWidth; }
    });
  }, 300);
</script>`;

describe('a third-party WHEP client (whip-whep from npm) in Chromium', { timeout: 180000 }, () => {
  let egress: EgressChild;
  let ffmpeg: FfmpegRun;
  let browser: TestBrowser;
  let site: Server;
  let origin: string;

  before(async () => {
    assert.ok(ffmpegPath() && chromiumInstalled(), 'needs ffmpeg and chromium (scripts/setup.sh test)');
    const rtp = { host: '127.0.0.1', videoPort: await freeUdpPort(), audioPort: await freeUdpPort() };
    egress = new EgressChild({
      http: { host: '127.0.0.1', port: await freeTcpPort() },
      metrics: { port: await freeTcpPort() },
      streams: [{ processId: 'demo', video: { port: rtp.videoPort }, audio: { port: rtp.audioPort } }],
      // Chromium on loopback: the pod takes loopback candidates here (a pod's default drops them).
      ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort: 0 },
      logLevel: 'warn',
    });
    await egress.start();
    ffmpeg = startTestPattern(rtp, { size: '320x180' });
    const html = page(`${egress.url}/api/v3/process/demo/whep`);
    site = createServer((req, res) => {
      const js = req.url === '/whep.js';
      res.setHeader('Content-Type', js ? 'text/javascript' : 'text/html');
      res.end(js ? WHEP_JS : html);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ffmpeg?.kill();
    await egress?.kill('SIGTERM');
    site?.close();
  });

  it('plays across origins: preflight, POST, media, its If-Match-less trickle PATCHes accepted (204)', async () => {
    const p = await browser.context.newPage();
    const requests: string[] = [];
    p.on('response', (r) => {
      if (r.url().startsWith(egress.url)) requests.push(`${r.request().method()} ${r.status()}`);
    });
    await p.goto(`${origin}/`);
    type Result = { state: string; frames: number; width?: number };
    const result = () => p.evaluate(() => (window as unknown as { result: Result }).result);
    await waitUntil(async () => (await result()).frames >= 30, 60000, 'frames decoded').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await result())}`, { cause: err });
    });
    const r = await result();
    assert.equal(r.state, 'viewing');
    assert.equal(r.width, 320);
    assert.equal(requests[0], 'POST 201', `requests seen: ${requests.join(', ')}`);
    assert.ok(requests.length > 1, `it trickled: ${requests.join(', ')}`);
    assert.ok(
      requests.slice(1).every((r) => r === 'PATCH 204'),
      `requests seen: ${requests.join(', ')}`,
    );
    assert.equal(await egress.metric('corecast_egress_viewers', { process: 'demo' }), 1);
  });
});
