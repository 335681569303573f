/**
 * One Process, several egress replicas, end to end with real parts: the operator against the
 * real API server builds the replicas; LocalKubelet runs each egress pod as a real process
 * (host networking on loopback: each replica holds its own slot of ports); a real FFmpeg feeds
 * replica 0, which relays to the others; werift viewers and headless Chromium play through
 * replica 0's WHEP URL, the one URL the ingress routes to.
 *
 * What is checked: 3 replicas × a cap of 8 hold 24 viewers, all receiving video, and a 25th
 * gets 503 with Retry-After; PATCH and DELETE of a session on another replica, sent to the one
 * URL, reach its owner; autoscaling goes from 1 to 3 replicas and back to 1 while viewers join
 * and leave, and no viewer on a replica that stays loses a packet; FFmpeg's pod is never
 * recreated.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { type FfmpegRun, ffmpegPath, startTestPattern } from '@corecast/testkit/ffmpeg';
import { type Received, WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import {
  type Cluster,
  createProcess,
  eventsAbout,
  eventually,
  getCluster,
  getPod,
  getProcess,
  namespace,
  patchProcess,
  runningStatus,
  setPodStatus,
  startOperator,
} from '../../operator/test/helpers/cluster.ts';
import type { Pod } from '../../operator/src/kube/types.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { PlayerStatus } from '../../egress-pod/src/player/client.ts';
import { LocalKubelet } from './local-kubelet.ts';

const missing = [!ffmpegPath() && 'ffmpeg', !chromiumInstalled() && 'chromium'].filter(Boolean);
const CAP = 8;

/** Operator settings: host networking on loopback, a cap of 8, limits above what one machine's viewers need. */
const OPERATOR_CONFIG = {
  egress: {
    hostNetwork: true,
    hostPorts: { ice: { min: 24100, max: 24109 }, internal: { min: 24200, max: 24239 } },
    maxViewersPerPod: CAP,
    viewerLimits: { perSubject: 100, perClient: 100 },
    ice: { advertise: { addressEnv: ['NODE_IP'], only: true } },
  },
};

/** Packets missing from a viewer's stream (sequence-number gaps, in arrival order). */
function lost(received: readonly Received[]): number {
  let missingPackets = 0;
  for (let i = 1; i < received.length; i++) {
    const step = (received[i]!.seq - received[i - 1]!.seq + 65536) % 65536;
    if (step > 1 && step < 32768) missingPackets += step - 1;
  }
  return missingPackets;
}

/** The port of a named container port of a pod (its slot's host port). */
function portOf(pod: Pod, name: string): number {
  const port = pod.spec?.containers?.[0]?.ports?.find((p) => p.name === name)?.containerPort;
  assert.ok(port, `pod ${pod.metadata?.name} has a ${name} port`);
  return port;
}

