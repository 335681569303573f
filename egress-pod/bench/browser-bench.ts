/**
 * `npm run bench:egress:browser` (also run by `npm run bench:egress`): what a viewer sees, in
 * headless Chromium, from an egress in its own process fed by a live FFmpeg encode (720p30,
 * ~2.5 Mbps, 4 s GOP) whose pictures carry the wall-clock time (rig.ts `clockGraph`).
 *
 * - time to first frame: POST of the offer → first decoded frame presented
 *   (requestVideoFrameCallback), over `--runs` fresh sessions joining at random GOP phases;
 * - glass-to-glass latency: for every frame presented during `--seconds`, the wall clock at its
 *   expected display time minus the time read back from the picture (canvas), same machine clock.
 *
 * `--compare` repeats the figures with the GOP cache off (viewers wait for a keyframe) and with
 * the cached pictures keeping their capture timestamps (`media.gopCache.timing: original`).
 * `--compiled` runs the image's compiled JavaScript (dist/, built first) instead of the sources;
 * `--node-args='<flags>'` adds Node flags to the image's (e.g. to see what a V8 flag costs here).
 * Prints one JSON object per line: {name, value, unit}.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EgressConfigInput } from '@corecast/api';
import { launchChromium } from '@corecast/testkit/chromium';
import type { Page } from 'playwright-core';
import { emit, percentile, scrape, total } from './lib.ts';
import { benchRig, CLOCK_BITS, CLOCK_BLOCK } from './rig.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    gop: { type: 'string', default: '4' },
    workers: { type: 'string', default: 'auto' },
    compare: { type: 'boolean', default: false },
    compiled: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  },
});

/** What one session in the page measured. */
interface Run {
  /** POST → first frame presented (ms). */
  ttff: number;
  /** POST → answer received (ms). */
  answer: number;
  /** POST → ICE connected, DTLS connected (ms). */
  ice: number;
  dtls: number;
  /** Glass-to-glass latency of each frame presented after the first (ms), and when it was shown (ms after the first). */
  latencies: number[];
  shownAt: number[];
  /** Frames whose clock strip could not be read. */
  unreadable: number;
  /** Chromium's own view (getStats inbound-rtp video at the end): mean jitter-buffer delay and decode time per frame (ms). */
  jitterBufferMs: number;
  decodeMs: number;
  /** Chromium's other delays (getStats): video jitter-buffer target and minimum (sync), audio jitter buffer, audio playout (ms). */
  chromium: Record<string, number>;
}

/**
 * One WHEP session in the page: RTCPeerConnection + fetch only, like the player. Runs in the
 * browser: self-contained.
 */
async function session(args: { whep: string; seconds: number; bits: number; block: number }): Promise<Run> {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  document.body.append(video);
  pc.ontrack = (e) => {
    if (!video.srcObject) video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    void video.play().catch(() => undefined);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
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
  const posted = performance.now();
  const res = await fetch(args.whep, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) throw new Error(`POST: ${res.status} ${await res.text()}`);
  const location = new URL(res.headers.get('location')!, args.whep).href;
  const answered = performance.now();
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });

  const width = args.bits * args.block;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = args.block;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  /** The clock (ms mod 2^bits) drawn into the current picture, or undefined when unreadable. */
  const readClock = (): number | undefined => {
    ctx.drawImage(video, 0, 0, width, args.block, 0, 0, width, args.block);
    const row = ctx.getImageData(0, args.block / 2, width, 1).data;
    let value = 0;
    for (let k = 0; k < args.bits; k++) {
      const luma = row[(k * args.block + args.block / 2) * 4]!;
      if (luma > 96 && luma < 160) return undefined; // neither black nor white: not a clock strip
      if (luma >= 160) value += 2 ** k;
    }
    return value;
  };
  const modulo = 2 ** args.bits;
  const run: Run = {
    ttff: 0,
    answer: answered - posted,
    ice: 0,
    dtls: 0,
    latencies: [],
    shownAt: [],
    unreadable: 0,
    jitterBufferMs: 0,
    decodeMs: 0,
    chromium: {},
  };
  await new Promise<void>((resolve) => {
    let until = 0;
    const onFrame = (now: number, meta: VideoFrameCallbackMetadata) => {
      if (run.ttff === 0) {
        run.ttff = now - posted;
        run.ice = marks.ice - posted;
        run.dtls = marks.dtls - posted;
        until = now + args.seconds * 1000;
      } else {
        const clock = readClock();
        if (clock === undefined) run.unreadable++;
        else {
          const shown = Math.floor(performance.timeOrigin + meta.expectedDisplayTime) % modulo;
          run.latencies.push((shown - clock + modulo) % modulo);
          run.shownAt.push(now - posted - run.ttff);
        }
      }
      if (now >= until) resolve();
      else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  });
  (await pc.getStats()).forEach((r) => {
    const per = (value: number, count: number) => Math.round((1000 * value) / Math.max(1, count));
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      run.jitterBufferMs = (1000 * r.jitterBufferDelay) / Math.max(1, r.jitterBufferEmittedCount);
      run.decodeMs = (1000 * r.totalDecodeTime) / Math.max(1, r.framesDecoded);
      run.chromium.videoTarget = per(r.jitterBufferTargetDelay, r.jitterBufferEmittedCount);
      run.chromium.videoMinimum = per(r.jitterBufferMinimumDelay, r.jitterBufferEmittedCount);
    }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      run.chromium.audioJitterBuffer = per(r.jitterBufferDelay, r.jitterBufferEmittedCount);
      run.chromium.audioTarget = per(r.jitterBufferTargetDelay, r.jitterBufferEmittedCount);
    }
    if (r.type === 'media-playout') run.chromium.audioPlayout = per(r.totalPlayoutDelay, r.totalSamplesCount);
  });
  pc.close();
  video.remove();
  await fetch(location, { method: 'DELETE' });
  return run;
}

