/**
 * What FFmpeg's header lines say about each input and output, read from a real FFmpeg's log
 * (captured here, filtered as the pod's wrapper filters it): codecs, coders, sizes, rates and
 * audio layouts, through encodes, a filter graph and a stream copy; then the same in the status
 * figures, in the Core API's state, and over the progress port (which asks for the lines until
 * it has them).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { HEADER_PATTERN } from '../src/children/ffmpeg-pod.ts';
import { StateOut } from '../src/core-api/schemas.ts';
import { stateOf } from '../src/core-api/view.ts';
import { ProgressHub } from '../src/progress/hub.ts';
import { headerLines, parseProgressBlock, toStatusProgress } from '../src/progress/parse.ts';
import { serveProgress, WANT_STREAMS_HEADER } from '../src/progress/server.ts';
import { parseHeaders } from '../src/progress/streams.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const run = promisify(execFile);
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/**
 * Runs FFmpeg and returns its log as the wrapper keeps it (`\r` ends a line, header lines only,
 * each as `log=<line>`), and its `-progress` output. `-loglevel error` on the command line: the
 * wrapper's copy of the log (FFREPORT, level info) does not depend on it.
 */
async function ffmpegRun(args: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-streams-'));
  dirs.push(dir);
  const report = join(dir, 'report.log');
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', ...args], {
    cwd: dir,
    env: { ...process.env, FFREPORT: `file=${report}:level=32` },
    maxBuffer: 16 << 20,
  });
  const pattern = new RegExp(HEADER_PATTERN);
  const log = (await readFile(report, 'utf8'))
    .split(/[\r\n]/)
    .filter((l) => pattern.test(l))
    .map((l) => `log=${l}`);
  return { log, progress: stdout, dir };
}

const TESTSRC = ['-re', '-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000'];
const X264_AAC = ['-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-f', 'mpegts', '-y'];

