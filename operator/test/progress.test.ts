/**
 * Live progress without the API server: FFmpeg's own `-progress` output parsed (a real FFmpeg
 * run), the write plan's budget and coalescing, and viewer counts read from a real egress
 * metrics registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { EgressMetrics } from '../../egress-pod/src/metrics.ts';
import { buildFfmpegPod, PROGRESS_SENDER } from '../src/children/ffmpeg-pod.ts';
import { StateOut } from '../src/core-api/schemas.ts';
import { stateOf } from '../src/core-api/view.ts';
import { type LiveStatus, ProgressHub, type ProgressSources } from '../src/progress/hub.ts';
import { MAX_BLOCK_BYTES, parseProgressBlock, toStatusProgress } from '../src/progress/parse.ts';
import { serveProgress } from '../src/progress/server.ts';
import { metricsUrl, viewersIn } from '../src/progress/viewers.ts';
import { config, view } from './helpers/fixtures.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const run = promisify(execFile);

describe('parseProgressBlock', () => {
  test("reads a real FFmpeg's progress output: the last complete block wins", async () => {
    const { stdout } = await run(
      'ffmpeg',
      [
        ...['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-progress', 'pipe:1'],
        ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-f', 'lavfi', '-i', 'sine'],
        ...['-t', '2', '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-f', 'mpegts', 'pipe:2'],
      ],
      { maxBuffer: 64 << 20, encoding: 'latin1' },
    );
    const f = parseProgressBlock(stdout);
    assert.ok(f);
    assert.equal(f.frame, 50);
    assert.ok(f.sizeBytes > 0 && f.bitrateKbit > 0 && f.speed > 0, JSON.stringify(f));
    assert.ok(Math.abs(f.timeSeconds - 2) < 0.1, `time ${f.timeSeconds}`);
    assert.deepEqual([...f.streams.keys()], [0]);
    const status = toStatusProgress(
      f,
      {
        input: [
          { id: 'v', address: 'a' },
          { id: 's', address: 'b' },
        ],
        output: [{ id: 'o', address: 'c' }],
      },
      't',
    );
    assert.deepEqual(
      status.inputs?.map((i) => [i.id, i.index]),
      [
        ['v', 0],
        ['s', 1],
      ],
    );
    assert.equal(status.outputs?.[0]?.streams?.[0]?.stream, 0);
  });

  test('N/A and negative start times read as 0; a torn block is not one', () => {
    const f = parseProgressBlock(
      'frame=0\nfps=0.00\nbitrate=N/A\ntotal_size=N/A\nout_time_us=-9223372036854775807\nspeed=N/A\nprogress=continue\n',
    );
    assert.deepEqual([f?.bitrateKbit, f?.sizeBytes, f?.timeSeconds, f?.speed, f?.q], [0, 0, 0, 0, -1]);
    assert.equal(parseProgressBlock('frame=10\nfps=25\n'), undefined);
  });
});

describe('ProgressHub.plan', () => {
  const keys = Array.from({ length: 10 }, (_, i) => `ns/p${i}`);
  const shown = new Map<string, LiveStatus>();
  const sources: ProgressSources = {
    process: (key) => (keys.includes(key) ? { endpoints: { input: [], output: [] }, ffmpegPodUid: `uid-${key}` } : undefined),
    shown: (key) => shown.get(key) ?? {},
    showing: () => [...shown.keys()],
  };
  const block = (frame: number) => `frame=${frame}\nfps=25\nprogress=continue\n`;

  test('one write per Process however many reports came, cut at maxStatusWritesPerSecond × interval', () => {
    const clock = new ManualClock(0);
    const hub = new ProgressHub({ reportIntervalSeconds: 1, statusIntervalSeconds: 2, maxStatusWritesPerSecond: 3 }, sources, clock);
    for (let r = 0; r < 50; r++) for (const key of keys) assert.equal(hub.report(key, `uid-${key}`, block(r)), undefined);
    const { due, deferred } = hub.plan();
    assert.equal(due.length, 6);
    assert.equal(deferred, 4);
    assert.equal(new Set(due.map((d) => d.key)).size, 6);
    assert.equal(due[0]?.status.progress?.frame, 49, 'the latest figures');
  });

  test('figures from another pod are refused; stale figures are removed from the status', () => {
    const clock = new ManualClock(0);
    const hub = new ProgressHub({ reportIntervalSeconds: 1, statusIntervalSeconds: 5, maxStatusWritesPerSecond: 100 }, sources, clock);
    assert.equal(hub.report('ns/p0', 'other', block(1)), 'not-its-pod');
    assert.equal(hub.report('ns/unknown', 'x', block(1)), 'unknown-process');
    assert.equal(hub.report('ns/p1', 'uid-ns/p1', block(1)), undefined);
    shown.set('ns/p1', { progress: hub.desired('ns/p1').progress! });
    assert.deepEqual(hub.plan().due, [], 'the status already shows it');
    clock.advance(hub.staleMs + 1);
    assert.deepEqual(hub.plan().due, [{ key: 'ns/p1', status: {} }], 'an empty apply removes the stale figures');
    shown.clear();
  });

  test('a new leader clears nothing before reports had time to come', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new ProgressHub({ reportIntervalSeconds: 1, statusIntervalSeconds: 5, maxStatusWritesPerSecond: 100 }, sources, clock);
    shown.set('ns/p2', { viewers: 4 });
    hub.start(undefined as never, undefined as never);
    try {
      assert.deepEqual(hub.plan().due, []);
      clock.advance(hub.staleMs);
      assert.deepEqual(hub.plan().due, [{ key: 'ns/p2', status: {} }]);
    } finally {
      void hub.stop();
      shown.clear();
    }
  });
});

describe('viewers', () => {
  test("read from a real egress pod's metrics registry", async () => {
    const m = new EgressMetrics(['demo', 'other'], { defaultMetrics: false });
    m.viewers.set({ process: 'demo' }, 3);
    const counts = viewersIn(await m.registry.metrics());
    assert.deepEqual(
      [...counts],
      [
        ['demo', 3],
        ['other', 0],
      ],
    );
  });

  test('only a running pod with an address and a metrics port is asked', () => {
    const pod = (phase: string, podIP?: string) => ({
      spec: { containers: [{ name: 'egress', ports: [{ name: 'metrics', containerPort: 21003 }] }] },
      status: { phase, ...(podIP ? { podIP } : {}) },
    });
    assert.equal(metricsUrl(pod('Running', '10.0.0.7')), 'http://10.0.0.7:21003/metrics');
    assert.equal(metricsUrl(pod('Running', 'fd00::7')), 'http://[fd00::7]:21003/metrics');
    assert.equal(metricsUrl(pod('Pending', '10.0.0.7')), undefined);
    assert.equal(metricsUrl(pod('Running')), undefined);
  });
});

describe('the FFmpeg pod with progress.endpoint', () => {
  test('gets the sender and where to send; without an endpoint it gets no environment', () => {
    const withEndpoint = buildFfmpegPod(
      view('demo'),
      config({ progress: { endpoint: 'op.corecast-system.svc:8083', reportIntervalSeconds: 3 } }),
      0,
    );
    const env = withEndpoint.spec?.containers[0]?.env ?? [];
    const value = (name: string) => env.find((e) => e.name === name);
    assert.equal(value('CORECAST_PROGRESS_SENDER')?.value, PROGRESS_SENDER);
    assert.equal(value('CORECAST_PROGRESS_HOST')?.value, 'op.corecast-system.svc');
    assert.equal(value('CORECAST_PROGRESS_PORT')?.value, '8083');
    assert.equal(value('CORECAST_PROGRESS_INTERVAL')?.value, '3');
    assert.equal(value('CORECAST_PROCESS_NAME')?.value, 'demo');
    assert.deepEqual(value('CORECAST_POD_UID')?.valueFrom, { fieldRef: { fieldPath: 'metadata.uid' } });
    assert.equal(buildFfmpegPod(view('demo'), config(), 0).spec?.containers[0]?.env, undefined);
  });
});

describe("the Core API's state", () => {
  test("shows status.progress in Core's shape, one output entry per reported stream", () => {
    const progress = toStatusProgress(
      parseProgressBlock(
        'frame=250\nfps=25.00\nstream_0_0_q=28.0\nstream_0_1_q=-1.0\nbitrate= 812.5kbits/s\ntotal_size=1048576\nout_time_us=10000000\ndup_frames=1\ndrop_frames=2\nspeed=1.01x\nprogress=continue\n',
      )!,
      { input: [{ id: 'cam', address: 'rtmp://cam/live' }], output: [{ id: 'out', address: 'srt://dest:9000' }] },
      '2026-01-01T00:00:00Z',
    );
    const state = stateOf({ metadata: { name: 'demo' }, spec: { order: 'start' }, status: { exec: 'running', progress } }, Date.now());
    assert.ok(StateOut.safeParse(state).success, JSON.stringify(StateOut.safeParse(state).error));
    const p = state.progress;
    assert.deepEqual(
      [p.frame, p.fps, p.q, p.size_kb, p.time, p.bitrate_kbit, p.speed, p.drop, p.dup],
      [250, 25, 28, 1024, 10, 812.5, 1.01, 2, 1],
    );
    assert.deepEqual(
      p.inputs.map((i) => [i.id, i.address]),
      [['cam', 'rtmp://cam/live']],
    );
    assert.deepEqual(
      p.outputs.map((o) => [o.id, o.stream, o.q]),
      [
        ['out', 0, 28],
        ['out', 1, -1],
      ],
    );
    const idle = stateOf({ metadata: { name: 'demo' }, spec: {}, status: { exec: 'finished' } }, Date.now());
    assert.deepEqual([idle.progress.fps, idle.progress.outputs], [0, []]);
  });
});

describe('the progress port', () => {
  test('a standby answers 503 and keeps nothing; the leader takes the report', async () => {
    const sources: ProgressSources = {
      process: () => ({ endpoints: { input: [], output: [] }, ffmpegPodUid: 'uid' }),
      shown: () => ({}),
      showing: () => [],
    };
    const hub = new ProgressHub(
      { reportIntervalSeconds: 1, statusIntervalSeconds: 1, maxStatusWritesPerSecond: 10 },
      sources,
      new ManualClock(0),
    );
    let leading = false;
    const server = await serveProgress(hub, () => leading, 0);
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${server.port}/progress/ns/demo`, { method: 'POST', headers: { 'x-corecast-pod-uid': 'uid' }, body });
    try {
      const standby = await post('frame=1\nprogress=continue\n');
      assert.equal(standby.status, 503);
      assert.equal(standby.headers.get('retry-after'), '1');
      assert.deepEqual(hub.live(), []);
      leading = true;
      assert.equal((await post('frame=2\nprogress=continue\n')).status, 204);
      assert.equal(hub.live()[0]?.[1].progress?.frame, 2);
      assert.equal((await post('x'.repeat(MAX_BLOCK_BYTES + 1))).status, 413);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/progress/ns/demo`)).status, 405);
    } finally {
      await server.close();
    }
  });
});
