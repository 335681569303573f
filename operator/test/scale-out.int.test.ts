/**
 * Egress replicas against the real API server (docs/scale-out.md). Pods do not run here: the
 * tests play the kubelet (setPodStatus gives each egress pod a loopback address), and each pod's
 * metrics port is played by a small real HTTP server bound to that address on the metrics port,
 * answering with the Prometheus text an egress pod serves (`corecast_egress_viewers{process=…}`).
 * Those servers are the only stand-ins: the operator polls them over HTTP exactly as it polls
 * real egress pods, and everything else — the operator, its informers, the API server, the CRD's
 * rules — is the real thing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { GROUP, PLURAL, PORTS, VERSION } from '@corecast/api';
import { scaleOutInvalid } from '../../api/test/fixtures/scale-out.ts';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { DRAIN_ANNOTATION, RELAY_TARGETS_ANNOTATION, REPLICA_LABEL, RTP_SOURCE_ANNOTATION } from '../src/children/egress-pod.ts';
import type { Pod } from '../src/kube/types.ts';
import type { Operator } from '../src/operator.ts';
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
  waitForNoPod,
  waitForPod,
} from './helpers/cluster.ts';

let c: Cluster;
const operators: Operator[] = [];
const servers: Server[] = [];

before(async () => {
  c = await getCluster();
});

after(async () => {
  await Promise.all(operators.map((op) => op.stop()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** An operator polling viewer counts every second. */
async function operator(ns: string): Promise<Operator> {
  const op = await startOperator(c, [ns], { config: { progress: { port: 0, statusIntervalSeconds: 1 } } });
  operators.push(op);
  return op;
}

