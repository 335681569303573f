/**
 * The chart's `coreApi` and `progress` sections (helm template, no cluster): the operator's
 * configuration gets both as the operator reads them (the progress endpoint is the operator
 * Service, the NetworkPolicy peer its pods), the Service and the pod expose the ports, the Core
 * API gets its /api route (Ingress or HTTPRoute) beside the Processes' longer paths, and RBAC to
 * create and delete Processes and read its two Secrets in the namespace it serves, nothing more.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parseConfig } from '../../../operator/src/config.ts';
import { findObject, renderChart } from './chart-helpers.ts';

const identity = { name: 'test', namespace: 'corecast-system' };
const hs256 = { 'auth.mode': 'hs256', 'auth.secret': 's'.repeat(40), 'ingress.host': 'stream.example.com' };

const render = (setJson: Record<string, unknown> = {}) => renderChart({ namespace: 'corecast-system', setJson });

function config(objects: readonly KubernetesObject[]) {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-operator')) as { data: Record<string, string> };
  return parseConfig(parse(cm.data['config.yaml'] ?? ''), identity);
}

const named = (objects: readonly KubernetesObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata?.name === name) as any;

describe('chart: progress', () => {
  test('by default FFmpeg pods report to the operator Service, which has the progress port', async () => {
    const objects = await render();
    const c = config(objects);
    assert.equal(c.progress.endpoint, 'corecast-operator.corecast-system.svc:8083');
    assert.equal(c.progress.port, 8083);
    assert.equal(c.progress.operatorNamespace, 'corecast-system');
    const svc = named(objects, 'Service', 'corecast-operator');
    assert.deepEqual(svc.spec.selector, c.progress.operatorPodLabels, 'the NetworkPolicy peer is the pods behind the Service');
    assert.deepEqual(
      svc.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port]),
      [['progress', 8083]],
    );
    const container = findObject(objects, 'Deployment').spec.template.spec.containers[0];
    assert.ok(container.ports.some((p: { name: string; containerPort: number }) => p.name === 'progress' && p.containerPort === 8083));
    assert.equal(named(objects, 'Ingress', 'corecast-operator-core-api'), undefined, 'no /api route while coreApi is off');
  });

  test('the progress values reach the operator as written', async () => {
    const c = config(
      await render({ progress: { statusIntervalSeconds: 10, maxStatusWritesPerSecond: 20, reportIntervalSeconds: 3, viewers: false } }),
    );
    assert.deepEqual(
      [c.progress.statusIntervalSeconds, c.progress.maxStatusWritesPerSecond, c.progress.reportIntervalSeconds, c.progress.viewers],
      [10, 20, 3, false],
    );
  });

  test('a bad value is refused by helm, naming it', async () => {
    await assert.rejects(render({ 'progress.statusIntervalSeconds': 0 }), /statusIntervalSeconds/);
  });
});

describe('chart: coreApi', () => {
  test('on: the config, the Service port, the container port, the /api Ingress on the players’ host', async () => {
    const objects = await render({ ...hs256, 'coreApi.enabled': true, 'ingress.tlsSecretName': 'tls' });
    const c = config(objects);
    assert.deepEqual(
      [c.coreApi.enabled, c.coreApi.port, c.coreApi.namespace, c.coreApi.credentialsSecret],
      [true, 8082, 'corecast-system', 'corecast-core-api'],
    );
    const svc = named(objects, 'Service', 'corecast-operator');
    assert.ok(svc.spec.ports.some((p: { name: string; port: number }) => p.name === 'core-api' && p.port === 8082));
    const container = findObject(objects, 'Deployment').spec.template.spec.containers[0];
    assert.ok(container.ports.some((p: { name: string; containerPort: number }) => p.name === 'core-api' && p.containerPort === 8082));
    const ing = named(objects, 'Ingress', 'corecast-operator-core-api');
    assert.deepEqual(ing.spec.rules, [
      {
        host: 'stream.example.com',
        http: {
          paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 'corecast-operator', port: { name: 'core-api' } } } }],
        },
      },
    ]);
    assert.deepEqual(ing.spec.tls, [{ secretName: 'tls', hosts: ['stream.example.com'] }]);
  });

  test('RBAC: create, patch and delete Processes and get exactly two Secrets, in the served namespace', async () => {
    const objects = await render({
      ...hs256,
      'coreApi.enabled': true,
      watchNamespaces: ['streams', 'other'],
      'coreApi.credentialsSecret': 'login',
    });
    assert.equal(config(objects).coreApi.namespace, 'streams', 'the first watched namespace');
    const role = named(objects, 'Role', 'corecast-operator-core-api');
    assert.equal(role.metadata.namespace, 'streams');
    assert.deepEqual(role.rules, [
      { apiGroups: ['corecast.dev'], resources: ['processes'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['login', 'corecast-auth'], verbs: ['get'] },
    ]);
    const binding = named(objects, 'RoleBinding', 'corecast-operator-core-api');
    assert.equal(binding.metadata.namespace, 'streams');
    assert.equal(binding.subjects[0].namespace, 'corecast-system');
  });

  test('with gateway.enabled the /api route is an HTTPRoute on the same Gateways', async () => {
    const objects = await render({
      ...hs256,
      'coreApi.enabled': true,
      'gateway.enabled': true,
      'gateway.parentRefs': [{ name: 'public', namespace: 'gateways', sectionName: 'https' }],
    });
    assert.equal(named(objects, 'Ingress', 'corecast-operator-core-api'), undefined);
    const route = named(objects, 'HTTPRoute', 'corecast-operator-core-api');
    assert.deepEqual(route.spec.parentRefs, [
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', namespace: 'gateways', sectionName: 'https' },
    ]);
    assert.deepEqual(route.spec.hostnames, ['stream.example.com']);
    assert.deepEqual(route.spec.rules, [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        backendRefs: [{ group: '', kind: 'Service', name: 'corecast-operator', port: 8082 }],
      },
    ]);
  });

  test('off (the default): no Role, no route, no port', async () => {
    const objects = await render(hs256);
    assert.equal(named(objects, 'Role', 'corecast-operator-core-api'), undefined);
    assert.equal(named(objects, 'HTTPRoute', 'corecast-operator-core-api'), undefined);
    assert.equal(config(objects).coreApi.enabled, false);
  });
});
