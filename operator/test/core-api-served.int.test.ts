/**
 * The Core API as the operator serves it (config.coreApi), against the real API server: the
 * login and token key come from Secrets of the served namespace, a process created through the
 * API gets its FFmpeg pod from the same operator, and `…/state` shows the progress a real FFmpeg
 * (under the pod's wrapper, run here as the kubelet would) reports, with its inputs' and outputs'
 * streams and FFmpeg's CPU and memory in Core's shapes. A missing Secret fails the start naming it.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StateOut } from '../src/core-api/schemas.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  eventually,
  getCluster,
  LIVE_PATTERN,
  namespace,
  runFfmpegPod,
  startOperator,
  waitForPod,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
let op: Operator;
let dir: string;
let ffmpeg: ChildProcess | undefined;

const coreApiConfig = (over: Record<string, unknown> = {}) => ({
  progress: { port: 0, reportIntervalSeconds: 1, statusIntervalSeconds: 1 },
  coreApi: { enabled: true, port: 0, credentialsSecret: 'core-login', ...over },
  egress: { auth: { mode: 'hs256' }, jwtSecretRef: { name: 'viewer-key', key: 'secret' } },
});

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'core-served');
  dir = await mkdtemp(join(tmpdir(), 'corecast-core-served-'));
  const secret = (name: string, data: Record<string, string>) =>
    c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: data } });
  await secret('core-login', { username: 'admin', password: 'correct horse battery staple' });
  await secret('viewer-key', { secret: 'served-core-api-test-key-0123456789abcdef' });
  op = await startOperator(c, [ns], { config: coreApiConfig() });
});

after(async () => {
  ffmpeg?.kill('SIGKILL');
  await op?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the Core API served by the operator', () => {
  test('login, create, and the state shows a real FFmpeg’s progress', async () => {
    const base = `http://127.0.0.1:${op.coreApiPort}`;
    assert.ok(op.coreApiPort > 0);
    const login = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'correct horse battery staple' }),
    });
    assert.equal(login.status, 200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/api/v3/process`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        id: 'served',
        ...LIVE_PATTERN,
        autostart: true,
      }),
    });
    assert.equal(created.status, 200, await created.clone().text());

    const pod = await waitForPod(c, ns, 'served-ffmpeg');
    ffmpeg = runFfmpegPod(pod, dir, op.progressPort, ns, 'served');

    const state = await eventually('progress, streams, CPU and memory in …/state', async () => {
      const rsp = await fetch(`${base}/api/v3/process/served/state`, { headers: auth });
      const s = StateOut.parse(await rsp.json());
      const { progress: g } = s;
      return g.fps > 0 && g.bitrate_kbit > 0 && g.frame > 0 && g.outputs[0]?.codec && s.cpu_usage > 0 && s.memory_bytes > 0 ? s : undefined;
    });
    assert.ok(state.progress.speed > 0);
    // Core's shapes: one entry per stream, with FFmpeg's formats, codecs, coders, sizes and rates
    // (LIVE_PATTERN: lavfi testsrc2 at 160x120 and 25 fps, libx264 into MPEG-TS).
    const entry = (e: (typeof state.progress.inputs)[number]) => [
      ...[e.id, e.address, e.index, e.stream, e.format, e.type, e.codec, e.coder],
      ...[e.pix_fmt, e.width, e.height],
    ];
    assert.deepEqual(state.progress.inputs.map(entry), [
      ['pattern', 'testsrc2=size=160x120:rate=25', 0, 0, 'lavfi', 'video', 'rawvideo', 'rawvideo', 'yuv420p', 160, 120],
    ]);
    assert.equal(state.progress.inputs[0]?.fps, 25);
    assert.deepEqual(state.progress.outputs.map(entry), [
      ['discard', '/dev/null', 0, 0, 'mpegts', 'video', 'h264', 'libx264', 'yuv420p', 160, 120],
    ]);
    const out = state.progress.outputs[0]!;
    assert.ok(out.frame > 0 && out.fps > 0 && out.q !== undefined, JSON.stringify(out));
    assert.deepEqual([out.packet, out.pps, out.size_kb, out.bitrate_kbit], [0, 0, 0, 0], 'what FFmpeg does not report per stream');
    assert.ok(state.cpu_usage < 100, `cpu_usage ${state.cpu_usage}`);
    assert.ok(state.memory_bytes > 2 ** 20 && state.memory_bytes < 2 ** 32, `memory_bytes ${state.memory_bytes}`);
  });

  test('a missing credentials Secret fails the start, naming it', async () => {
    await assert.rejects(
      startOperator(c, [ns], { config: coreApiConfig({ credentialsSecret: 'no-such-login' }), name: 'second' }),
      new RegExp(`Secret ${ns}/no-such-login does not exist`),
    );
  });
});
