/**
 * The pod's HTTP surface beyond WHEP itself: metrics on a port of their own (not the WHEP port
 * the ingress routes, no CORS), Node's request limits tightened (slow headers and slow bodies
 * get 408 and are cut off, while a slow answer is still sent), and nosniff on every response.
 * Real HTTP against a real egress fed by FFmpeg.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

/**
 * Opens a raw connection, writes `head`, then one more byte of `drip` every `everyMs` until the
 * server closes; resolves with what the server sent and how long the connection lived (ms).
 */
function slowClient(url: string, head: string, drip: string, everyMs: number): Promise<{ reply: string; ms: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(Number(port), hostname);
    let reply = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (!socket.destroyed && !socket.writableEnded) socket.write(drip[i++ % drip.length]!);
      }, everyMs);
    });
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ reply, ms: Math.round(performance.now() - started) });
    });
    socket.on('timeout', () => reject(new Error('no close')));
  });
}

describe('HTTP surface', { timeout: 180000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  const clients: WhepTestClient[] = [];

  before(async () => {
    egress = await startTestEgress();
    ffmpeg = await feed(egress);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('metrics are served on their own port only, never on the WHEP port, and without CORS (metrics exposure)', async () => {
    const onWhepPort = await fetch(`${egress.url}/metrics`, { headers: { Origin: 'https://elsewhere.example' } });
    assert.equal(onWhepPort.status, 404, 'the WHEP port (routed by the ingress) serves no metrics');
    assert.doesNotMatch(await onWhepPort.text(), /corecast_egress_/);

    assert.ok(egress.metricsPort > 0 && egress.metricsPort !== egress.httpPort, 'a port of its own');
    const res = await fetch(`${egress.metricsUrl}/metrics`, { headers: { Origin: 'https://elsewhere.example' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain/);
    assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS: a page elsewhere cannot read it');
    assert.match(await res.text(), /^corecast_egress_viewers\{process="demo"\} 0$/m);
    // Only /metrics lives there: neither WHEP nor the player.
    assert.equal((await fetch(`${egress.metricsUrl}/api/v3/process/demo/whep/player`)).status, 404);
    assert.equal((await fetch(`${egress.metricsUrl}/metrics`, { method: 'POST' })).status, 405);
  });

  it('a client that never finishes its headers is answered 408 and cut off within the 10 s headers timeout (slow headers)', async () => {
    // One header line a second: the connection is never idle, the headers never end.
    const { reply, ms } = await slowClient(egress.url, 'GET /healthz HTTP/1.1\r\nHost: pod\r\n', 'X-Slow: 1\r\n', 500);
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.match(reply, /^X-Content-Type-Options: nosniff\r$/im, "nosniff on Node's own answers too");
    assert.ok(ms >= 9000 && ms < 13000, `cut off after ${ms} ms`);
  });

  it('a body trickled slower than the request timeout is answered 408 and cut off, a slow answer still goes out (slow body)', async () => {
    const held: Socket[] = [];
    // A TURN server (over TCP) that accepts and never answers holds the answer up to the gathering budget.
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const turn = {
      urls: [`turn:127.0.0.1:${(silent.address() as AddressInfo).port}?transport=tcp`],
      auth: { type: 'password' as const, username: 'u', credentialEnv: 'TURN_PW' },
    };
    const short = await startTestEgress(
      {
        http: { host: '127.0.0.1', port: 0, headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 },
        ice: { advertise: { addresses: ['127.0.0.1'], only: true }, servers: [turn], gatherTimeoutSeconds: 3.5 },
      },
      { TURN_PW: 'p' },
    );
    const run = await feed(short);
    try {
      const head = `POST /api/v3/process/demo/whep HTTP/1.1\r\nHost: pod\r\nContent-Type: application/sdp\r\nContent-Length: 4000\r\n\r\nv=0\r\n`;
      const { reply, ms } = await slowClient(short.url, head, 'a', 200);
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.ok(ms >= 1500 && ms < 5000, `cut off after ${ms} ms`);

      // The request timeout covers receiving the request: an answer that takes longer is sent.
      const c = new WhepTestClient();
      clients.push(c);
      const started = performance.now();
      const res = await fetch(whepUrl(short), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: await c.offer() });
      const answeredMs = performance.now() - started;
      assert.ok([201, 504].includes(res.status), `answered ${res.status}`);
      assert.ok(answeredMs > 2000, `the answer took ${Math.round(answeredMs)} ms, longer than the 2 s request timeout`);
      if (res.status === 201) await fetch(new URL(res.headers.get('location')!, short.url), { method: 'DELETE' });
    } finally {
      await run.kill();
      await short.stop();
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('every response carries X-Content-Type-Options: nosniff (nosniff)', async () => {
    const c = new WhepTestClient();
    clients.push(c);
    const endpoint = whepUrl(egress);
    const responses: [string, Response][] = [
      ['health', await fetch(`${egress.url}/healthz`)],
      ['readiness', await fetch(`${egress.url}/readyz`)],
      ['player page', await fetch(`${endpoint}/player`)],
      ['player script', await fetch(`${endpoint}/player/player.js`)],
      ['unknown path', await fetch(`${egress.url}/nothing-here`)],
      ['405 problem', await fetch(endpoint, { method: 'PUT', body: 'x' })],
      ['400 problem', await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'hello' })],
      [
        'preflight',
        await fetch(endpoint, { method: 'OPTIONS', headers: { Origin: 'https://a.example', 'Access-Control-Request-Method': 'POST' } }),
      ],
      ['201 answer', await c.post(endpoint)],
      ['metrics', await fetch(`${egress.metricsUrl}/metrics`)],
      ['metrics port 404', await fetch(`${egress.metricsUrl}/other`)],
    ];
    for (const [what, res] of responses) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
      await res.arrayBuffer();
    }
    // What Node answers itself, before any handler: a request it cannot parse.
    const garbage = await slowClient(egress.url, 'NOT HTTP AT ALL\r\n\r\n', ' ', 60000);
    assert.match(garbage.reply, /^HTTP\/1\.1 400 /);
    assert.match(garbage.reply, /^X-Content-Type-Options: nosniff\r$/im);
    assert.equal(responses.find(([w]) => w === '201 answer')![1].status, 201);
    await c.connected();
    await c.delete();
  });
});
