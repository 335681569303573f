/**
 * What one viewer's offer and trickle PATCHes may make the pod do: at most one audio and one
 * video m-section (bundled), refused before werift builds anything; remote candidates on
 * loopback, link-local or unspecified addresses never checked (unless a test turns loopback
 * on); at most `ice.maxRemoteCandidates` remote candidates per ICE session. Real HTTP, a real
 * egress fed by FFmpeg, real werift viewers and plain UDP sockets standing in for candidates.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

/** UDP sockets this process (every thread) has open: its socket fds whose inode /proc/net/udp lists. */
function openSockets(): number {
  const udp = new Set<string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) udp.add(inode);
    }
  }
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode && udp.has(inode)) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

/** UDP sockets on loopback standing in for remote candidates: each counts the datagrams it gets. */
async function listeners(count: number): Promise<{ ports: number[]; hits: () => number[]; close: () => void }> {
  const sockets: Socket[] = [];
  const counts: number[] = [];
  for (let i = 0; i < count; i++) {
    const socket = createSocket('udp4');
    counts.push(0);
    socket.on('message', () => counts[i]!++);
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    sockets.push(socket);
  }
  return {
    ports: sockets.map((s) => s.address().port),
    hits: () => [...counts],
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}

const candidate = (i: number, address: string, port: number) => `a=candidate:${i} 1 udp 2122260223 ${address} ${port} typ host`;

/** An offer from a real werift viewer with its own candidates replaced by `candidates`. */
async function offerWith(client: WhepTestClient, candidates: string[]): Promise<string> {
  const lines = (await client.offer())
    .split('\r\n')
    .filter((l) => l !== '' && !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates');
  const first = lines.findIndex((l) => l.startsWith('m='));
  const mid = lines.findIndex((l, i) => i > first && l.startsWith('a=mid:'));
  lines.splice(mid + 1, 0, ...candidates);
  return `${lines.join('\r\n')}\r\n`;
}

/** A trickle fragment (RFC 8840) for the first m-section. */
function fragment(ufrag: string, pwd: string, candidates: string[]): string {
  return [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'a=mid:0', ...candidates, ''].join('\r\n');
}

async function post(url: string, sdp: string): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
}

async function detail(res: Response): Promise<string> {
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  return ((await res.json()) as { detail: string }).detail;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('offer and candidate limits', { timeout: 180000 }, () => {
  let egress: Egress;
  let strict: Egress;
  const sources: FfmpegRun[] = [];
  const clients: WhepTestClient[] = [];
  const viewer = () => {
    const c = new WhepTestClient();
    clients.push(c);
    return c;
  };

  before(async () => {
    // The test configuration turns loopback candidates on (everything here runs on loopback)...
    egress = await startTestEgress();
    // ...and this one keeps the production default: loopback candidates are dropped.
    strict = await startTestEgress({ ice: { allowLoopbackCandidates: false, advertise: { addresses: ['127.0.0.1'], only: true } } });
    sources.push(await feed(egress), await feed(strict));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sources.map((s) => s.kill()));
    await egress?.stop();
    await strict?.stop();
  });

  it('an offer with 200 m-sections is refused before any transport is made (m-section flood)', async (t) => {
    const c = viewer();
    const base = await c.offer();
    const { ufrag, pwd } = { ufrag: /a=ice-ufrag:(\S+)/.exec(base)![1]!, pwd: /a=ice-pwd:(\S+)/.exec(base)![1]! };
    const fingerprint = /^a=fingerprint:.*$/m.exec(base)![0];
    const extra: string[] = [];
    for (let i = 2; i < 200; i++) {
      extra.push(
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        `a=ice-ufrag:${ufrag}`,
        `a=ice-pwd:${pwd}`,
        fingerprint,
        'a=setup:actpass',
        `a=mid:${i}`,
        'a=recvonly',
        'a=rtcp-mux',
        'a=rtpmap:111 opus/48000/2',
      );
    }
    const flood = `${base}${extra.join('\r\n')}\r\n`;
    assert.equal(flood.match(/^m=/gm)?.length, 200);
    assert.ok(flood.length < 65536, `the offer fits the body limit (${flood.length} bytes)`);

    const before = openSockets();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, openSockets())), 10);
    const started = performance.now();
    const res = await post(whepUrl(egress), flood);
    const ms = Math.round(performance.now() - started);
    clearInterval(sampler);
    peak = Math.max(peak, openSockets());
    const body = await res.text();
    t.diagnostic(
      `m-section flood: ${flood.length} bytes, 200 m-sections: HTTP ${res.status} after ${ms} ms; UDP sockets ${before} → peak ${peak}`,
    );
    if (res.status === 201) await fetch(new URL(res.headers.get('location')!, egress.url), { method: 'DELETE' });

    assert.equal(res.status, 400, body);
    assert.match(JSON.parse(body).detail, /at most one audio and one video m-section/);
    assert.equal(peak, before, 'no socket was opened for the refused offer');
    assert.equal(egress.sessions.count(), 0);
    // The pod still serves the next viewer as usual.
    const ok = viewer();
    assert.equal((await ok.post(whepUrl(egress))).status, 201);
    await ok.connected();
    await ok.delete();
  });

  it('an offer with a second video m-section, a data channel, or m-sections outside one BUNDLE group is refused (m-section flood)', async () => {
    const base = await viewer().offer();
    const video = base.slice(base.indexOf('m=video'), base.indexOf('m=audio'));
    const cases: [string, string, RegExp][] = [
      [
        'two video m-sections',
        `${base.replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0 1 2')}${video.replace(/a=mid:\S+/, 'a=mid:2')}`,
        /at most one audio and one video m-section/,
      ],
      [
        'a data channel',
        `${base.replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0 1 2')}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n`,
        /at most one audio and one video m-section/,
      ],
      ['no BUNDLE group', base.replace(/^a=group:BUNDLE.*\r\n/m, ''), /BUNDLE/],
      ['a BUNDLE group without the audio m-section', base.replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0'), /BUNDLE/],
    ];
    const sockets = openSockets();
    for (const [what, sdp, message] of cases) {
      const res = await post(whepUrl(egress), sdp);
      assert.equal(res.status, 400, what);
      assert.match(await detail(res), message, what);
    }
    assert.equal(openSockets(), sockets, 'no socket was opened for the refused offers');
    assert.equal(egress.sessions.count(), 0);
  });

  it('loopback candidates in an offer and in a trickle PATCH are never checked (candidate addresses)', async () => {
    // Positive control: with loopback allowed, the pod checks such a candidate at once.
    const control = await listeners(1);
    const strictOnes = await listeners(2);
    try {
      const c1 = viewer();
      const allowed = await post(whepUrl(egress), await offerWith(c1, [candidate(1, '127.0.0.1', control.ports[0]!)]));
      assert.equal(allowed.status, 201);
      await waitUntil(() => control.hits()[0]! > 0, 5000, 'a STUN check to the allowed loopback candidate');
      await fetch(new URL(allowed.headers.get('location')!, egress.url), { method: 'DELETE' });

      const c2 = viewer();
      const sdp = await offerWith(c2, [
        candidate(1, '127.0.0.1', strictOnes.ports[0]!),
        candidate(2, '127.9.9.9', strictOnes.ports[0]!),
        candidate(3, '169.254.10.10', 9),
        candidate(4, '0.0.0.0', 9),
      ]);
      const res = await post(whepUrl(strict), sdp);
      assert.equal(res.status, 201);
      const location = new URL(res.headers.get('location')!, strict.url).toString();
      const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;
      const pwd = /a=ice-pwd:(\S+)/.exec(sdp)![1]!;
      const patch = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': res.headers.get('etag')! },
        body: fragment(ufrag, pwd, [candidate(5, '127.0.0.1', strictOnes.ports[1]!), candidate(6, '169.254.1.1', 9)]),
      });
      assert.equal(patch.status, 204);
      await sleep(3000);
      assert.deepEqual(strictOnes.hits(), [0, 0], 'no packet to a loopback candidate');
      await fetch(location, { method: 'DELETE' });
    } finally {
      control.close();
      strictOnes.close();
    }
  });

  it('remote candidates past the per-session cap, in the offer and trickled, are never checked (candidate flood)', async () => {
    const targets = await listeners(30);
    try {
      const c = viewer();
      // 5 in the offer, then 25 trickled in three PATCHes: only the first 20 are used.
      const sdp = await offerWith(
        c,
        targets.ports.slice(0, 5).map((port, i) => candidate(i + 1, '127.0.0.1', port)),
      );
      const res = await post(whepUrl(egress), sdp);
      assert.equal(res.status, 201);
      const location = new URL(res.headers.get('location')!, egress.url).toString();
      const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;
      const pwd = /a=ice-pwd:(\S+)/.exec(sdp)![1]!;
      for (const [from, to] of [
        [5, 15],
        [15, 25],
        [25, 30],
      ] as const) {
        const patch = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': res.headers.get('etag')! },
          body: fragment(
            ufrag,
            pwd,
            targets.ports.slice(from, to).map((port, i) => candidate(from + i + 1, '127.0.0.1', port)),
          ),
        });
        assert.equal(patch.status, 204);
      }
      await waitUntil(() => targets.hits().filter((n) => n > 0).length >= 20, 10000, 'checks to 20 candidates');
      await sleep(2000);
      const reached = targets.hits().map((n) => n > 0);
      assert.deepEqual(
        reached,
        targets.ports.map((_, i) => i < 20),
        'exactly the first 20 candidates were checked',
      );
      await fetch(location, { method: 'DELETE' });
    } finally {
      targets.close();
    }
  });
});
