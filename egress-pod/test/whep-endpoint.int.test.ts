/**
 * Every row of egress-pod/README.md's "WHEP behaviour" tables for the endpoint `/api/v3/process/<id>/whep`, against a real
 * egress fed by real FFmpeg, with real werift viewers on loopback.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { type StunServer, startStunServer } from '@corecast/testkit/stun-server';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { offer } from './fixtures.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** A raw POST to a WHEP URL. */
function post(url: string, body: string, headers: Record<string, string> = { 'Content-Type': 'application/sdp' }): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body });
}

async function problem(res: Response): Promise<string> {
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = (await res.json()) as { status: number; detail: string };
  assert.equal(body.status, res.status);
  return body.detail;
}

describe('WHEP endpoint', { timeout: 180000 }, () => {
  let egress: Egress;
  let stun: StunServer;
  let link: string;
  const sources: FfmpegRun[] = [];
  const clients: WhepTestClient[] = [];
  const viewer = (options?: ConstructorParameters<typeof WhepTestClient>[0]) => {
    const c = new WhepTestClient(options);
    clients.push(c);
    return c;
  };
  before(async () => {
    stun = await startStunServer();
    link = `<stun:127.0.0.1:${stun.port}>; rel="ice-server"`;
    egress = await startTestEgress({
      streams: [
        { processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 3 },
        { processId: 'cam', video: { port: 0 }, audio: { port: 0 }, maxViewers: 3 },
        { processId: 'idle', video: { port: 0 }, audio: { port: 0 } },
      ],
      maxViewers: 4,
      ice: { advertise: { addresses: ['127.0.0.1'], only: true }, servers: [{ urls: [`stun:127.0.0.1:${stun.port}`] }] },
    });
    sources.push(await feed(egress, 'demo'));
    sources.push(await feed(egress, 'cam', { size: '160x120', rate: 10, audio: false }));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sources.map((s) => s.kill()));
    await egress?.stop();
    await stun?.close();
  });

  it('POST with a recvonly offer: 201, the answer, Location, ETag, Link and CORS exposure', async () => {
    const c = viewer();
    const res = await c.post(whepUrl(egress));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    assert.match(res.headers.get('location')!, /^\/api\/v3\/process\/demo\/whep\/[A-Za-z0-9_-]{22}$/);
    assert.match(res.headers.get('etag')!, /^"[A-Za-z0-9_-]+"$/);
    assert.equal(res.headers.get('link'), link);
    assert.ok(stun.requests() > 0, 'the pod used the configured STUN server');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-expose-headers')!, /Location, ETag, Link/);
    const answer = await res.text();
    // Non-trickle answer from a full ICE agent: BUNDLE, rtcp-mux, one msid for both tracks.
    assert.match(answer, /^a=group:BUNDLE 0 1/m);
    assert.equal(answer.match(/^a=rtcp-mux/gm)?.length, 2);
    assert.equal(answer.match(/^a=sendonly/gm)?.length, 2);
    assert.doesNotMatch(answer, /a=ice-lite/);
    const msids = [...answer.matchAll(/^a=msid:(\S+) /gm)].map((m) => m[1]);
    assert.equal(msids.length, 2);
    assert.equal(msids[0], msids[1]);
    assert.match(answer, /a=end-of-candidates/);
    await c.connected();
    await waitUntil(() => c.received.video.length > 10 && c.received.audio.length > 10, 20000, 'media');
    assert.equal((await c.delete()).status, 200);
  });

  it('POST with a sendrecv offer: 201, answered sendonly', async () => {
    const c = viewer();
    const sdp = (await c.offer()).replaceAll('a=recvonly', 'a=sendrecv');
    const res = await post(whepUrl(egress), sdp);
    assert.equal(res.status, 201);
    assert.equal((await res.text()).match(/^a=sendonly/gm)?.length, 2);
    await fetch(new URL(res.headers.get('location')!, egress.url), { method: 'DELETE' });
  });

  it('POST with another content type: 415, saying why', async () => {
    const res = await post(whepUrl(egress), offer(), { 'Content-Type': 'text/plain' });
    assert.equal(res.status, 415);
    assert.equal(await problem(res), 'Content-Type must be application/sdp, not text/plain');
    const none = await fetch(whepUrl(egress), { method: 'POST', body: new Uint8Array([1]) });
    assert.equal(none.status, 415);
  });

  it('POST with an empty or malformed body: 400', async () => {
    const empty = await post(whepUrl(egress), '');
    assert.equal(empty.status, 400);
    assert.equal(await problem(empty), 'the body is empty; POST an SDP offer');
    const garbage = await post(whepUrl(egress), 'hello');
    assert.equal(garbage.status, 400);
    assert.match(await problem(garbage), /must start with "v=0"/);
  });

  it('POST whose offer lacks H.264 or Opus: 406', async () => {
    const noH264 = await post(whepUrl(egress), offer({ video: 'a=rtpmap:97 VP9/90000' }));
    assert.equal(noH264.status, 406);
    assert.match(await problem(noH264), /no H.264 codec/);
    const noOpus = await post(whepUrl(egress), offer({ audio: 'a=rtpmap:0 PCMU/8000' }));
    assert.equal(noOpus.status, 406);
    assert.match(await problem(noOpus), /no Opus/);
  });

  it('POST for a process without a live source: 409 with Retry-After', async () => {
    const res = await post(whepUrl(egress, 'idle'), offer());
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('retry-after'), '2');
    assert.match(await problem(res), /no live source yet/);
  });

  it('POST for an unknown process: 404', async () => {
    const res = await post(whepUrl(egress, 'nosuch'), offer());
    assert.equal(res.status, 404);
    assert.match(await problem(res), /no process "nosuch"/);
  });

  it('POST past the per-stream cap, then past the pod cap: 503 with Retry-After and different messages', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await viewer().post(whepUrl(egress, 'cam'))).status, 201);
    const streamFull = await viewer().post(whepUrl(egress, 'cam'));
    assert.equal(streamFull.status, 503);
    assert.equal(streamFull.headers.get('retry-after'), '10');
    assert.equal(await problem(streamFull), 'this stream has its maximum of 3 viewers; try again later');
    assert.equal((await viewer().post(whepUrl(egress, 'demo'))).status, 201);
    const podFull = await viewer().post(whepUrl(egress, 'demo'));
    assert.equal(podFull.status, 503);
    assert.equal(podFull.headers.get('retry-after'), '10');
    assert.equal(await problem(podFull), 'this server has its maximum of 4 viewers; try again later');
    for (const c of clients.splice(0)) {
      // Let connecting peers finish first: werift keeps ICE timers of a peer closed mid-check.
      if (c.location) {
        await c.connected();
        await c.delete();
      }
      await c.close();
    }
    assert.equal(egress.sessions.count(), 0);
  });

  it('POST whose ICE gathering times out: 504, and nothing is left behind', async () => {
    // A TURN server (over TCP) that accepts and never answers keeps werift gathering past a
    // 0.2 s budget; closing its connections afterwards lets werift's pending allocation end.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as AddressInfo).port;
    const turn = {
      urls: [`turn:127.0.0.1:${port}?transport=tcp`],
      auth: { type: 'password' as const, username: 'u', credentialEnv: 'TURN_PW' },
    };
    const slow = await startTestEgress(
      { ice: { advertise: { addresses: ['127.0.0.1'], only: true }, servers: [turn], gatherTimeoutSeconds: 0.2 } },
      { TURN_PW: 'p' },
    );
    const run = await feed(slow);
    try {
      const res = await post(whepUrl(slow), await viewer().offer());
      assert.equal(res.status, 504);
      assert.match(await problem(res), /ICE gathering did not finish within 200 ms/);
      assert.equal(slow.sessions.count(), 0);
    } finally {
      await run.kill();
      await slow.stop();
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('GET: 2xx without a body; HEAD: 200 application/sdp without a body', async () => {
    const get = await fetch(whepUrl(egress));
    assert.equal(get.status, 204);
    assert.equal(await get.text(), '');
    const head = await fetch(whepUrl(egress), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/sdp');
    assert.equal(await head.text(), '');
  });

  it('OPTIONS: CORS preflight answered, 200 with Accept-Post', async () => {
    const preflight = await fetch(whepUrl(egress), {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://site.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers.get('accept-post'), 'application/sdp');
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'OPTIONS, GET, HEAD, POST, PATCH, DELETE');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, If-Match');
    assert.equal(preflight.headers.get('link'), null, 'a preflight carries no ICE servers');
    const plain = await fetch(whepUrl(egress), { method: 'OPTIONS' });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('accept-post'), 'application/sdp');
    assert.equal(plain.headers.get('link'), link);
  });

  it('an oversize body: 413, whether declared or streamed, without reading it all', async () => {
    const big = 'v=0\r\n'.padEnd(70000, 'a');
    const declared = await post(whepUrl(egress), big);
    assert.equal(declared.status, 413);
    assert.equal(await problem(declared), 'the body is larger than 65536 bytes');
    // A chunked body announces no length: it is cut off while it streams in.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('a'.repeat(8192)));
        controller.close();
      },
    });
    const chunked = await fetch(whepUrl(egress), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
  });

  it('other methods on the endpoint: 405 with Allow', async () => {
    const res = await fetch(whepUrl(egress), { method: 'PUT', body: 'x' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'OPTIONS, GET, HEAD, POST');
  });

  it('counts refused requests by status', async () => {
    assert.ok((await metric(egress, 'corecast_egress_whep_refused_total', { status: '415' })) >= 2);
    assert.ok((await metric(egress, 'corecast_egress_whep_refused_total', { status: '503' })) >= 2);
  });
});
