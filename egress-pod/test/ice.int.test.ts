/**
 * ICE in the modes a Kubernetes pod needs (egress-pod/README.md), each against real werift
 * peers: nothing outside is ever contacted (werift's default public STUN server is gone),
 * the retired port range (ignored: the one media port), extra advertised addresses (NAT 1:1),
 * addresses from the environment (host networking), ICE-lite, ICE-TCP, and TURN relaying
 * through a real coturn with ephemeral credentials.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import type { EgressConfigInput } from '@corecast/api';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { watchOutbound } from '@corecast/testkit/netwatch';
import { startTurnServer, turnServerInstalled } from '@corecast/testkit/turn-server';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress, Env } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

/** `n` consecutive free UDP ports (checked by binding them all). */
async function freeUdpRange(n: number): Promise<{ min: number; max: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 40000 + Math.floor(Math.random() * 20000);
    const sockets: Socket[] = [];
    try {
      for (let p = min; p < min + n; p++) {
        const s = createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(p, () => resolve());
        });
      }
      return { min, max: min + n - 1 };
    } catch {
      // taken: try another block
    } finally {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  }
  throw new Error('no free UDP port range');
}

const candidates = (sdp: string) => [...sdp.matchAll(/^a=candidate:\S+ 1 (\w+) \d+ (\S+) (\d+) typ (\w+)(?: .*?tcptype (\w+))?/gm)];

