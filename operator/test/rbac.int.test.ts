/**
 * The RBAC rules operator/README.md lists are enough: an operator running as a ServiceAccount
 * bound to exactly those rules (namespaced Roles, the least-privilege form) reconciles a
 * WebRTC Process through to Ready, writes status and Events, holds its Lease, and is never
 * refused (no 403 on any request).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
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

/** The rules as the README states them (the fenced YAML blocks after the RBAC heading). */
function readmeRules(): { watched: V1PolicyRule[]; lease: V1PolicyRule[] } {
  const text = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('## RBAC'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? '') as { rules: V1PolicyRule[] });
  const [watched, lease] = blocks;
  if (!watched || !lease) throw new Error('README.md: expected two yaml blocks (watched namespaces, Lease) under ## RBAC');
  return { watched: watched.rules, lease: lease.rules };
}

let c: Cluster;
let ns: string;
let op: Operator | undefined;
const records: RequestRecord[] = [];

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'rbac');
  const rbac = c.kc.makeApiClient(RbacAuthorizationV1Api);
  const { watched, lease } = readmeRules();
  await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'corecast-operator' } } });
  const subjects = [{ kind: 'ServiceAccount', name: 'corecast-operator', namespace: ns }];
  for (const [name, rules] of [
    ['corecast-operator', watched],
    ['corecast-operator-lease', lease],
  ] as const) {
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules } });
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
  op = new Operator({
    config: testConfig([ns], { leaderElection: { enabled: true, leaseNamespace: ns } }),
    identity: { name: 'rbac-test', namespace: ns },
    kubeConfig: kc,
    log: pino({ level: 'warn' }),
    requestHooks: [{ after: (r) => records.push(r) }],
  });
  await op.start();
});

after(async () => {
  await op?.stop();
});

describe('RBAC', () => {
  test('the README rules are enough: a WebRTC Process reaches Ready with no 403', async () => {
    await eventually('leading', () => op?.isLeader);
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
  });
});
