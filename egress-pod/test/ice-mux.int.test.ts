/**
 * The ICE UDP mux with real parts (FFmpeg → egress with two fan-out workers → werift viewers on
 * loopback): every viewer on the pod's one media port, a viewer behind a NAT that changes its
 * port (a UDP relay here) keeps playing and cannot be taken over from a third address, spoofed
 * checks are ignored, an ICE restart moves the session, and nothing is left in the mux after.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { bindingRequest } from '@corecast/rtc-fastpath';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/**
 * A NAT on loopback: the viewer sends to `port`; the relay passes that on to the egress from its
 * current outside socket, and what the egress sends to that socket back to the viewer. `rebind()`
 * takes a new outside socket (a new source port, as a NAT that lost its mapping) and closes the old.
 */
class Nat {
  readonly inside: Socket = createSocket('udp4');
  outside: Socket | undefined;
  viewer: [string, number] | undefined;
  readonly #target: number;

  constructor(target: number) {
    this.#target = target;
  }

  async start(): Promise<number> {
    this.inside.on('message', (data, from) => {
      this.viewer = [from.address, from.port];
      this.outside?.send(data, this.#target, '127.0.0.1');
    });
    await new Promise<void>((r) => this.inside.bind(0, '127.0.0.1', r));
    await this.rebind();
    return this.inside.address().port;
  }

  /** A new outside port; the old one is gone. Resolves with the new port. */
  async rebind(): Promise<number> {
    const next = createSocket('udp4');
    next.on('message', (data) => {
      if (this.viewer) this.inside.send(data, this.viewer[1], this.viewer[0]);
    });
    await new Promise<void>((r) => next.bind(0, '127.0.0.1', r));
    const old = this.outside;
    this.outside = next;
    old?.close();
    return next.address().port;
  }

  close(): void {
    this.inside.close();
    this.outside?.close();
  }
}

/**
 * The offer without candidates, as from a viewer still trickling: the egress learns the viewer's
 * address from its checks only (peer-reflexive). (werift fails an agent at once whose remote
 * candidates have ended without any.)
 */
const withoutCandidates = (sdp: string) =>
  sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');

/** The answer with every candidate's port replaced (the viewer reaches the egress through the NAT). */
const throughPort = (sdp: string, port: number) =>
  sdp.replace(/^(a=candidate:\S+ \d+ udp \d+ \S+ )\d+/gim, (_, head: string) => `${head}${port}`);

/** The distinct ports of the UDP host candidates of an SDP (with BUNDLE each m-section repeats them). */
const candidatePorts = (sdp: string) => [
  ...new Set([...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]))),
];

/** The mux entries of every thread (corecast_egress_ice_mux_entries). */
async function entries(egress: Egress): Promise<Record<'sessions' | 'ufrags' | 'addresses' | 'transactions' | 'routes' | 'sockets', number>> {
  const of = (kind: string) => metric(egress, 'corecast_egress_ice_mux_entries', { kind });
  return {
    sessions: await of('sessions'),
    ufrags: await of('ufrags'),
    addresses: await of('addresses'),
    transactions: await of('transactions'),
    routes: await of('routes'),
    sockets: await of('sockets'),
  };
}

const dropped = (egress: Egress, reason: string) => metric(egress, 'corecast_egress_ice_mux_dropped_total', { reason });

