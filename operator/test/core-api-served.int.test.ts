/**
 * The Core API as the operator serves it (config.coreApi), against the real API server: the
 * login and token key come from Secrets of the served namespace, a process created through the
 * API gets its FFmpeg pod from the same operator, and `…/state` shows the progress a real FFmpeg
 * (under the pod's wrapper, run here as the kubelet would) reports. A missing Secret fails the
 * start naming it.
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

    const state = await eventually('progress in …/state', async () => {
      const rsp = await fetch(`${base}/api/v3/process/served/state`, { headers: auth });
      const s = StateOut.parse(await rsp.json());
      return s.progress.fps > 0 && s.progress.bitrate_kbit > 0 && s.progress.frame > 0 ? s : undefined;
    });
    assert.deepEqual(
      state.progress.outputs.map((o) => [o.id, o.address]),
      [['discard', '/dev/null']],
    );
    assert.ok(state.progress.speed > 0);
  });

  test('a missing credentials Secret fails the start, naming it', async () => {
    await assert.rejects(
      startOperator(c, [ns], { config: coreApiConfig({ credentialsSecret: 'no-such-login' }), name: 'second' }),
      new RegExp(`Secret ${ns}/no-such-login does not exist`),
    );
  });
});
