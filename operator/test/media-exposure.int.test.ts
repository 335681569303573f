/**
 * Media exposure on one ICE port per egress pod, against the real API server: what the operator
 * makes in each mode, as the API server stores it — the egress pod's ICE port on the pod network,
 * the NodePort Service and the node port the API server picked advertised by the egress pod, and
 * with host networking the slots of host ports of two Processes (all different, so the two pods
 * can share a node), kept by a restarted operator. loadBalancer: load-balancer.int.test.ts.
 *
 * No pod runs here (the control plane has no nodes): the tests read what the pods would run with.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import type { Pod } from '../src/kube/types.ts';
import { type Cluster, createProcess, eventually, getCluster, getPod, namespace, startOperator, waitForPod } from './helpers/cluster.ts';

let c: Cluster;

before(async () => {
  c = await getCluster();
});

function egressConfigOf(pod: Pod) {
  const value = pod.spec?.containers?.[0]?.env?.find((e) => e.name === 'CORECAST_EGRESS_CONFIG')?.value;
  return JSON.parse(value ?? '{}');
}
const portsOf = (pod: Pod) => pod.spec?.containers?.[0]?.ports ?? [];
const port = (pod: Pod, name: string) => portsOf(pod).find((p) => p.name === name);

async function service(ns: string, name: string) {
  return eventually(`Service ${name}`, async () => {
    try {
      return await c.core.readNamespacedService({ namespace: ns, name });
    } catch {
      return undefined;
    }
  });
}

describe('media.mode pod against the real API server', () => {
  test('the egress pod declares its one ICE port, its configuration binds it, its NetworkPolicy admits only it for media', async () => {
    const ns = await namespace(c, 'media-pod');
    const op = await startOperator(c, [ns]);
    try {
      await createProcess(c, ns, processFixture('cam', withWebrtc()));
      const pod = await waitForPod(c, ns, 'cam-egress');
      assert.deepEqual(port(pod, 'ice-udp'), { name: 'ice-udp', containerPort: 8189, protocol: 'UDP' });
      assert.equal(port(pod, 'ice-tcp'), undefined);
      const ice = egressConfigOf(pod).ice;
      assert.equal(ice.udpPort, 8189);
      assert.equal(ice.portRange, undefined);
      assert.equal(ice.advertisedPort, undefined);
      assert.equal(pod.spec?.hostNetwork, undefined);
      const np = await eventually('NetworkPolicy cam-egress', async () => {
        try {
          return await c.net.readNamespacedNetworkPolicy({ namespace: ns, name: 'cam-egress' });
        } catch {
          return undefined;
        }
      });
      assert.deepEqual(
        np.spec?.ingress?.at(-1)?.ports?.map((p) => `${p.protocol} ${p.port}${p.endPort ? `-${p.endPort}` : ''}`),
        ['UDP 8189'],
      );
      const svc = await service(ns, 'cam-egress');
      assert.deepEqual(
        svc.spec?.ports?.map((p) => `${p.name} ${p.port}->${p.targetPort}`),
        ['rtp-video 5004->rtp-video', 'rtp-audio 5006->rtp-audio', 'http 8080->http'],
      );
      await assert.rejects(c.core.readNamespacedService({ namespace: ns, name: 'cam-media' }), 'no media Service on the pod network');
    } finally {
      await op.stop();
    }
  });
});

describe('media.mode nodePort against the real API server', () => {
  test('a NodePort Service (Local) with one node port for UDP and TCP; the egress pod advertises NODE_IP with it', async () => {
    const ns = await namespace(c, 'media-np');
    const op = await startOperator(c, [ns], { config: { egress: { nodePort: { enabled: true }, ice: { tcpPort: 8443 } } } });
    try {
      await createProcess(c, ns, processFixture('np', withWebrtc()));
      const svc = await service(ns, 'np-media');
      assert.equal(svc.spec?.type, 'NodePort');
      assert.equal(svc.spec?.externalTrafficPolicy, 'Local');
      assert.deepEqual(
        svc.spec?.ports?.map((p) => `${p.name} ${p.protocol} ${p.port}->${p.targetPort}`),
        ['ice-udp UDP 8189->8189', 'ice-tcp TCP 8189->8443'],
      );
      // The API server picked the node port: one for both protocols (same Service port number).
      const [udp, tcp] = (svc.spec?.ports ?? []).map((p) => p.nodePort);
      assert.ok(udp !== undefined && udp >= 30000 && udp <= 32767, `node port ${udp}`);
      assert.equal(tcp, udp);

      const pod = await waitForPod(c, ns, 'np-egress');
      const ice = egressConfigOf(pod).ice;
      assert.deepEqual([ice.udpPort, ice.tcpPort, ice.advertisedPort, ice.advertisedTcpPort], [8189, 8443, udp, udp]);
      assert.deepEqual(ice.advertise, { addresses: [], addressEnv: ['NODE_IP'], only: true });
      assert.deepEqual(
        portsOf(pod).filter((p) => p.name?.startsWith('ice-')),
        [
          { name: 'ice-udp', containerPort: 8189, protocol: 'UDP' },
          { name: 'ice-tcp', containerPort: 8443, protocol: 'TCP' },
        ],
      );
      assert.deepEqual(pod.spec?.containers?.[0]?.env?.find((e) => e.name === 'NODE_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP');
      assert.equal(pod.spec?.hostNetwork, undefined);
    } finally {
      await op.stop();
    }
  });
});

describe('media.mode hostNetwork against the real API server', () => {
  const config = { egress: { hostNetwork: true, hostPorts: { ice: { min: 20000, max: 20009 }, internal: { min: 21000, max: 21039 } } } };
  const hostPorts = (pod: Pod) => portsOf(pod).map((p) => `${p.protocol}/${p.hostPort}`);

  test('two Processes get slots of host ports that share none, each pod binding its own; a restarted operator keeps them and hands out a third', async () => {
    const ns = await namespace(c, 'media-host');
    let op = await startOperator(c, [ns], { config, name: 'host-a' });
    let third: Pod;
    let a: Pod;
    let b: Pod;
    try {
      // Created together: both reconciled before either pod is in the cache.
      await Promise.all(['ha', 'hb'].map((name) => createProcess(c, ns, processFixture(name, withWebrtc()))));
      [a, b] = await Promise.all([waitForPod(c, ns, 'ha-egress'), waitForPod(c, ns, 'hb-egress')]);
      for (const pod of [a, b]) {
        assert.equal(pod.spec?.hostNetwork, true);
        for (const p of portsOf(pod)) assert.equal(p.hostPort, p.containerPort, `${p.name}: host port = container port`);
        const ec = egressConfigOf(pod);
        assert.deepEqual(
          [ec.ice.udpPort, ec.http.port, ec.metrics.port, ec.streams[0].video.port, ec.streams[0].audio.port],
          ['ice-udp', 'http', 'metrics', 'rtp-video', 'rtp-audio'].map((n) => port(pod, n)?.containerPort),
        );
      }
      const shared = hostPorts(a).filter((p) => hostPorts(b).includes(p));
      assert.deepEqual(shared, [], `${hostPorts(a)} and ${hostPorts(b)} share ports`);
      assert.deepEqual([port(a, 'ice-udp')?.hostPort, port(b, 'ice-udp')?.hostPort].sort(), [20000, 20001]);
    } finally {
      await op.stop();
    }

    // A new operator reads the slots back from the pods: the two pods stay, a third Process gets the next slot.
    op = await startOperator(c, [ns], { config, name: 'host-b' });
    try {
      await createProcess(c, ns, processFixture('hc', withWebrtc()));
      third = await waitForPod(c, ns, 'hc-egress');
      assert.equal(port(third, 'ice-udp')?.hostPort, 20002);
      assert.deepEqual(
        hostPorts(third).filter((p) => hostPorts(a).includes(p) || hostPorts(b).includes(p)),
        [],
      );
      for (const pod of [a, b]) {
        const now = await getPod(c, ns, pod.metadata?.name ?? '');
        assert.equal(now?.metadata?.uid, pod.metadata?.uid, `${pod.metadata?.name} was replaced`);
      }
    } finally {
      await op.stop();
    }
  });
});