/** The metrics port of an egress pod at `ip`: serves `viewers.n` as the Process's viewer count. */
async function metricsPort(ip: string, process: string, viewers: { n: number }): Promise<void> {
  const server = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4');
    res.end(`# TYPE corecast_egress_viewers gauge\ncorecast_egress_viewers{process="${process}"} ${viewers.n}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORTS.metrics, ip, resolve);
  });
  servers.push(server);
}

/** The kubelet's status of a running egress pod at `ip`. */
const runningAt = (ip: string): Pod['status'] => ({ ...runningStatus('egress'), podIP: ip, podIPs: [{ ip }] });

const annotation = async (ns: string, pod: string, key: string) => (await getPod(c, ns, pod))?.metadata?.annotations?.[key];
const target = (index: number, ip: string, draining = false) =>
  `${index}=${ip}:${PORTS.videoRtp}:${PORTS.audioRtp}:${PORTS.http}${draining ? ':draining' : ''}`;

interface WebRtcStatusJson {
  replicas: number;
  pods?: { replica: number; name: string; viewers?: number; state: string }[];
  lastScale?: { time: string; from: number; to: number; reason: string };
  scaleDownSince?: string;
}
const webrtcStatus = async (ns: string, name: string) =>
  ((await getProcess(c, ns, name)).status as { webrtc?: WebRtcStatusJson } | undefined)?.webrtc;

describe('egress replicas against the API server', () => {
  test('replicas 1 → 3 → 1: siblings created, pinned to replica 0 (following its address), relayed to; then drained highest first and deleted', async () => {
    const ns = await namespace(c, 'scale-fixed');
    await operator(ns);
    const name = 'fixed';
    const ips = ['127.77.1.10', '127.77.1.11', '127.77.1.12'];
    const viewers = ips.map(() => ({ n: 0 }));
    for (const [i, ip] of ips.entries()) await metricsPort(ip, name, viewers[i]!);
    // Replica 0's second address (below it moves, as after a kubelet restart on another network).
    const moved = '127.77.1.20';
    await metricsPort(moved, name, viewers[0]!);

    await createProcess(c, ns, processFixture(name, withWebrtc({ replicas: 1, drainSeconds: 30 })));
    const ffmpeg = await waitForPod(c, ns, `${name}-ffmpeg`);
    const zero = await waitForPod(c, ns, `${name}-egress`);
    assert.equal(zero.metadata?.labels?.[REPLICA_LABEL], '0');
    await setPodStatus(c, ns, `${name}-egress`, runningAt(ips[0]!));
    const service = await c.core.readNamespacedService({ name: `${name}-egress`, namespace: ns });
    assert.equal(service.spec?.selector?.[REPLICA_LABEL], '0', 'the Service selects replica 0 only');
    const policy = await c.net.readNamespacedNetworkPolicy({ name: `${name}-egress`, namespace: ns });
    assert.deepEqual(
      (policy.spec?.ingress?.[0]?._from ?? []).map((f) => f.podSelector?.matchLabels),
      [
        { 'corecast.dev/process': name, 'app.kubernetes.io/component': 'ffmpeg' },
        { 'corecast.dev/process': name, 'app.kubernetes.io/component': 'egress' },
      ],
      'RTP from the FFmpeg pod and from the egress pods (the relay)',
    );

    // Up to 3: two siblings, pinned to replica 0's address, listed in its relay targets once they have addresses.
    await patchProcess(c, ns, name, { spec: { webrtc: { replicas: 3 } } });
    for (const i of [1, 2]) {
      const pod = await waitForPod(c, ns, `${name}-egress-${i}`);
      assert.equal(pod.metadata?.labels?.[REPLICA_LABEL], String(i));
      await eventually(
        `replica ${i} pinned to replica 0`,
        async () => (await annotation(ns, `${name}-egress-${i}`, RTP_SOURCE_ANNOTATION)) === ips[0],
      );
      await setPodStatus(c, ns, `${name}-egress-${i}`, runningAt(ips[i]!));
    }
    await eventually(
      'relay targets of replica 0',
      async () => (await annotation(ns, `${name}-egress`, RELAY_TARGETS_ANNOTATION)) === `${target(1, ips[1]!)},${target(2, ips[2]!)}`,
    );
    // The siblings' pins follow replica 0's address.
    await setPodStatus(c, ns, `${name}-egress`, runningAt(moved));
    for (const i of [1, 2]) {
      await eventually(
        `replica ${i} re-pinned to replica 0's new address`,
        async () => (await annotation(ns, `${name}-egress-${i}`, RTP_SOURCE_ANNOTATION)) === moved,
      );
    }
    const three = await eventually('status.webrtc with three serving pods', async () => {
      const w = await webrtcStatus(ns, name);
      return w?.replicas === 3 && w.pods?.length === 3 && w.pods.every((p) => p.state === 'serving' && p.viewers === 0) ? w : undefined;
    });
    assert.deepEqual(three.lastScale && { from: three.lastScale.from, to: three.lastScale.to }, { from: 1, to: 3 });
    const zeroNow = await getPod(c, ns, `${name}-egress`);
    assert.equal(zeroNow?.metadata?.uid, zero.metadata?.uid, 'replica 0 was updated in place, not replaced');

    // Down to 1: replica 2 drains first (it holds viewers, so it stays), replica 1 keeps serving.
    viewers[1]!.n = 3;
    viewers[2]!.n = 2;
    await eventually(
      'the viewers of replica 2 seen',
      async () => (await webrtcStatus(ns, name))?.pods?.find((p) => p.replica === 2)?.viewers === 2,
    );
    await patchProcess(c, ns, name, { spec: { webrtc: { replicas: 1 } } });
    await eventually('replica 2 draining', async () => Boolean(await annotation(ns, `${name}-egress-2`, DRAIN_ANNOTATION)));
    await eventually(
      'replica 2 listed as draining',
      async () =>
        (await annotation(ns, `${name}-egress`, RELAY_TARGETS_ANNOTATION)) === `${target(1, ips[1]!)},${target(2, ips[2]!, true)}`,
    );
    assert.equal(await annotation(ns, `${name}-egress-1`, DRAIN_ANNOTATION), '', 'one drain at a time');
    assert.ok(await getPod(c, ns, `${name}-egress-2`), 'a draining replica with viewers stays');

    viewers[2]!.n = 0;
    await waitForNoPod(c, ns, `${name}-egress-2`);
    await eventually('replica 1 draining next', async () => Boolean(await annotation(ns, `${name}-egress-1`, DRAIN_ANNOTATION)));
    viewers[1]!.n = 0;
    await waitForNoPod(c, ns, `${name}-egress-1`);
    await eventually('no relay targets left', async () => (await annotation(ns, `${name}-egress`, RELAY_TARGETS_ANNOTATION)) === '');
    await eventually('status.webrtc back to one pod', async () => {
      const w = await webrtcStatus(ns, name);
      return w?.replicas === 1 && w.pods?.length === 1;
    });

    assert.equal((await getPod(c, ns, `${name}-ffmpeg`))?.metadata?.uid, ffmpeg.metadata?.uid, 'the FFmpeg pod never changed');
    assert.equal((await getPod(c, ns, `${name}-egress`))?.metadata?.uid, zero.metadata?.uid, 'nor did replica 0');
    const events = await eventually('the scaling Events', async () => {
      const all = await eventsAbout(c, ns, name);
      return all.some((e) => e.includes('ScaledDown')) && all.filter((e) => e.includes('Draining')).length >= 2 ? all : undefined;
    }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; the Events:\n${(await eventsAbout(c, ns, name)).join('\n')}`);
    });
    assert.ok(events.includes('Normal ScaledUp: Egress replicas 1 → 3: spec.webrtc.replicas is 3'), events.join('\n'));
    assert.ok(events.includes('Normal ScaledDown: Egress replicas 3 → 1: spec.webrtc.replicas is 1'), events.join('\n'));
    assert.ok(
      events.some((e) => e.startsWith(`Normal Draining: Draining pod ${name}-egress-2 (replica 2, 2 viewers)`)),
      events.join('\n'),
    );
  });

  test('autoscale: the viewers scale up at once and down after the cool-down, one replica at a time', async () => {
    const ns = await namespace(c, 'scale-auto');
    await operator(ns);
    const name = 'auto';
    const ips = ['127.77.2.10', '127.77.2.11', '127.77.2.12'];
    const viewers = ips.map(() => ({ n: 0 }));
    for (const [i, ip] of ips.entries()) await metricsPort(ip, name, viewers[i]!);
    const autoscale = { minReplicas: 1, maxReplicas: 3, targetViewersPerReplica: 2, scaleDownCooldownSeconds: 3 };
    await createProcess(c, ns, processFixture(name, withWebrtc({ autoscale, drainSeconds: 5 })));
    const ffmpeg = await waitForPod(c, ns, `${name}-ffmpeg`);
    await waitForPod(c, ns, `${name}-egress`);
    viewers[0]!.n = 5;
    await setPodStatus(c, ns, `${name}-egress`, runningAt(ips[0]!));

    // 5 viewers at 2 per replica: 3 replicas, at once.
    for (const i of [1, 2]) {
      await waitForPod(c, ns, `${name}-egress-${i}`);
      await setPodStatus(c, ns, `${name}-egress-${i}`, runningAt(ips[i]!));
    }
    const up = await eventually('scaled up to 3', async () => {
      const w = await webrtcStatus(ns, name);
      return w?.replicas === 3 ? w : undefined;
    });
    assert.equal(up.lastScale?.reason, '5 viewers at 2 per replica need 3 replicas');

    // The viewers leave: one replica suffices; after the cool-down replica 2, then replica 1, drain and go.
    viewers[0]!.n = 1;
    const waiting = await eventually('the cool-down started', async () => {
      const w = await webrtcStatus(ns, name);
      return w?.scaleDownSince && w.replicas === 3 ? w : undefined;
    });
    await waitForNoPod(c, ns, `${name}-egress-2`);
    const mid = await webrtcStatus(ns, name);
    assert.ok(mid?.lastScale, 'a scale-down recorded');
    assert.ok(
      Date.parse(mid.lastScale.time) - Date.parse(waiting.scaleDownSince!) >= autoscale.scaleDownCooldownSeconds * 1000,
      `the scale-down (${mid.lastScale.time}) came a whole cool-down after fewer replicas sufficed (${waiting.scaleDownSince})`,
    );
    await waitForNoPod(c, ns, `${name}-egress-1`);
    const down = await eventually('scaled down to 1', async () => {
      const w = await webrtcStatus(ns, name);
      return w?.replicas === 1 && w.pods?.length === 1 ? w : undefined;
    });
    assert.equal(down.scaleDownSince, undefined);
    assert.match(down.lastScale?.reason ?? '', /^1 viewer at 2 per replica need 1 replica and have for 3 s/);
    assert.equal((await getPod(c, ns, `${name}-ffmpeg`))?.metadata?.uid, ffmpeg.metadata?.uid, 'the FFmpeg pod never changed');
    const events = await eventsAbout(c, ns, name);
    assert.ok(
      events.some((e) => e.startsWith('Normal ScaledUp: Egress replicas 1 → 3')),
      events.join('\n'),
    );
    // One replica at a time: two steps, each with its own drain.
    for (const line of [
      'Normal ScaledDown: Egress replicas 3 → 2',
      'Normal ScaledDown: Egress replicas 2 → 1',
      `Normal Draining: Draining pod ${name}-egress-2 `,
      `Normal Draining: Draining pod ${name}-egress-1 `,
    ]) {
      assert.ok(
        events.some((e) => e.startsWith(line)),
        `${line} in\n${events.join('\n')}`,
      );
    }
  });

  describe('invalid replica settings are refused at apply, naming the field', () => {
    for (const fixture of scaleOutInvalid) {
      test(fixture.name, async () => {
        const ns = await namespace(c, 'scale-invalid');
        const body = { ...fixture.process, metadata: { ...fixture.process.metadata, namespace: ns } };
        const err = await c.custom
          .createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, body })
          .then(
            () => assert.fail('the API server accepted an invalid Process'),
            (e: unknown) => e,
          );
        assert.ok(err instanceof ApiException, String(err));
        assert.equal(err.code, 422);
        const status = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message: string };
        assert.equal(status.message, fixture.apiServer);
      });
    }
  });
});