/** The first session of a fresh egress, then TTFF over `runs` sessions and glass-to-glass on the last one. */
async function measure(page: Page, whep: string, label: string, runsWanted: number): Promise<void> {
  const one = (seconds: number) => page.evaluate(session, { whep, seconds, bits: CLOCK_BITS, block: CLOCK_BLOCK });
  // A pod's very first viewer meets a cold main thread (HTTP, SDP, first request to a worker).
  const first = await one(1);
  if (runsWanted > 1) emit(`browser.${label}ttff_first_viewer`, first.ttff, 'ms');
  const runs: Run[] = [];
  for (let i = 0; i < runsWanted; i++) {
    await page.waitForTimeout(Math.random() * 1000); // join at another phase of the GOP
    // The last session plays long enough for glass-to-glass; the others stop at the first frames.
    runs.push(await one(i === runsWanted - 1 ? Number(values.seconds) : 1));
  }
  const ttff = runs.map((r) => r.ttff).sort((a, b) => a - b);
  const last = runs.at(-1)!;
  // Glass-to-glass once live: after the first second (a late joiner catches up first).
  const live = last.latencies.filter((_, i) => last.shownAt[i]! > 1000).sort((a, b) => a - b);
  const p50 = percentile(live, 50);
  // Catch-up: from the first frame (a cached, older picture) to the first one within 50 ms of live.
  const caughtUp = last.shownAt[last.latencies.findIndex((l) => l <= p50 + 50)] ?? Number.NaN;
  if (runsWanted > 1) {
    emit(`browser.${label}ttff_p50`, percentile(ttff, 50), 'ms', { runs: ttff.length });
    emit(`browser.${label}ttff_p95`, percentile(ttff, 95), 'ms', {
      runs: ttff.length,
      each: runs.map((r) => Math.round(r.ttff)),
      answer: runs.map((r) => Math.round(r.answer)),
      ice: runs.map((r) => Math.round(r.ice)),
      dtls: runs.map((r) => Math.round(r.dtls)),
    });
  }
  emit(`browser.${label}glass_to_glass_p50`, p50, 'ms', { frames: live.length, unreadable: last.unreadable });
  emit(`browser.${label}glass_to_glass_p95`, percentile(live, 95), 'ms', { frames: live.length });
  emit(`browser.${label}catch_up`, caughtUp, 'ms', { first_picture_age: last.latencies[0] });
  emit(`browser.${label}chromium_video_jitter_buffer`, last.jitterBufferMs, 'ms', { decode_ms: last.decodeMs, ...last.chromium });
}

async function withRig(
  label: string,
  config: Partial<EgressConfigInput>,
  clock: true | 'video-only' = true,
  runs = Number(values.runs),
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-browser-'));
  const rig = await benchRig(dir, {
    gopSeconds: Number(values.gop),
    workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
    clock,
    config,
    compiled: values.compiled,
    nodeArgs: values['node-args'].split(/\s+/).filter(Boolean),
  });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${rig.base}/healthz`);
    await measure(page, rig.whep, label, runs);
    const m = await scrape(rig.metrics);
    emit(`browser.${label}egress_cache_hits`, total(m, 'corecast_egress_gop_cache_hits_total'), 'viewers', {
      keyframe_waits: total(m, 'corecast_egress_keyframe_waits_total'),
      pli: total(m, 'corecast_egress_pli_received_total'),
      answered: total(m, 'corecast_egress_keyframe_requests_total{process="bench",result="answered"}'),
    });
  } catch (error) {
    console.error(
      `browser benchmark (${label || 'default'}) failed: ${(error as Error).message}\negress: ${rig.egress.tail()}\nffmpeg: ${rig.ffmpeg.tail()}`,
    );
    process.exitCode = 1;
  } finally {
    await browser.close();
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await withRig('', {});
// Without audio in the source there is no lip sync to wait for: the delivery path alone.
await withRig('video_only.', {}, 'video-only', 1);
if (values.compare) {
  await withRig('no_cache.', { media: { gopCache: { maxBytes: 0 } } });
  await withRig('original_timing.', { media: { gopCache: { timing: 'original' } } });
}