describe('parseHeaders on a real FFmpeg log', () => {
  test('lavfi testsrc and sine → libx264 and aac: formats, codecs, coders, size, rate, audio', async () => {
    const { log } = await ffmpegRun([...TESTSRC, ...X264_AAC, 'out.ts']);
    const h = parseHeaders(log);
    assert.deepEqual([...h.inputs.keys()], [0, 1]);
    assert.equal(h.inputs.get(0)?.format, 'lavfi');
    assert.deepEqual(h.inputs.get(0)?.streams, [
      { stream: 0, type: 'video', codec: 'rawvideo', coder: 'rawvideo', pixFmt: 'rgb24', width: 1280, height: 720, fps: 30 },
    ]);
    assert.deepEqual(h.inputs.get(1)?.streams, [
      { stream: 0, type: 'audio', codec: 'pcm_s16le', coder: 'pcm_s16le', samplingHz: 48000, layout: 'mono', channels: 1 },
    ]);
    assert.equal(h.outputs.get(0)?.format, 'mpegts');
    const [video, audio] = h.outputs.get(0)?.streams ?? [];
    assert.deepEqual(
      [video?.type, video?.codec, video?.coder, video?.width, video?.height, video?.fps],
      ['video', 'h264', 'libx264', 1280, 720, 30],
    );
    assert.match(video?.pixFmt ?? '', /^yuv4[24][04]p$/);
    assert.deepEqual(
      [audio?.stream, audio?.type, audio?.codec, audio?.coder, audio?.samplingHz, audio?.channels],
      [1, 'audio', 'aac', 'aac', 48000, 1],
    );
  });

  test('a filter graph, a stream copy, a language tag and a 5.1 layout', async () => {
    const src = await ffmpegRun([
      ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=sample_rate=44100'],
      ...[
        '-t',
        '1',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-c:a',
        'aac',
        '-ac',
        '2',
        '-metadata:s:a:0',
        'language=eng',
        '-y',
        'src.mkv',
      ],
    ]);
    const { log } = await ffmpegRun([
      ...['-i', join(src.dir, 'src.mkv'), '-f', 'lavfi', '-i', 'anullsrc=channel_layout=5.1:sample_rate=48000'],
      ...['-filter_complex', '[0:v]scale=160:120[v]', '-map', '[v]', '-map', '0:a', '-map', '1:a', '-t', '1'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a:0', 'copy', '-c:a:1', 'libopus', '-f', 'matroska', '-y', 'out.mkv'],
    ]);
    const h = parseHeaders(log);
    assert.equal(h.inputs.get(0)?.format, 'matroska,webm');
    const [v, a] = h.inputs.get(0)?.streams ?? [];
    assert.deepEqual([v?.codec, v?.coder, v?.width, v?.height, v?.fps, v?.pixFmt], ['h264', 'h264', 320, 240, 25, 'yuv420p']);
    assert.deepEqual([a?.stream, a?.codec, a?.samplingHz, a?.layout, a?.channels], [1, 'aac', 44100, 'stereo', 2]);
    const out = h.outputs.get(0)?.streams ?? [];
    assert.deepEqual(
      out.map((s) => [s.stream, s.codec, s.coder]),
      [
        [0, 'h264', 'libx264'],
        [1, 'aac', 'copy'],
        [2, 'opus', 'libopus'],
      ],
    );
    assert.deepEqual([out[0]?.width, out[0]?.height], [160, 120]);
    assert.deepEqual([out[2]?.layout, out[2]?.channels, out[2]?.samplingHz], ['5.1', 6, 48000]);
  });

  test('unknown and torn lines are skipped; names are cut to what the status takes', () => {
    const h = parseHeaders([
      'log=garbage',
      `log=Input #0, ${'f'.repeat(300)}, from 'x':`,
      'log=  Stream #0:0: Video: h264',
      'log=  Stream #0:1: Audio: aac (LC), 48000 Hz',
      'log=  Stream #0:2: Vid',
      'log=  Stream #9:0 -> #9:0 (copy)',
    ]);
    assert.equal(h.inputs.get(0)?.format.length, 128);
    assert.deepEqual(h.inputs.get(0)?.streams, [
      { stream: 0, type: 'video', codec: 'h264', coder: 'h264' },
      { stream: 1, type: 'audio', codec: 'aac', coder: 'aac', samplingHz: 48000 },
    ]);
  });
});

describe('the header lines in the status and the Core API', () => {
  test("a real run's figures: streams described, the first video output counts frames, CPU and memory carried", async () => {
    const { log, progress } = await ffmpegRun([...TESTSRC, ...X264_AAC, 'out.ts']);
    const report = `${progress.trimEnd()}\ncpu_usage=37.5\nmemory_bytes=52428800\n${log.join('\n')}\n`;
    const figures = parseProgressBlock(report);
    assert.ok(figures);
    assert.deepEqual([figures.cpuUsage, figures.memoryBytes], [37.5, 52428800]);
    const endpoints = {
      input: [
        { id: 'pattern', address: 'testsrc=size=1280x720:rate=30' },
        { id: 'tone', address: 'sine=sample_rate=48000' },
      ],
      output: [{ id: 'file', address: 'out.ts' }],
    };
    const status = toStatusProgress(figures, endpoints, '2026-01-01T00:00:00Z', parseHeaders(headerLines(report) ?? []));
    assert.equal(status.outputs?.[0]?.format, 'mpegts');
    const video = status.outputs?.[0]?.streams?.[0];
    assert.equal(video?.frame, figures.frame);
    assert.ok(figures.frame >= 55, `frames ${figures.frame}`);
    assert.equal(typeof video?.q, 'number');
    assert.equal(status.outputs?.[0]?.streams?.[1]?.frame, undefined, 'audio has no frame count');

    const state = stateOf({ metadata: { name: 'demo' }, spec: {}, status: { exec: 'running', progress: status } }, Date.now());
    const parsed = StateOut.safeParse(state);
    assert.ok(parsed.success, JSON.stringify(parsed.error));
    assert.deepEqual([state.cpu_usage, state.memory_bytes], [37.5, 52428800]);
    const core = (list: typeof state.progress.inputs) =>
      list.map((i) => [i.id, i.index, i.stream, i.format, i.type, i.codec, i.coder, i.width, i.height, i.fps, i.sampling_hz, i.channels]);
    assert.deepEqual(core(state.progress.inputs), [
      ['pattern', 0, 0, 'lavfi', 'video', 'rawvideo', 'rawvideo', 1280, 720, 30, undefined, undefined],
      ['tone', 1, 0, 'lavfi', 'audio', 'pcm_s16le', 'pcm_s16le', undefined, undefined, 0, 48000, 1],
    ]);
    const [v, a] = state.progress.outputs;
    assert.deepEqual([v?.codec, v?.coder, v?.width, v?.height, v?.frame], ['h264', 'libx264', 1280, 720, figures.frame]);
    assert.deepEqual([a?.stream, a?.codec, a?.coder, a?.layout, a?.pix_fmt], [1, 'aac', 'aac', 'mono', undefined]);
  });

  test('the progress port asks for the header lines until the pod sent them, and keeps them for its later reports', async () => {
    const endpoints = { input: [{ id: 'in', address: 'a' }], output: [{ id: 'out', address: 'b' }] };
    let podUid = 'pod-1';
    const hub = new ProgressHub(
      { reportIntervalSeconds: 1, statusIntervalSeconds: 1, maxStatusWritesPerSecond: 10 },
      { process: () => ({ endpoints, ffmpegPodUid: podUid }), shown: () => ({}), showing: () => [] },
      new ManualClock(0),
    );
    const server = await serveProgress(hub, () => true, 0);
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${server.port}/progress/ns/demo`, { method: 'POST', headers: { 'x-corecast-pod-uid': podUid }, body });
    const block = 'frame=5\nfps=25\nstream_0_0_q=20.0\nprogress=continue\n';
    const headers = "log=Output #0, flv, to 'b':\nlog=  Stream #0:0: Video: h264, yuv420p(progressive), 640x360, q=2-31, 25 fps, 1k tbn\n";
    const wanted = (r: Response) => r.headers.get(WANT_STREAMS_HEADER);
    try {
      assert.equal(wanted(await post(block)), 'true');
      const taken = await post(`${block}memory_bytes=1000\n${headers}`);
      assert.equal(taken.status, 204);
      assert.equal(wanted(taken), null);
      const later = await post(block);
      assert.equal(wanted(later), null);
      const out = hub.live()[0]?.[1].progress?.outputs?.[0];
      assert.deepEqual([out?.format, out?.streams?.[0]?.width, out?.streams?.[0]?.q], ['flv', 640, 20]);
      // A new FFmpeg pod: its header lines are asked for again, the old pod's are not shown.
      podUid = 'pod-2';
      assert.equal(wanted(await post(block)), 'true');
      assert.equal(hub.live()[0]?.[1].progress?.outputs?.[0]?.format, undefined);
    } finally {
      await server.close();
    }
  });
});