describe('ICE modes', { timeout: 240000 }, () => {
  const clients: WhepTestClient[] = [];
  const running: { egress: Egress; ffmpeg: FfmpegRun }[] = [];
  const viewer = () => {
    const c = new WhepTestClient();
    clients.push(c);
    return c;
  };
  /** An egress with `overrides`, fed by a light test pattern. */
  const start = async (overrides: Partial<EgressConfigInput>, env: Env = {}) => {
    const egress = await startTestEgress(overrides, env);
    const ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 15 });
    running.push({ egress, ffmpeg });
    return egress;
  };
  /** POSTs, connects and waits for media; returns the answer. */
  const play = async (egress: Egress): Promise<string> => {
    const c = viewer();
    const res = await c.post(whepUrl(egress));
    assert.equal(res.status, 201, await res.clone().text());
    const answer = await res.text();
    await c.connected();
    await waitUntil(() => c.received.video.length > 10 && c.received.audio.length > 10, 30000, 'media');
    await c.delete();
    return answer;
  };
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const { egress, ffmpeg } of running) {
      await ffmpeg.kill();
      await egress.stop();
    }
  });

  it('contacts nothing outside: no DNS lookup, no packet to an address not of this machine', async () => {
    const watch = watchOutbound();
    try {
      // The default ICE settings (no STUN server configured), gathered interfaces advertised.
      const egress = await start({ ice: { advertise: { addresses: ['127.0.0.1'] } } });
      const answer = await play(egress);
      assert.doesNotMatch(answer, /typ srflx/, 'no server-reflexive candidate: no STUN query was made');
      assert.deepEqual(watch.lookups, [], 'no DNS lookup (werift would resolve stun.l.google.com)');
      assert.deepEqual(watch.outside(), []);
      assert.ok(watch.udp.has('127.0.0.1'), 'the watch saw the media');
    } finally {
      watch.stop();
    }
  });

  it('ice.portRange is retired: every candidate on the one media port, and no cap from the range', async () => {
    const range = await freeUdpRange(2);
    const egress = await start({ ice: { advertise: { addresses: ['127.0.0.1'], only: true }, portRange: range, udpPort: 0 } });
    const held: WhepTestClient[] = [];
    // Two ports held one viewer per address before; the mux holds them all on one port.
    for (let i = 0; i < 4; i++) {
      const c = viewer();
      assert.equal((await c.post(whepUrl(egress))).status, 201);
      held.push(c);
      for (const m of candidates(c.pc.remoteDescription!.sdp)) assert.equal(Number(m[3]), egress.mediaPort);
    }
    for (const c of held) {
      await c.connected();
      await c.delete();
    }
  });

  it('NAT 1:1: extra public addresses are advertised; with only, the pod addresses are not', async () => {
    const both = await startTestEgress({ ice: { advertise: { addresses: ['203.0.113.7'] } } });
    const only = await startTestEgress({ ice: { advertise: { addresses: ['203.0.113.7'], only: true } } });
    running.push({ egress: both, ffmpeg: await feed(both, 'demo', { size: '160x120', rate: 10, audio: false }) });
    running.push({ egress: only, ffmpeg: await feed(only, 'demo', { size: '160x120', rate: 10, audio: false }) });
    const hosts = async (egress: Egress) => {
      // Only the answer matters here: the offer is POSTed without connecting.
      const res = await fetch(whepUrl(egress), {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: await viewer().offer(),
      });
      assert.equal(res.status, 201);
      const answer = await res.text();
      await fetch(new URL(res.headers.get('location')!, egress.url), { method: 'DELETE' });
      return new Set(candidates(answer).map((m) => m[2]));
    };
    const all = await hosts(both);
    assert.ok(all.has('203.0.113.7'));
    assert.ok(all.size > 1, 'the gathered interface addresses too');
    assert.deepEqual([...(await hosts(only))], ['203.0.113.7']);
  });

  it('host networking: the node address comes from the environment (downward API)', async () => {
    const egress = await start({ ice: { advertise: { addressEnv: ['CORECAST_NODE_IP'], only: true } } }, { CORECAST_NODE_IP: '127.0.0.1' });
    const answer = await play(egress);
    assert.deepEqual([...new Set(candidates(answer).map((m) => m[2]))], ['127.0.0.1']);
  });

  it('ICE-lite: announced in the answer, and a full-ICE viewer plays', async () => {
    const egress = await start({ ice: { lite: true, advertise: { addresses: ['127.0.0.1'], only: true } } });
    const answer = await play(egress);
    assert.match(answer, /^a=ice-lite/m);
  });

  it('ICE-TCP: passive TCP candidates are offered besides UDP', async () => {
    const egress = await start({ ice: { tcp: true, advertise: { addresses: ['127.0.0.1'], only: true } } });
    const answer = await play(egress);
    const tcp = candidates(answer).filter((m) => m[1] === 'tcp');
    assert.ok(
      tcp.some((m) => m[5] === 'passive' && m[2] === '127.0.0.1' && m[3] !== '9'),
      answer,
    );
  });

  it(
    'TURN: relay-only through coturn with ephemeral credentials, announced in Link headers',
    { skip: !turnServerInstalled() && 'coturn is not installed (scripts/setup.sh test installs it)' },
    async () => {
      const [listen, relay] = [await freeUdpRange(1), await freeUdpRange(20)];
      const turn = await startTurnServer(listen.min, relay, { secret: 'turn shared secret' });
      try {
        const egress = await start(
          {
            ice: {
              relayOnly: true,
              servers: [{ urls: [`turn:127.0.0.1:${turn.port}?transport=udp`], auth: { type: 'ephemeral', secretEnv: 'TURN_SECRET' } }],
            },
          },
          { TURN_SECRET: 'turn shared secret' },
        );
        const c = viewer();
        const res = await c.post(whepUrl(egress));
        assert.equal(res.status, 201, `${await res.clone().text()} ${await turn.log()}`);
        assert.match(
          res.headers.get('link')!,
          new RegExp(
            `^<turn:127\\.0\\.0\\.1:${turn.port}\\?transport=udp>; rel="ice-server"; username="\\d+:corecast"; credential="[A-Za-z0-9+/=]+"; credential-type="password"$`,
          ),
        );
        const answer = await res.text();
        const types = new Set(candidates(answer).map((m) => m[4]));
        assert.deepEqual([...types], ['relay'], answer);
        await c.connected(30000);
        await waitUntil(() => c.received.video.length > 10, 30000, 'media through the relay');
        await c.delete();
      } finally {
        await turn.stop();
      }
    },
  );
});

describe('health and readiness', () => {
  let egress: Egress;
  before(async () => {
    egress = await startTestEgress();
  });
  after(() => egress.stop());
  it('the readiness probe says the source is missing', async () => {
    const res = await fetch(`${egress.url}/readyz`);
    assert.equal(res.status, 503);
    const workers = egress.workers > 0 ? { workers: { running: egress.workers, wanted: egress.workers } } : {};
    assert.deepEqual(await res.json(), { ready: false, accepting: true, streams: { demo: 'waiting' }, ...workers });
    assert.equal((await fetch(`${egress.url}/healthz`)).status, 200);
  });
});
