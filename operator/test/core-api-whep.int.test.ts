/**
 * The token from Core's login plays: `POST /api/login` on the Core API, then a WHEP POST with
 * that access token to a real egress (hs256, the same key, the Process's namespace) fed by a
 * real FFmpeg, and a werift viewer that receives video. A refresh token does not play. Failed
 * logins are limited per client address.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { KubeConfig } from '@kubernetes/client-node';
import { type Egress, resolveConfig, startEgress } from '../../egress-pod/src/index.ts';
import { feed, testConfig, whepUrl } from '../../egress-pod/test/helpers.ts';
import { ErrorOut, JwtOut, JwtRefreshOut } from '../src/core-api/schemas.ts';
import { makeKube } from '../src/kube/client.ts';
import { serveCoreApi } from './helpers/core-api.ts';

const SECRET = 'the namespace key shared by the API and its egress pods';
const NS = 'media';

/** A kubeconfig for a server that is never contacted: login and refresh do not read Processes. */
function unusedKube() {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return makeKube(kc);
}

describe('the login token plays on an egress pod', { timeout: 180000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  let server: Server;
  let base: string;
  const viewers: WhepTestClient[] = [];

  before(async () => {
    const config = testConfig({ namespace: NS, auth: { mode: 'hs256' } });
    egress = await startEgress(resolveConfig(config, { CORECAST_JWT_SECRET: SECRET }), { defaultMetrics: false });
    ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10, audio: false });
    ({ server, base } = await serveCoreApi({
      kube: unusedKube(),
      namespace: NS,
      credentials: { username: 'admin', password: 'let-me-in' },
      tokens: { secret: Buffer.from(SECRET) },
    }));
  });

  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    server?.close();
    await ffmpeg?.kill();
    await egress?.stop();
  });

  const login = async () => {
    const rsp = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'let-me-in' }),
    });
    assert.equal(rsp.status, 200);
    return JwtOut.parse(await rsp.json());
  };

  /** Plays with `token` until video arrives; resolves with the WHEP POST status. */
  const play = async (token: string): Promise<number> => {
    const viewer = new WhepTestClient({ token });
    viewers.push(viewer);
    const rsp = await viewer.post(whepUrl(egress));
    if (rsp.status !== 201) return rsp.status;
    await viewer.connected();
    await waitUntil(() => viewer.received.video.length > 10, 30000, 'video packets at the viewer');
    return rsp.status;
  };

  test('the access token from /api/login: 201 and video', async () => {
    const pair = await login();
    assert.equal(await play(pair.access_token), 201);
  });

  test('failed logins from one client address: 429 with Retry-After past ten a minute, whatever it writes first in X-Forwarded-For', async () => {
    const attempt = (password: string, forwarded: string) =>
      fetch(`${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded },
        body: JSON.stringify({ username: 'admin', password }),
      });
    for (let i = 0; i < 10; i++) assert.equal((await attempt('guess', '203.0.113.5')).status, 403);
    const blocked = await attempt('let-me-in', '198.51.100.7, 203.0.113.5');
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.deepEqual(ErrorOut.parse(await blocked.json()).code, 429);
    assert.equal((await attempt('let-me-in', '203.0.113.6')).status, 200, 'another address logs in');
  });

  test('an access token from /api/login/refresh plays too; the refresh token itself does not (403)', async () => {
    const pair = await login();
    const rsp = await fetch(`${base}/api/login/refresh`, { headers: { authorization: `Bearer ${pair.refresh_token}` } });
    const renewed = JwtRefreshOut.parse(await rsp.json());
    assert.equal(await play(renewed.access_token), 201);
    assert.equal(await play(pair.refresh_token), 403);
  });
});