describe('ICE UDP mux: every viewer on one port', { timeout: 600000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startTestEgress({
      media: { workers: 2 },
      maxViewers: 200,
      // 100 werift viewers in this one test process, decrypting everything, on a shared machine:
      // their RTCP and consent checks can run late, which is not what is tested here.
      session: { livenessTimeoutSeconds: 30, connectTimeoutSeconds: 60 },
      streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 200 }],
    });
    ffmpeg = await feed(egress, 'demo', { size: '160x90', rate: 10, gopSeconds: 1 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('a viewer behind a NAT that changes its port keeps playing; a third address cannot take it over', async (t) => {
    const nat = new Nat(egress.mediaPort);
    const natPort = await nat.start();
    const viewer = new WhepTestClient();
    t.after(async () => {
      await viewer.close();
      nat.close();
    });
    const offer = withoutCandidates(await viewer.offer());
    const res = await fetch(whepUrl(egress), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
    assert.equal(res.status, 201);
    const answer = await res.text();
    assert.deepEqual(candidatePorts(answer), [egress.mediaPort], 'one host candidate, on the media port');
    viewer.location = new URL(res.headers.get('location')!, whepUrl(egress)).toString();
    viewer.etag = res.headers.get('etag') ?? undefined;
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: throughPort(answer, natPort) });
    await viewer.connected();
    const received = () => viewer.received.video.length;
    await waitUntil(() => received() > 20, 20000, 'video through the NAT');

    // A third address: media-looking datagrams, DTLS, and a check with the session's ufrag but
    // not its password. None is answered, none moves the session.
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(answer)![1]!;
    const intruder = createSocket('udp4');
    let answered = 0;
    intruder.on('message', () => answered++);
    await new Promise<void>((r) => intruder.bind(0, '127.0.0.1', r));
    t.after(() => intruder.close());
    const before = { integrity: await dropped(egress, 'bad-integrity'), unbound: await dropped(egress, 'unbound') };
    const spoof = bindingRequest(`${ufrag}:guess`, 'not-the-session-password', { useCandidate: true });
    intruder.send(spoof, egress.mediaPort, '127.0.0.1');
    intruder.send(Buffer.from([0x80, 0xc9, 0, 1, 0, 0, 0, 1]), egress.mediaPort, '127.0.0.1');
    intruder.send(Buffer.from([22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), egress.mediaPort, '127.0.0.1');
    await waitUntil(async () => (await dropped(egress, 'bad-integrity')) > before.integrity, 10000, 'the spoofed check counted');
    await waitUntil(async () => (await dropped(egress, 'unbound')) >= before.unbound + 2, 10000, 'the unbound datagrams counted');
    const atIntrusion = received();
    await waitUntil(() => received() > atIntrusion + 20, 20000, 'the viewer still playing after the intrusion');
    assert.equal(answered, 0, 'nothing was sent to the third address');

    // The NAT gives the viewer a new port: its next consent check moves the session there.
    await nat.rebind();
    const atRebind = received();
    await waitUntil(() => received() > atRebind + 30, 40000, 'video again after the NAT rebinding');
    assert.equal(answered, 0, 'still nothing to the third address');
    assert.equal(viewer.pc.connectionState, 'connected');

    // An ICE restart from yet another port moves the session again.
    await nat.rebind();
    const restarted = await viewer.restartIce(viewer.etag);
    assert.equal(restarted.status, 200, await restarted.clone().text());
    const atRestart = received();
    await waitUntil(() => received() > atRestart + 30, 40000, 'video after the ICE restart');
    assert.equal((await viewer.delete()).status, 200);
    await waitUntil(async () => (await entries(egress)).sessions === 0, 10000, 'the session left the mux');
  });

  it('100 viewers, all on the one media port; each worker holds the one media socket and no other', async (t) => {
    const N = Number(process.env.CORECAST_MUX_VIEWERS ?? 100);
    // The workers' UDP sockets (libuv handles), and the mux's among them. (The main thread's
    // count would include these test viewers' own sockets.)
    const workerUdp = async () => {
      const of = (type: string, thread: string) => metric(egress, 'corecast_egress_thread_resources', { type, thread });
      let udp = 0;
      let mux = 0;
      for (const thread of ['worker-0', 'worker-1']) {
        udp += await of('UDPWrap', thread);
        mux += await of('mux-sockets', thread);
      }
      return { udp, mux, workers: await metric(egress, 'corecast_egress_workers') };
    };
    const viewers: WhepTestClient[] = [];
    t.after(() => Promise.all(viewers.map((v) => v.close())));
    for (let i = 0; i < N; i++) {
      const v = new WhepTestClient();
      viewers.push(v);
      const res = await v.post(whepUrl(egress));
      assert.equal(res.status, 201, await res.clone().text());
      assert.deepEqual(candidatePorts(v.pc.remoteDescription!.sdp), [egress.mediaPort], `viewer ${i}: one candidate, the media port`);
      if (i % 10 === 9) await Promise.all(viewers.slice(-10).map((c) => c.connected(60000)));
    }
    await Promise.all(viewers.map((v) => v.connected(60000)));
    await waitUntil(() => viewers.every((v) => v.received.video.length > 5), 60000, 'every viewer receiving video');
    for (const [i, v] of viewers.entries()) {
      const agent = (v.pc.iceTransports[0] as unknown as { connection: { nominated?: { remoteAddr: [string, number] } } }).connection;
      assert.equal(agent.nominated?.remoteAddr[1], egress.mediaPort, `viewer ${i} talks to the media port`);
    }
    const held = await workerUdp();
    assert.equal(held.mux, held.workers, 'one media socket per running worker');
    assert.equal(held.udp, held.mux, 'no UDP socket was bound for a viewer');
    assert.ok((await entries(egress)).sessions >= N, 'every viewer is in the mux');
    // The kernel spreads viewers over both workers' sockets by address: about half reached the
    // worker that does not own them and were passed on (all of them the same way would take
    // 2^-100 odds).
    assert.ok((await metric(egress, 'corecast_egress_ice_mux_forwarded_total')) > 0, 'datagrams passed between workers');
    await Promise.all(viewers.map((v) => v.delete()));
    await waitUntil(
      async () => {
        const e = await entries(egress);
        return e.sessions + e.ufrags + e.addresses + e.transactions + e.routes === 0;
      },
      20000,
      'no mux entry left after the viewers left',
    );
  });

  it('join/leave cycles of real viewers leave no mux entry', async () => {
    for (let i = 0; i < 20; i++) {
      const v = new WhepTestClient();
      const res = await v.post(whepUrl(egress));
      assert.equal(res.status, 201);
      await v.connected();
      if (i % 2 === 0) assert.equal((await v.delete()).status, 200);
      await v.close();
    }
    // Viewers closed without DELETE end by liveness; then nothing of theirs is left either.
    await waitUntil(
      async () => {
        const e = await entries(egress);
        return e.sessions + e.ufrags + e.addresses + e.transactions + e.routes === 0;
      },
      30000,
      'no mux entry left after 20 join/leave cycles',
    );
  });
});