describe('egress replicas of one Process', { timeout: 900000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-scale-'));
  let c: Cluster;
  let ns: string;
  let op: Operator;
  let kubelet: LocalKubelet;
  let browser: TestBrowser | undefined;
  const ffmpegs: FfmpegRun[] = [];
  const viewers: WhepTestClient[] = [];

  /** Starts a Process's FFmpeg for real (feeding replica 0) and plays its pod's status; returns the endpoint URL. */
  async function startProcess(name: string, webrtc: Record<string, unknown>): Promise<{ url: string; ffmpegUid: string }> {
    await createProcess(c, ns, processFixture(name, withWebrtc(webrtc)));
    const ffmpegPod = await eventually('the FFmpeg pod', () => getPod(c, ns, `${name}-ffmpeg`));
    await setPodStatus(c, ns, `${name}-ffmpeg`, {
      ...runningStatus('ffmpeg'),
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
    });
    const egress0 = await eventually('replica 0 running', async () => kubelet.egress(`${name}-egress`) && getPod(c, ns, `${name}-egress`));
    const rtp = { host: '127.0.0.1', videoPort: portOf(egress0, 'rtp-video'), audioPort: portOf(egress0, 'rtp-audio') };
    ffmpegs.push(startTestPattern(rtp, { size: '160x120', rate: 15, gopSeconds: 1 }));
    const url = `http://127.0.0.1:${portOf(egress0, 'http')}/api/v3/process/${name}/whep`;
    const replica0 = kubelet.egress(`${name}-egress`)!;
    await eventually('RTP flowing into replica 0', async () => (await fetch(`${replica0.url}/readyz`)).status === 200, 60000);
    return { url, ffmpegUid: ffmpegPod.metadata!.uid! };
  }

  /**
   * A werift viewer that plays from `url`; its POST's status is returned with it. A 409 (no live
   * source: on a loaded machine the test pattern's RTP can pause right after /readyz said up) is
   * retried after its Retry-After, as the player page does, for up to 20 s.
   */
  async function addViewer(url: string): Promise<{ viewer: WhepTestClient; status: number; retryAfter: string | null }> {
    const until = Date.now() + 20000;
    for (;;) {
      const viewer = new WhepTestClient();
      viewers.push(viewer);
      const res = await viewer.post(url);
      const retryAfter = res.headers.get('retry-after');
      if (res.status !== 409 || Date.now() > until) return { viewer, status: res.status, retryAfter };
      await new Promise((r) => setTimeout(r, Number(retryAfter ?? 1) * 1000));
    }
  }

  async function viewersOn(pod: string, name: string): Promise<number> {
    const egress = kubelet.egress(pod);
    return egress ? egress.metric('corecast_egress_viewers', { process: name }) : 0;
  }

  /** What the operator and the local kubelet say about Process `name`, for a failure's message. */
  async function explain(name: string): Promise<string> {
    const status = JSON.stringify((await getProcess(c, ns, name)).status);
    return `status ${status}; events ${(await eventsAbout(c, ns, name)).join(' | ')}; kubelet errors ${kubelet.errors().join(' | ')}`;
  }

  before(async () => {
    if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (scripts/setup.sh test installs them)`);
    c = await getCluster();
    ns = await namespace(c, 'scale');
    kubelet = new LocalKubelet(c.core, ns, dir);
    kubelet.start();
    op = await startOperator(c, [ns], { config: OPERATOR_CONFIG });
  });

  after(async () => {
    await Promise.allSettled(viewers.map((v) => v.close()));
    await browser?.close();
    await Promise.allSettled(ffmpegs.map((f) => f.kill()));
    await op?.stop();
    await kubelet?.stop();
  });

  it('3 replicas with a cap of 8 hold 24 viewers (23 werift, 1 Chromium); the 25th gets 503 with Retry-After', async () => {
    const name = 'fixed';
    const { url, ffmpegUid } = await startProcess(name, { replicas: 3 });
    const pods = [`${name}-egress`, `${name}-egress-1`, `${name}-egress-2`];
    await eventually('three replicas running', () => pods.every((p) => kubelet.egress(p)), 120000);
    await eventually(
      'replica 0 relays to both siblings',
      async () => (await kubelet.egress(pods[0]!)!.metric('corecast_egress_relay_targets')) === 2,
    );

    browser = await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(`${url}/player`);
    const status = (): Promise<PlayerStatus> => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
    await waitUntil(async () => (await status()).framesDecoded > 10, 60000, 'Chromium decoding frames');

    const joined: WhepTestClient[] = [];
    for (let i = 0; i < 3 * CAP - 1; i++) {
      const { viewer, status: code } = await addViewer(url);
      assert.equal(code, 201, `viewer ${i + 2} of 24 is placed`);
      joined.push(viewer);
    }
    await Promise.all(joined.map((v) => v.connected(60000)));
    await waitUntil(() => joined.every((v) => v.received.video.length > 20), 60000, 'every werift viewer receiving video');
    for (const pod of pods) assert.equal(await viewersOn(pod, name), CAP, `${pod} holds ${CAP} viewers`);
    const owners = new Set(joined.map((v) => /\/whep\/(r\d+-)?/.exec(v.location!)?.[1] ?? 'r0-'));
    assert.deepEqual([...owners].sort(), ['r0-', 'r1-', 'r2-'], 'sessions on every replica, all under the one URL');

    const extra = await addViewer(url);
    assert.equal(extra.status, 503, 'the 25th viewer is refused');
    assert.ok(Number(extra.retryAfter) > 0, `Retry-After given (${extra.retryAfter})`);

    // PATCH (an ICE restart) and DELETE of a session on replica 2, sent to the one URL.
    const onTwo = joined.filter((v) => v.location!.includes('/whep/r2-'));
    assert.ok(onTwo.length >= 2);
    const restarted = await onTwo[0]!.restartIce();
    assert.equal(restarted.status, 200, 'the ICE restart reached the owner');
    const before = onTwo[0]!.received.video.length;
    await waitUntil(() => onTwo[0]!.received.video.length > before + 20, 30000, 'video after the ICE restart');
    assert.equal((await onTwo[1]!.delete()).status, 200, 'DELETE reached the owner');
    await waitUntil(async () => (await viewersOn(pods[2]!, name)) === CAP - 1, 10000, 'replica 2 down one viewer');
    assert.equal((await status()).state, 'playing');
    assert.equal((await getPod(c, ns, `${name}-ffmpeg`))?.metadata?.uid, ffmpegUid, "FFmpeg's pod was never recreated");

    for (const v of joined) await v.close();
    await page.close();
  });

  it('autoscales from 1 to 3 replicas and back to 1 as viewers join and leave; no viewer on a surviving replica loses a packet', async () => {
    const name = 'auto';
    const { url, ffmpegUid } = await startProcess(name, {
      autoscale: { minReplicas: 1, maxReplicas: 3, targetViewersPerReplica: 3, scaleDownCooldownSeconds: 5 },
      drainSeconds: 4,
    });
    const first: WhepTestClient[] = [];
    for (let i = 0; i < 3; i++) {
      const { viewer, status: code } = await addViewer(url);
      assert.equal(code, 201);
      first.push(viewer);
    }
    assert.deepEqual(
      kubelet.running().filter((p) => p.startsWith(`${name}-`)),
      [`${name}-egress`],
    );
    // 3 viewers at a target of 3 per replica is one replica; three more make two, six more three.
    const later: WhepTestClient[] = [];
    for (const wanted of [2, 3]) {
      for (let i = 0; i < 3; i++) {
        const { viewer, status: code } = await addViewer(url);
        assert.equal(code, 201);
        later.push(viewer);
      }
      await eventually(
        `${wanted} replicas`,
        () => kubelet.running().filter((p) => p.startsWith(`${name}-egress`)).length === wanted,
        120000,
      ).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; ${await explain(name)}`);
      });
      await eventually(
        'the new replica relayed to',
        async () => (await kubelet.egress(`${name}-egress`)!.metric('corecast_egress_relay_targets')) === wanted - 1,
      );
    }
    // Viewers joining now land on the new replicas.
    const onNew: WhepTestClient[] = [];
    for (let i = 0; i < 3; i++) {
      const { viewer, status: code } = await addViewer(url);
      assert.equal(code, 201);
      onNew.push(viewer);
    }
    assert.ok(
      onNew.some((v) => /\/whep\/r[12]-/.test(v.location!)),
      'placement uses the new replicas',
    );
    await Promise.all([...first, ...later, ...onNew].map((v) => v.connected(60000)));
    await waitUntil(() => [...first, ...later, ...onNew].every((v) => v.received.video.length > 10), 60000, 'all viewers receiving');

    // Everyone but the first three (on replica 0) leaves; after the cool-down the replicas drain one by one.
    const stayed = first;
    for (const v of stayed) assert.doesNotMatch(v.location!, /\/whep\/r[12]-/, 'the first viewers are on replica 0');
    for (const v of [...later, ...onNew]) {
      assert.equal((await v.delete()).status, 200);
      await v.close();
    }
    const counts = stayed.map((v) => v.received.video.length);
    await eventually('back to one replica', () => kubelet.running().filter((p) => p.startsWith(`${name}-egress`)).length === 1, 180000);
    await waitUntil(() => stayed.every((v, i) => v.received.video.length > counts[i]! + 30), 30000, 'the survivors still receiving');
    for (const v of stayed) assert.equal(lost(v.received.video), 0, 'a viewer on the surviving replica lost no packet');

    // The status follows the pods: written by the pass that sees the drained replica's pod gone
    // from the API server, which can come after the kubelet has stopped running it.
    type WebRtcStatus = { replicas?: number; lastScale?: { from: number; to: number } };
    const webrtc = await eventually('status.webrtc.replicas back to 1', async () => {
      const w = ((await getProcess(c, ns, name)).status as { webrtc?: WebRtcStatus }).webrtc;
      return w?.replicas === 1 ? w : undefined;
    });
    assert.equal(webrtc.replicas, 1);
    assert.deepEqual([webrtc.lastScale?.from, webrtc.lastScale?.to], [2, 1]);
    const events = await eventsAbout(c, ns, name);
    assert.ok(
      events.some((e) => e.includes('ScaledUp')),
      events.join('\n'),
    );
    assert.ok(
      events.some((e) => e.includes('ScaledDown')),
      events.join('\n'),
    );
    assert.equal((await getPod(c, ns, `${name}-ffmpeg`))?.metadata?.uid, ffmpegUid, "FFmpeg's pod was never recreated");
    await patchProcess(c, ns, name, { spec: { order: 'stop' } });
  });
});
