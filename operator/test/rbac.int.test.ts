/**
 * The RBAC rules operator/README.md lists are enough: an operator running as a ServiceAccount
 * bound to exactly those rules (namespaced Roles, the least-privilege form) reconciles a
 * WebRTC Process through to Ready, writes status and Events, holds its Lease, and is never
 * refused (no 403 on any request) — with an Ingress, and in gateway mode with an HTTPRoute.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { installGatewayApiCrds } from '@corecast/testkit/gateway-api-crds';
import { KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import type { RequestRecord } from '../src/kube/client.ts';
import { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventsAbout,
  eventually,
  getCluster,
  namespace,
  runningStatus,
  setPodStatus,
  testConfig,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

/**
 * The rules as the README states them: the fenced YAML blocks after the RBAC heading — the
 * watched namespaces first, the Lease last, and between them what gateway mode adds.
 */
function readmeRules(): { watched: V1PolicyRule[]; gateway: V1PolicyRule[]; lease: V1PolicyRule[] } {
  const text = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('## RBAC'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? '') as { rules: V1PolicyRule[] });
  const [watched, gateway, lease] = blocks;
  if (!watched || !gateway || !lease) {
    throw new Error('README.md: expected three yaml blocks (watched namespaces, gateway mode, Lease) under ## RBAC');
  }
  return { watched: watched.rules, gateway: gateway.rules, lease: lease.rules };
}

const running: Operator[] = [];

after(async () => {
  await Promise.all(running.map((op) => op.stop()));
});

/**
 * An operator watching a new namespace as a ServiceAccount bound there to `rules` (and the
 * Lease rules), with every request it makes recorded.
 */
async function operatorBoundTo(
  c: Cluster,
  prefix: string,
  rules: V1PolicyRule[],
  config: Record<string, unknown> = {},
): Promise<{ ns: string; op: Operator; records: RequestRecord[] }> {
  const ns = await namespace(c, prefix);
  const rbac = c.kc.makeApiClient(RbacAuthorizationV1Api);
  await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'corecast-operator' } } });
  const subjects = [{ kind: 'ServiceAccount', name: 'corecast-operator', namespace: ns }];
  for (const [name, roleRules] of [
    ['corecast-operator', rules],
    ['corecast-operator-lease', readmeRules().lease],
  ] as const) {
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules: roleRules } });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects },
    });
  }
  const token = await c.core.createNamespacedServiceAccountToken({
    namespace: ns,
    name: 'corecast-operator',
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = c.kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'cp' }],
    users: [{ name: 'sa', token: token.status?.token }],
    contexts: [{ name: 'sa', cluster: 'cp', user: 'sa' }],
    currentContext: 'sa',
  });
  const records: RequestRecord[] = [];
  const op = new Operator({
    config: testConfig([ns], { leaderElection: { enabled: true, leaseNamespace: ns }, ...config }),
    identity: { name: `${prefix}-test`, namespace: ns },
    kubeConfig: kc,
    log: pino({ level: 'warn' }),
    requestHooks: [{ after: (r) => records.push(r) }],
  });
  running.push(op);
  await op.start();
  return { ns, op, records };
}

/** A WebRTC Process through to Ready, with no request refused. */
async function readyWithout403(c: Cluster, ns: string, op: Operator, records: RequestRecord[]): Promise<void> {
  await eventually('leading', () => op.isLeader);
  await createProcess(c, ns, processFixture('rbac', withWebrtc()));
  await waitForPod(c, ns, 'rbac-ffmpeg');
  await waitForPod(c, ns, 'rbac-egress');
  await setPodStatus(c, ns, 'rbac-ffmpeg', runningStatus('ffmpeg'));
  await setPodStatus(c, ns, 'rbac-egress', runningStatus('egress'));
  await waitForReady(c, ns, 'rbac', 'Running');
  await eventually('events recorded', async () => (await eventsAbout(c, ns, 'rbac')).length >= 2);
  const refused = records.filter((r) => r.status === 401 || r.status === 403);
  assert.deepEqual(refused, [], 'no request was refused');
  assert.ok(
    records.some((r) => r.path.includes('/leases/')),
    'the Lease was used',
  );
  assert.ok(
    records.some((r) => r.path.endsWith('/status') && r.status === 200),
    'status written',
  );
}

describe('RBAC', () => {
  test('the README rules are enough: a WebRTC Process reaches Ready with no 403', async () => {
    const c = await getCluster();
    // With the Gateway API installed, so the operator's question whether it may remove old
    // HTTPRoutes (it may not, under these rules) is part of what must meet no 403.
    await installGatewayApiCrds(c.kc);
    const { ns, op, records } = await operatorBoundTo(c, 'rbac', readmeRules().watched);
    await readyWithout403(c, ns, op, records);
    assert.ok(
      records.some((r) => r.method === 'PATCH' && r.path.endsWith('/ingresses/rbac')),
      'the Ingress applied',
    );
    assert.ok(
      records.some((r) => r.method === 'POST' && r.path.endsWith('/selfsubjectaccessreviews')),
      'it asked about HTTPRoutes',
    );
    assert.ok(!records.some((r) => r.path.endsWith('/httproutes')), 'no HTTPRoute watch without the rights');
  });

  test('gateway mode: with the gateway block too, the HTTPRoute is applied and nothing is refused', async () => {
    const c = await getCluster();
    await installGatewayApiCrds(c.kc);
    const { watched, gateway } = readmeRules();
    const { ns, op, records } = await operatorBoundTo(c, 'rbac-gw', [...watched, ...gateway], {
      gateway: { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateways' }] },
    });
    await readyWithout403(c, ns, op, records);
    assert.ok(
      records.some((r) => r.method === 'PATCH' && r.path.endsWith('/httproutes/rbac')),
      'the HTTPRoute applied',
    );
    assert.ok(!records.some((r) => r.path.includes('/ingresses/rbac')), 'no Ingress in gateway mode');
  });
});
