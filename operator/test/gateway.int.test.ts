/**
 * Routing through the Gateway API against the real API server, with the Gateway API CRDs
 * installed (the HTTPRoute CRD validates what the operator applies): a WebRTC Process gets an
 * HTTPRoute instead of an Ingress, route conflicts are decided as for Ingresses, a switch of the
 * configuration replaces one kind of route with the other, and the garbage collector removes the
 * HTTPRoute with its Process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { installGatewayApiCrds } from '@corecast/testkit/gateway-api-crds';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { objectDiff } from '../src/children/derivative.ts';
import { buildHttpRoute } from '../src/children/route.ts';
import type { RequestRecord } from '../src/kube/client.ts';
import type { HTTPRoute } from '../src/kube/types.ts';
import type { Operator } from '../src/operator.ts';
import { processView } from '../src/reconcile/gather.ts';
import {
  type Cluster,
  createProcess,
  deleteProcess,
  eventsAbout,
  eventually,
  getPod,
  getProcess,
  namespace,
  getCluster,
  runningStatus,
  setPodStatus,
  startOperator,
  testConfig,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

const ROUTES = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
const gateway = {
  enabled: true,
  parentRefs: [
    { name: 'public', namespace: 'gateways', sectionName: 'http' },
    { name: 'public', namespace: 'gateways', sectionName: 'https' },
  ],
  annotations: { 'example.com/team': 'video' },
};

let c: Cluster;
let ns: string;
let older: string;
let newer: string;
let op: Operator;
const requests: RequestRecord[] = [];
const running: Operator[] = [];

before(async () => {
  c = await getCluster();
  await installGatewayApiCrds(c.kc);
  ns = await namespace(c, 'gateway');
  older = await namespace(c, 'gw-route-a');
  newer = await namespace(c, 'gw-route-b');
  op = await startOperator(c, [ns, older, newer], { config: { gateway }, hooks: [{ after: (r) => requests.push(r) }] });
  running.push(op);
});

after(async () => {
  await Promise.all(running.map((o) => o.stop()));
});

/** Reads an HTTPRoute, or undefined. */
async function getHttpRoute(namespace: string, name: string): Promise<HTTPRoute | undefined> {
  try {
    return (await c.custom.getNamespacedCustomObject({ ...ROUTES, namespace, name })) as HTTPRoute;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

async function ingressCount(namespace: string, name: string): Promise<number> {
  return (await c.net.listNamespacedIngress({ namespace, labelSelector: `corecast.dev/process=${name}` })).items.length;
}

async function httpRouteCount(namespace: string, name: string): Promise<number> {
  const list = (await c.custom.listNamespacedCustomObject({ ...ROUTES, namespace, labelSelector: `corecast.dev/process=${name}` })) as {
    items: unknown[];
  };
  return list.items.length;
}

const conflictOf = (p: Awaited<ReturnType<typeof getProcess>>) => p.status?.conditions?.find((x) => x.type === 'RouteConflict');

describe('routing through the Gateway API', () => {
  test('a WebRTC Process gets an HTTPRoute, exactly as built and accepted by the CRD, and no Ingress', async () => {
    await createProcess(c, ns, processFixture('cam', withWebrtc()));
    const live = await eventually('the HTTPRoute', () => getHttpRoute(ns, 'cam'));
    const { view } = processView((await getProcess(c, ns, 'cam')) as never);
    const want = buildHttpRoute(view, testConfig([ns], { gateway }));
    // The server kept every field that was set (the CRD validated and defaulted it, nothing dropped).
    assert.equal(objectDiff(want, live), undefined);
    assert.deepEqual(live.spec?.rules?.[0]?.matches, [{ path: { type: 'PathPrefix', value: '/api/v3/process/cam/whep' } }]);
    assert.deepEqual(live.spec?.rules?.[0]?.backendRefs, [{ group: '', kind: 'Service', name: 'cam-egress', port: 8080, weight: 1 }]);
    assert.deepEqual(live.spec?.hostnames, ['stream.test']);
    assert.deepEqual(
      live.spec?.parentRefs?.map((r) => `${r.group}/${r.kind} ${r.namespace}/${r.name}/${r.sectionName}`),
      ['gateway.networking.k8s.io/Gateway gateways/public/http', 'gateway.networking.k8s.io/Gateway gateways/public/https'],
    );
    assert.equal(live.metadata?.annotations?.['example.com/team'], 'video');
    const proc = await getProcess(c, ns, 'cam');
    const owner = live.metadata?.ownerReferences?.[0];
    assert.deepEqual(
      { kind: owner?.kind, name: owner?.name, uid: owner?.uid, controller: owner?.controller, block: owner?.blockOwnerDeletion },
      { kind: 'Process', name: 'cam', uid: proc.metadata.uid, controller: true, block: true },
    );
    // A server-side apply by the operator's field manager.
    assert.deepEqual(
      (live.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`),
      ['corecast-operator/Apply'],
    );
    assert.ok(
      requests.some((r) => r.method === 'PATCH' && r.path === `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/cam`),
    );
    await waitForPod(c, ns, 'cam-egress');
    assert.equal(await ingressCount(ns, 'cam'), 0, 'no Ingress in gateway mode');

    // The status is as with an Ingress: URLs from the host, the path assigned, Ready once both pods run.
    await setPodStatus(c, ns, 'cam-ffmpeg', runningStatus('ffmpeg'));
    await setPodStatus(c, ns, 'cam-egress', runningStatus('egress'));
    const ready = await waitForReady(c, ns, 'cam', 'Running');
    assert.equal(ready.status?.whepUrl, 'http://stream.test/api/v3/process/cam/whep');
    assert.equal(ready.status?.playerUrl, 'http://stream.test/api/v3/process/cam/whep/player');
    assert.equal(conflictOf(ready)?.reason, 'PathAssigned');
    assert.ok((await eventsAbout(c, ns, 'cam')).some((e) => /^Normal Created: .*HTTPRoute cam/.test(e)));
  });

  test('an HTTPRoute edited by hand is put back', async () => {
    await createProcess(c, ns, processFixture('edited', withWebrtc()));
    await eventually('the HTTPRoute', () => getHttpRoute(ns, 'edited'));
    await c.custom.patchNamespacedCustomObject({
      ...ROUTES,
      namespace: ns,
      name: 'edited',
      body: [{ op: 'replace', path: '/spec/rules/0/backendRefs/0/port', value: 9999 }],
    });
    await eventually(
      'the port put back',
      async () => (await getHttpRoute(ns, 'edited'))?.spec?.rules?.[0]?.backendRefs?.[0]?.port === 8080,
    );
  });

  test('route conflict: the older Process keeps the path, the newer reports it, and takes over when the older goes', async () => {
    await createProcess(c, older, processFixture('shared', withWebrtc()));
    await eventually('the older HTTPRoute', () => getHttpRoute(older, 'shared'));
    await createProcess(c, newer, processFixture('shared', withWebrtc()));
    const loser = await eventually('RouteConflict on the newer', async () => {
      const p = await getProcess(c, newer, 'shared');
      return conflictOf(p)?.status === 'True' ? p : undefined;
    });
    assert.equal(conflictOf(loser)?.reason, 'PathInUse');
    assert.match(conflictOf(loser)?.message ?? '', new RegExp(`namespace ${older}, which is older; no HTTPRoute was made for this one`));
    assert.equal(loser.status?.whepUrl, undefined);
    await waitForPod(c, newer, 'shared-egress');
    assert.equal(await httpRouteCount(newer, 'shared'), 0, 'no HTTPRoute for the newer');
    assert.equal(await ingressCount(newer, 'shared'), 0, 'no Ingress either');
    assert.equal(conflictOf(await getProcess(c, older, 'shared'))?.reason, 'PathAssigned');
    await eventually('a RouteConflict warning', async () =>
      (await eventsAbout(c, newer, 'shared')).some((e) => e.startsWith('Warning RouteConflict')),
    );

    await deleteProcess(c, older, 'shared');
    await eventually('the newer gets the HTTPRoute', () => getHttpRoute(newer, 'shared'));
    const now = await eventually('the newer is routed', async () => {
      const p = await getProcess(c, newer, 'shared');
      return conflictOf(p)?.reason === 'PathAssigned' ? p : undefined;
    });
    assert.equal(now.status?.whepUrl, 'http://stream.test/api/v3/process/shared/whep');
  });

  test('delete: the garbage collector removes the HTTPRoute', async () => {
    await createProcess(c, ns, processFixture('gone', withWebrtc()));
    await eventually('the HTTPRoute', () => getHttpRoute(ns, 'gone'));
    await deleteProcess(c, ns, 'gone');
    // The garbage collector watches a CRD's objects only from its next discovery resync (every
    // 30 s) after the CRD appeared, which may be just before this test: a generous deadline.
    await eventually('the HTTPRoute gone', async () => (await getHttpRoute(ns, 'gone')) === undefined, 180_000);
  });

  test('WebRTC off deletes the HTTPRoute', async () => {
    await createProcess(c, ns, processFixture('toggle', withWebrtc()));
    await eventually('the HTTPRoute', () => getHttpRoute(ns, 'toggle'));
    await c.custom.patchNamespacedCustomObject({
      group: 'corecast.dev',
      version: 'v1alpha1',
      plural: 'processes',
      namespace: ns,
      name: 'toggle',
      body: [{ op: 'replace', path: '/spec/webrtc/enabled', value: false }],
    });
    await eventually('the HTTPRoute gone', async () => (await getHttpRoute(ns, 'toggle')) === undefined);
    // Without WebRTC the FFmpeg command has no RTP legs, so the operator replaces the FFmpeg pod
    // (delete, then create once it is gone): wait for the new one, so the next test starts from a
    // settled namespace and not from a replacement half done.
    await eventually('an FFmpeg pod without RTP legs', async () => {
      const pod = await getPod(c, ns, 'toggle-ffmpeg');
      const args = pod?.spec?.containers?.[0]?.args?.join(' ');
      return args !== undefined && !args.includes('toggle-egress.');
    });
  });
});

describe('idempotence in gateway mode', () => {
  test('a restarted operator on the unchanged namespaces makes zero writes (the CRD defaults are no drift)', async () => {
    // The first operator must have finished what the tests above asked of it.
    await eventually('the first operator idle', async () => {
      const text = await op.metrics.registry.metrics();
      const depth = Number(/^workqueue_depth\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? -1);
      const active = Number(/^controller_runtime_active_workers\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
      return depth === 0 && active === 0;
    });
    await op.stop();
    const records: RequestRecord[] = [];
    const again = await startOperator(c, [ns, older, newer], {
      name: 'gateway-again',
      config: { gateway },
      hooks: [{ after: (r) => records.push(r) }],
    });
    running.push(again);
    const count = async (n: string) =>
      (
        (await c.custom.listNamespacedCustomObject({ group: 'corecast.dev', version: 'v1alpha1', plural: 'processes', namespace: n })) as {
          items: unknown[];
        }
      ).items.length;
    const processes = (await Promise.all([ns, older, newer].map(count))).reduce((a, b) => a + b, 0);
    await eventually('every Process reconciled and the queue idle', async () => {
      const text = await again.metrics.registry.metrics();
      const depth = Number(/^workqueue_depth\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? -1);
      const active = Number(/^controller_runtime_active_workers\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
      const total = (await again.metrics.reconcileTotal.get()).values.reduce((sum, v) => sum + v.value, 0);
      return depth === 0 && active === 0 && total >= processes;
    });
    assert.ok(
      records.some((r) => r.method === 'GET' && r.path.endsWith('/httproutes')),
      'it listed HTTPRoutes',
    );
    assert.deepEqual(
      records.filter((r) => r.method !== 'GET'),
      [],
      'no POST, PUT, PATCH or DELETE',
    );
  });
});

describe('switching the configuration between Ingress and Gateway API', () => {
  test('ingress → gateway replaces the Ingress with an HTTPRoute; gateway → ingress puts the Ingress back', async () => {
    const sw = await namespace(c, 'gw-switch');
    const withIngress = await startOperator(c, [sw], { name: 'ingress-mode' });
    running.push(withIngress);
    await createProcess(c, sw, processFixture('moving', withWebrtc()));
    await eventually('the Ingress', () => c.net.readNamespacedIngress({ namespace: sw, name: 'moving' }));
    assert.equal(await httpRouteCount(sw, 'moving'), 0);
    await withIngress.stop();

    const withGateway = await startOperator(c, [sw], { name: 'gateway-mode', config: { gateway } });
    running.push(withGateway);
    await eventually('the HTTPRoute', () => getHttpRoute(sw, 'moving'));
    await eventually('the Ingress gone', async () => (await ingressCount(sw, 'moving')) === 0);
    await eventually('a Deleted event naming the switch', async () =>
      (await eventsAbout(c, sw, 'moving')).some(
        (e) =>
          e ===
          'Normal Deleted: Deleted Ingress moving: the operator configuration routes through the Gateway API (gateway.enabled) instead',
      ),
    );
    await withGateway.stop();

    // Back: an operator that may list, watch and delete HTTPRoutes (this one is cluster-admin)
    // watches them in ingress mode too, and removes the one left from gateway mode.
    const back = await startOperator(c, [sw], { name: 'ingress-again' });
    running.push(back);
    await eventually('the Ingress back', () => c.net.readNamespacedIngress({ namespace: sw, name: 'moving' }));
    await eventually('the HTTPRoute gone', async () => (await getHttpRoute(sw, 'moving')) === undefined);
    assert.equal(conflictOf(await getProcess(c, sw, 'moving'))?.reason, 'PathAssigned');
  });
});
