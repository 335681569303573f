/**
 * media.mode loadBalancer against the real API server: a WebRTC Process gets its media Service
 * (type LoadBalancer, one UDP port: the egress pod's ICE port) and no egress pod until the
 * Service has an address; then the egress pod advertises it, and a new address replaces the pod.
 *
 * No cloud controller runs here (the control plane is etcd, kube-apiserver and
 * kube-controller-manager without a cloud provider), so nothing ever gives the Service an
 * address: the test writes status.loadBalancer itself, through the status subresource, as a
 * cloud's service controller would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { MEDIA_ADDRESSES_ANNOTATION } from '../src/children/egress-pod.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventsAbout,
  eventually,
  getCluster,
  getPod,
  getProcess,
  merge,
  namespace,
  readyOf,
  startOperator,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
let op: Operator;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'media-lb');
  op = await startOperator(c, [ns], {
    config: {
      egress: {
        loadBalancer: { enabled: true, annotations: { 'lb.example.com/udp': 'true' } },
      },
    },
  });
});

after(async () => {
  await op?.stop();
});

/** Plays the cloud's service controller: writes the Service's load-balancer status. */
async function setIngress(name: string, ingress: { ip?: string; hostname?: string }[]): Promise<void> {
  await c.core.patchNamespacedServiceStatus({ name, namespace: ns, body: { status: { loadBalancer: { ingress } } } }, merge);
}

function egressConfigOf(pod: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } }) {
  const value = pod.spec?.containers?.[0]?.env?.find((e) => e.name === 'CORECAST_EGRESS_CONFIG')?.value;
  return JSON.parse(value ?? '{}');
}

describe('media.mode loadBalancer against the real API server', () => {
  test('media Service first; the egress pod once the load balancer has an address; a new address, a new pod', async () => {
    await createProcess(c, ns, processFixture('lb', withWebrtc()));

    // 1. The media Service, as built: LoadBalancer, one named UDP port, owned by the Process.
    const svc = await eventually('Service lb-media', async () => {
      try {
        return await c.core.readNamespacedService({ namespace: ns, name: 'lb-media' });
      } catch {
        return undefined;
      }
    });
    const proc = await getProcess(c, ns, 'lb');
    assert.equal(svc.spec?.type, 'LoadBalancer');
    assert.equal(svc.spec?.externalTrafficPolicy, 'Local');
    assert.equal(svc.metadata?.annotations?.['lb.example.com/udp'], 'true');
    assert.deepEqual(
      svc.spec?.ports?.map((p) => `${p.name} ${p.protocol} ${p.port}->${p.targetPort}`),
      ['ice-udp UDP 8189->8189'],
    );
    assert.deepEqual(
      svc.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
      [['Process', proc.metadata.uid, true]],
    );
    assert.deepEqual(
      (svc.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`),
      ['corecast-operator/Apply'],
    );

    // 2. No address: no egress pod, Ready False WaitingForLoadBalancer, and an Event saying so.
    const waiting = await waitForReady(c, ns, 'lb', 'WaitingForLoadBalancer');
    assert.equal(readyOf(waiting)?.status, 'False');
    assert.match(readyOf(waiting)?.message ?? '', /kubectl -n \S+ describe service lb-media/);
    await eventually('the WaitingForLoadBalancer Event', async () =>
      (await eventsAbout(c, ns, 'lb')).some((e) => e.startsWith('Normal WaitingForLoadBalancer: Waiting for Service lb-media')),
    );
    assert.equal(await getPod(c, ns, 'lb-egress'), undefined);
    assert.ok(await getPod(c, ns, 'lb-ffmpeg'), 'the FFmpeg pod does not wait for the load balancer');

    // 3. The load balancer gets an address: the egress pod appears, advertising only it.
    await setIngress('lb-media', [{ ip: '203.0.113.7' }]);
    const pod = await waitForPod(c, ns, 'lb-egress');
    const ice = egressConfigOf(pod).ice;
    assert.deepEqual(ice.advertise, { addresses: ['203.0.113.7'], addressEnv: [], only: true });
    // The load balancer listens on the port the pod binds and advertises: no mapping to announce.
    assert.deepEqual([ice.udpPort, ice.advertisedPort, ice.portRange], [8189, undefined, undefined]);
    assert.equal(pod.metadata?.annotations?.[MEDIA_ADDRESSES_ANNOTATION], '203.0.113.7');
    await eventually('Ready no longer waiting for the load balancer', async () => {
      const reason = readyOf(await getProcess(c, ns, 'lb'))?.reason;
      return reason !== undefined && reason !== 'WaitingForLoadBalancer';
    });

    // 4. The address changes: the pod is replaced by one advertising the new address.
    await setIngress('lb-media', [{ ip: '203.0.113.8' }]);
    const replaced = await eventually('an egress pod advertising 203.0.113.8', async () => {
      const p = await getPod(c, ns, 'lb-egress');
      return p && p.metadata?.uid !== pod.metadata?.uid && !p.metadata?.deletionTimestamp ? p : undefined;
    });
    assert.deepEqual(egressConfigOf(replaced).ice.advertise.addresses, ['203.0.113.8']);
    await eventually('the Deleted Event naming the address change', async () =>
      (await eventsAbout(c, ns, 'lb')).some((e) =>
        e.includes("Deleted Pod lb-egress: the load balancer's address changed from 203.0.113.7 to 203.0.113.8"),
      ),
    );
    // The server's additions (node ports, health-check port, status) are no drift: never put back.
    assert.ok(!(await eventsAbout(c, ns, 'lb')).some((e) => e.startsWith('Normal Updated') && e.includes('lb-media')));
  });
});
