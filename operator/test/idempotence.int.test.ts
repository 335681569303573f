/**
 * Idempotence: an operator started against a cluster it already reconciled makes no writes at
 * all — every request it sends is counted, and every object's resourceVersion is compared.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { process as processFixture, withSpec, withWebrtc } from '../../api/test/fixtures/processes.ts';
import type { RequestRecord } from '../src/kube/client.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventually,
  exitedStatus,
  getCluster,
  getProcess,
  namespace,
  runningStatus,
  setPodStatus,
  startOperator,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

let c: Cluster;
let a: string;
let b: string;
const running: Operator[] = [];

/** Sum of controller_runtime_reconcile_total over results. */
async function reconciles(op: Operator): Promise<number> {
  const metric = await op.metrics.reconcileTotal.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

/** Until the operator has reconciled at least `n` times and has nothing queued or running. */
async function settled(op: Operator, n: number): Promise<void> {
  await eventually(`operator idle after ${n} reconciles`, async () => {
    const text = await op.metrics.registry.metrics();
    const depth = Number(/^workqueue_depth\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? -1);
    const active = Number(/^controller_runtime_active_workers\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
    return depth === 0 && active === 0 && (await reconciles(op)) >= n;
  });
}

/** resourceVersion of every object the operator reads or writes in the namespaces, and the Event count. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ns of [a, b]) {
    const lists = await Promise.all([
      c.custom.listNamespacedCustomObject({ group: 'corecast.dev', version: 'v1alpha1', plural: 'processes', namespace: ns }),
      c.core.listNamespacedPod({ namespace: ns }),
      c.core.listNamespacedService({ namespace: ns }),
      c.net.listNamespacedIngress({ namespace: ns }),
      c.net.listNamespacedNetworkPolicy({ namespace: ns }),
    ]);
    for (const [i, list] of lists.entries()) {
      for (const item of (list as { items: { metadata?: { name?: string; resourceVersion?: string } }[] }).items) {
        out[`${ns}/${i}/${item.metadata?.name}`] = item.metadata?.resourceVersion ?? '';
      }
    }
    out[`${ns}/events`] = String((await c.events.listNamespacedEvent({ namespace: ns })).items.length);
  }
  return out;
}

/**
 * Requests that change something. A SelfSubjectAccessReview is a POST that stores nothing: at
 * start, where the Gateway API is installed, the operator asks with it whether it may remove
 * HTTPRoutes left from gateway mode.
 */
const writesOf = (records: RequestRecord[]) =>
  records.filter((r) => r.method !== 'GET' && r.path !== '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews');

before(async () => {
  c = await getCluster();
  a = await namespace(c, 'idem-a');
  b = await namespace(c, 'idem-b');
  const first = await startOperator(c, [a, b], { name: 'first' });
  running.push(first);
  // A varied world: plain, WebRTC (running and ready), stopped, held, failed, and a route conflict.
  await createProcess(c, a, processFixture('plain'));
  await createProcess(c, a, processFixture('webrtc', withWebrtc()));
  await createProcess(c, a, processFixture('stopped', withWebrtc(), withSpec({ order: 'stop' })));
  await createProcess(c, a, processFixture('held', withSpec({ autostart: false })));
  await createProcess(c, a, processFixture('failed', withSpec({ reconnect: false, limits: { cpuUsage: 150, memoryMbytes: 1024 } })));
  await createProcess(c, a, processFixture('shared', withWebrtc()));
  await waitForPod(c, a, 'shared-ffmpeg');
  await createProcess(c, b, processFixture('shared', withWebrtc({ forceTranscode: true }), withSpec({ staleTimeoutSeconds: 20 })));
  await waitForPod(c, a, 'webrtc-egress');
  await setPodStatus(c, a, 'webrtc-ffmpeg', runningStatus('ffmpeg'));
  await setPodStatus(c, a, 'webrtc-egress', runningStatus('egress'));
  await waitForPod(c, a, 'failed-ffmpeg');
  await setPodStatus(c, a, 'failed-ffmpeg', exitedStatus('ffmpeg', 1, 'Invalid argument'));
  await waitForReady(c, a, 'webrtc', 'Running');
  await waitForReady(c, a, 'failed', 'Failed');
  await waitForReady(c, a, 'stopped', 'Stopped');
  await waitForReady(c, a, 'held', 'AutostartDisabled');
  // FFmpeg has not started there, so Ready says Starting; the conflict is in its own condition.
  await eventually('the route conflict', async () => {
    const p = await getProcess(c, b, 'shared');
    return p.status?.conditions?.some((x) => x.type === 'RouteConflict' && x.status === 'True');
  });
  await settled(first, 8);
  await first.stop();
  running.length = 0;
});

after(async () => {
  await Promise.all(running.map((op) => op.stop()));
});

describe('idempotence', () => {
  test('a restarted operator on an unchanged cluster makes zero writes', async () => {
    const before = await snapshot();
    const records: RequestRecord[] = [];
    const second = await startOperator(c, [a, b], { name: 'second', hooks: [{ after: (r) => records.push(r) }] });
    running.push(second);
    await settled(second, 7);
    assert.ok(
      records.some((r) => r.method === 'GET'),
      'it did read (lists)',
    );
    assert.deepEqual(writesOf(records), [], 'no POST, PUT, PATCH or DELETE');
    assert.deepEqual(await snapshot(), before, 'every resourceVersion and the Event count unchanged');
    assert.equal(await reconciles(second), 7, 'it did reconcile every Process');
    await second.stop();
    running.length = 0;
  });

  test('with leader election on, the only writes are to the Lease', async () => {
    const before = await snapshot();
    const records: RequestRecord[] = [];
    const third = await startOperator(c, [a, b], {
      name: 'third',
      config: { leaderElection: { enabled: true, leaseNamespace: a, leaseName: 'idem' } },
      hooks: [{ after: (r) => records.push(r) }],
    });
    running.push(third);
    await eventually('leading', () => third.isLeader);
    await settled(third, 7);
    const writes = writesOf(records);
    assert.ok(writes.length > 0, 'the Lease was written');
    for (const w of writes) assert.match(w.path, /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/[^/]+\/leases/);
    assert.deepEqual(await snapshot(), before);
  });
});
