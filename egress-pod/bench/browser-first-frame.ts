/**
 * Time to first frame in Chromium against any WHEP URL, for the side-by-side benchmark
 * (bench/side-by-side-server.ts runs it inside each server's network namespace once the load
 * steps are over): `--runs` fresh sessions, each joining at a random phase of the GOP, each timed
 * from its POST to the first decoded frame presented (requestVideoFrameCallback). The answer, ICE
 * and DTLS times are printed beside it, so a slow first frame shows where it waited.
 *
 *   node egress-pod/bench/browser-first-frame.ts --url <WHEP endpoint> [--server-offer] [--runs 20] [--label corecast-1]
 *
 * `--server-offer` plays the server-offer form of WHEP (bench/janus-whep.ts): POST with no body →
 * 201 with the server's offer, the answer PATCHed to the Location. The page is served from the
 * WHEP URL's own origin (an intercepted request, nothing is fetched), so no CORS is involved.
 * Prints JSON lines {name, value, unit}: `<label>.browser.ttff_p50`, `_p95`, `_first_session`.
 */
import { parseArgs } from 'node:util';
import { launchChromium } from '@corecast/testkit/chromium';
import { emit, percentile } from './lib.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    'server-offer': { type: 'boolean', default: false },
    runs: { type: 'string', default: '20' },
    label: { type: 'string', default: 'server' },
  },
});
if (!values.url) {
  console.error('--url <WHEP endpoint> is required');
  process.exit(2);
}
const whep = values.url;
const label = values.label;

/** What one session measured, in ms from its POST. */
interface Run {
  ttff: number;
  answer: number;
  ice: number;
  dtls: number;
}

/** One WHEP session in the page, client- or server-offer; runs in the browser, self-contained. */
async function session(args: { whep: string; serverOffer: boolean }): Promise<Run> {
  const pc = new RTCPeerConnection();
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  document.body.append(video);
  pc.ontrack = (e) => {
    if (!video.srcObject) video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    void video.play().catch(() => undefined);
  };
  const gathered = () =>
    new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 2000);
    });
  const marks = { ice: 0, dtls: 0 };
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === 'connected' && !marks.ice) marks.ice = performance.now();
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected' && !marks.dtls) marks.dtls = performance.now();
  };
  let posted: number;
  let answered: number;
  let location: string;
  if (args.serverOffer) {
    posted = performance.now();
    const res = await fetch(args.whep, { method: 'POST' });
    if (res.status !== 201) throw new Error(`POST: ${res.status} ${await res.text()}`);
    location = new URL(res.headers.get('location')!, args.whep).href;
    await pc.setRemoteDescription({ type: 'offer', sdp: await res.text() });
    answered = performance.now();
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered();
    const patch = await fetch(location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    if (!patch.ok) throw new Error(`PATCH: ${patch.status} ${await patch.text()}`);
  } else {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered();
    posted = performance.now();
    const res = await fetch(args.whep, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    if (res.status !== 201) throw new Error(`POST: ${res.status} ${await res.text()}`);
    location = new URL(res.headers.get('location')!, args.whep).href;
    answered = performance.now();
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  }
  const shown = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame within 15 s')), 15_000);
    video.requestVideoFrameCallback((now) => {
      clearTimeout(timer);
      resolve(now);
    });
  });
  pc.close();
  video.remove();
  await fetch(location, { method: 'DELETE' }).catch(() => undefined);
  return { ttff: shown - posted, answer: answered - posted, ice: marks.ice - posted, dtls: marks.dtls - posted };
}

const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  const origin = new URL(whep).origin;
  await page.route(`${origin}/__first-frame`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><body></body>' }));
  await page.goto(`${origin}/__first-frame`);
  const one = () => page.evaluate(session, { whep, serverOffer: values['server-offer'] });
  // The server's first Chromium session (cold paths for this browser's codecs) is printed apart.
  const first = await one();
  emit(`${label}.browser.ttff_first_session`, first.ttff, 'ms');
  const runs: Run[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    await page.waitForTimeout(Math.random() * 1000); // join at another phase of the GOP
    runs.push(await one());
  }
  const sorted = (pick: (r: Run) => number) => runs.map(pick).sort((a, b) => a - b);
  const ttff = sorted((r) => r.ttff);
  emit(`${label}.browser.ttff_p50`, percentile(ttff, 50), 'ms', { runs: runs.length });
  emit(`${label}.browser.ttff_p95`, percentile(ttff, 95), 'ms', {
    runs: runs.length,
    each: runs.map((r) => Math.round(r.ttff)),
    answer_p50: Math.round(percentile(sorted((r) => r.answer), 50)),
    ice_p50: Math.round(percentile(sorted((r) => r.ice), 50)),
    dtls_p50: Math.round(percentile(sorted((r) => r.dtls), 50)),
  });
} catch (error) {
  console.error(`${label}: Chromium first frame: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
