/**
 * Hostile input, fuzz-style and reproducible (seeded): mangled offers and fragments, wrong
 * content types, oversize and binary bodies, odd methods. No request may get a 5xx or bring
 * the server down, and afterwards a valid viewer still plays.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { offer } from './fixtures.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

/** mulberry32: a small deterministic PRNG, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.CORECAST_FUZZ_SEED ?? 20261122);
const ROUNDS = Number(process.env.CORECAST_FUZZ_ROUNDS ?? 300);

const CONTENT_TYPES = [
  'application/sdp',
  'application/sdp; charset=utf-8',
  'APPLICATION/SDP',
  'application/trickle-ice-sdpfrag',
  'text/plain',
  'application/json',
  'multipart/form-data; boundary=x',
  '',
  'application/sdp; q=0.5; x="y"',
];

const NASTY = [
  '',
  ' ',
  '\u0000',
  '%',
  '\uffff',
  'a'.repeat(5000),
  '-1',
  '99999999999',
  'NaN',
  '::',
  '0.0.0.0',
  '${x}',
  '<script>',
  '\r',
  'é',
];

describe('fuzzing the WHEP endpoint', { timeout: 300000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  const clients: WhepTestClient[] = [];
  let seedOffer: string;

  before(async () => {
    egress = await startTestEgress();
    ffmpeg = await feed(egress, 'demo', { size: '320x180' });
    const c = new WhepTestClient();
    clients.push(c);
    seedOffer = await c.offer();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it(`answers ${ROUNDS} hostile requests without a 5xx (seed ${SEED}), then still serves a viewer`, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const mutate = (sdp: string): string => {
      const lines = sdp.split('\r\n');
      const n = 1 + Math.floor(random() * 4);
      for (let i = 0; i < n; i++) {
        const at = Math.floor(random() * lines.length);
        switch (Math.floor(random() * 6)) {
          case 0:
            lines.splice(at, 1);
            break;
          case 1:
            lines.splice(at, 0, lines[Math.floor(random() * lines.length)] ?? '');
            break;
          case 2: {
            const line = lines[at] ?? '';
            const cut = line.indexOf(':') + 1 || 2;
            lines[at] = line.slice(0, cut) + pick(NASTY);
            break;
          }
          case 3:
            lines[at] = (lines[at] ?? '').split('').reverse().join('');
            break;
          case 4:
            lines.length = at;
            break;
          default:
            lines[at] = `${pick(['m=', 'a=', 'c=', 'x=', 'a=candidate:', 'a=rtpmap:', 'a=fmtp:'])}${pick(NASTY)}`;
        }
      }
      return lines.join(random() < 0.2 ? '\n' : '\r\n');
    };
    const bodies: (() => string | Blob)[] = [
      () => mutate(seedOffer),
      () => mutate(offer()),
      () => seedOffer.slice(0, Math.floor(random() * seedOffer.length)),
      () => new Blob([new Uint8Array(Array.from({ length: Math.floor(random() * 2000) }, () => Math.floor(random() * 256)))]),
      () => 'v=0\r\n'.padEnd(70000 + Math.floor(random() * 50000), 'x'),
      () => pick(NASTY),
    ];

    // One real session, so mangled PATCHes reach its trickle and restart paths too.
    const target = new WhepTestClient();
    clients.push(target);
    assert.equal((await target.post(whepUrl(egress))).status, 201);
    await target.connected();
    const ufrag = () => /a=ice-ufrag:(\S+)/.exec(target.pc.localDescription!.sdp)![1]!;
    const statuses = new Map<number, number>();
    let sessionsMade = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const kind = random();
      let res: Response;
      if (kind < 0.7) {
        const type = pick(CONTENT_TYPES);
        const headers: Record<string, string> = type ? { 'Content-Type': type } : {};
        const id = random() < 0.85 ? 'demo' : pick(['nosuch', '%2e%2e', 'DEMO']);
        res = await fetch(whepUrl(egress, id), { method: 'POST', headers, body: pick(bodies)() });
      } else if (kind < 0.9) {
        const session =
          random() < 0.7 ? new URL(target.location!).pathname.split('/').at(-1)! : pick(['nosuchsession', 'x'.repeat(300), '..']);
        res = await fetch(`${whepUrl(egress)}/${session}`, {
          method: pick(['PATCH', 'PATCH', 'PATCH', 'GET', 'PUT']),
          headers: { 'Content-Type': pick(CONTENT_TYPES) || 'text/plain', 'If-Match': pick(['*', '"x"', '']) || '*' },
          body: mutate(
            `a=ice-ufrag:${random() < 0.5 ? 'abcd' : ufrag()}\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=end-of-candidates`,
          ),
        }).catch(() => new Response(null, { status: 499 }));
      } else {
        res = await fetch(whepUrl(egress), { method: pick(['OPTIONS', 'HEAD', 'GET', 'PROPFIND', 'PURGE']) });
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `round ${round}: status ${res.status}: ${await res.text()}`);
      if (res.status === 201) {
        sessionsMade++;
        // A mangled offer that werift still took: clean it up like a client would.
        await fetch(new URL(res.headers.get('location')!, egress.url), { method: 'DELETE' });
      } else {
        await res.arrayBuffer().catch(() => undefined);
      }
    }
    console.log(JSON.stringify({ seed: SEED, statuses: Object.fromEntries(statuses), sessionsMade }));
    assert.ok(
      (statuses.get(400) ?? 0) > 0 && (statuses.get(413) ?? 0) > 0 && (statuses.get(415) ?? 0) > 0,
      'the run reached the interesting refusals',
    );
    // Left: at most the target session (a mangled restart may have ended it, which is fine).
    assert.ok(egress.sessions.count() <= 1, 'nothing else left behind');
    await target.delete();

    const viewer = new WhepTestClient();
    clients.push(viewer);
    const res = await viewer.post(whepUrl(egress));
    assert.equal(res.status, 201);
    await viewer.connected();
    await waitUntil(() => viewer.received.video.length > 30 && viewer.received.audio.length > 10, 30000, 'a valid viewer plays');
  });
});
