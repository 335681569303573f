/**
 * What one viewer may hold, against a running egress with real werift peers: sessions per token
 * subject and per client address (429 + Retry-After past them), an offer whose client went away
 * before the answer (its slot freed at once), and sessions changed or ended only by the
 * credential that created them.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { waitUntil, WhepTestClient } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

const SECRET = 'the viewer-limits HS256 secret, long enough 0123456789';
const NS = 'limits';

function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ 'corecast.dev/processes': [`${NS}/demo`], ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

describe('viewer limits', { timeout: 120000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  const clients: WhepTestClient[] = [];
  /** A new real peer's POST (its session stays until the long connect timeout or a DELETE). */
  const join = async (bearer?: string): Promise<{ client: WhepTestClient; res: Response }> => {
    const client = new WhepTestClient(bearer ? { token: bearer } : {});
    clients.push(client);
    return { client, res: await client.post(whepUrl(egress)) };
  };
  const leaveAll = async () => {
    const leaving = clients.splice(0);
    await Promise.all(leaving.map(async (c) => (c.location ? c.delete().catch(() => {}) : undefined)));
    await Promise.all(leaving.map((c) => c.close()));
    await waitUntil(() => egress.sessions.count() === 0, 10000, 'every session ended');
  };

  before(async () => {
    egress = await startTestEgress(
      {
        namespace: NS,
        auth: { mode: 'hs256' },
        streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 20 }],
        session: { connectTimeoutSeconds: 60, maxPerSubject: 2, maxPerClient: 5 },
        retryAfterSeconds: { noSource: 2, full: 7 },
      },
      { CORECAST_JWT_SECRET: SECRET },
    );
    ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10, audio: false });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('one token cannot hold every viewer slot: past maxPerSubject its next offer gets 429 with Retry-After', async () => {
    const alice = await token({ sub: 'alice' });
    assert.equal((await join(alice)).res.status, 201);
    // Another token of the same subject counts towards the same limit.
    assert.equal((await join(await token({ sub: 'alice', jti: 'second' }))).res.status, 201);
    const third = (await join(alice)).res;
    assert.equal(third.status, 429);
    assert.equal(third.headers.get('retry-after'), '7');
    assert.match(((await third.json()) as { detail: string }).detail, /this credential already has its maximum of 2 sessions/);
    // Someone else still gets in; a token without sub is its own subject.
    assert.equal((await join(await token({ sub: 'bob' }))).res.status, 201);
    const anonymous = await token({});
    assert.equal((await join(anonymous)).res.status, 201);
    assert.equal((await join(anonymous)).res.status, 201);
    const anonymousThird = (await join(anonymous)).res;
    assert.equal(anonymousThird.status, 429);
    assert.match(((await anonymousThird.json()) as { detail: string }).detail, /this credential/);
    await leaveAll();
  });

  it('one client address cannot hold every viewer slot: past maxPerClient its next offer gets 429', async () => {
    for (const sub of ['c1', 'c2', 'c3', 'c4', 'c5']) assert.equal((await join(await token({ sub }))).res.status, 201);
    const sixth = (await join(await token({ sub: 'c6' }))).res;
    assert.equal(sixth.status, 429);
    assert.equal(sixth.headers.get('retry-after'), '7');
    assert.match(((await sixth.json()) as { detail: string }).detail, /this address already has its maximum of 5 sessions/);
    // A session that ends gives the slot back.
    assert.equal((await clients[0]!.delete()).status, 200);
    assert.equal((await join(await token({ sub: 'c6' }))).res.status, 201);
    await leaveAll();
  });

  it('a session is changed or ended only by its own subject: DELETE and PATCH with another subject get 403', async () => {
    const { client, res } = await join(await token({ sub: 'owner' }));
    assert.equal(res.status, 201);
    const other = { Authorization: `Bearer ${await token({ sub: 'intruder' })}` };
    const del = await fetch(client.location!, { method: 'DELETE', headers: other });
    assert.equal(del.status, 403);
    const patch = await fetch(client.location!, {
      method: 'PATCH',
      headers: { ...other, 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
      body: 'a=ice-ufrag:zzzz\r\na=ice-pwd:zzzzzzzzzzzzzzzzzzzzzzzz\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n',
    });
    assert.equal(patch.status, 403);
    assert.equal(egress.sessions.count(), 1, 'the session is still there');
    // The owner, with another token of the same subject (a refreshed one), may.
    const refreshed = { Authorization: `Bearer ${await token({ sub: 'owner', jti: 'refreshed' })}` };
    assert.equal((await fetch(client.location!, { method: 'DELETE', headers: refreshed })).status, 200);
    assert.equal(egress.sessions.count(), 0);
    await leaveAll();
  });
});

describe('an offer whose client went away', { timeout: 60000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  let blackHole: Socket;

  before(async () => {
    // A STUN server that never answers: gathering waits for it (most of the gathering budget),
    // so the answer takes seconds and the client can leave before it.
    blackHole = createSocket('udp4');
    await new Promise<void>((r) => blackHole.bind(0, '127.0.0.1', () => r()));
    const stun = `stun:127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
    egress = await startTestEgress({
      streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 1 }],
      ice: { advertise: { addresses: ['127.0.0.1'], only: true }, servers: [{ urls: [stun] }], gatherTimeoutSeconds: 5 },
      media: { workers: 0 },
    });
    ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10, audio: false });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
    blackHole?.close();
  });

  it('work goes on after the client has gone no longer: an aborted POST frees its viewer slot at once', async () => {
    const client = new WhepTestClient();
    const sdp = await client.offer();
    const abort = new AbortController();
    const posted = fetch(whepUrl(egress), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: sdp,
      signal: abort.signal,
    }).catch((err: unknown) => err);
    await waitUntil(() => egress.sessions.count() === 1, 5000, 'the offer is being answered');
    const started = performance.now();
    abort.abort();
    await posted;
    await waitUntil(() => egress.sessions.count() === 0, 1000, 'the slot freed right after the abort');
    assert.ok(performance.now() - started < 1000, 'freed well before gathering ends');
    // The only viewer slot is free for the next viewer; the abandoned peer does not come back
    // into the index when its gathering ends.
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(egress.sessions.count(), 0);
    await client.close();
  });
});
