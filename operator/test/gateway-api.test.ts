/**
 * The operator's questions about the Gateway API (is HTTPRoute served? may it remove
 * HTTPRoutes?) and the start that refuses gateway mode without it, against a stand-in API
 * server on loopback that answers discovery and SelfSubjectAccessReviews from a table. The real
 * API server answers the same questions in gateway.int.test.ts and rbac.int.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { makeKube } from '../src/kube/client.ts';
import { httpRoutesServed, mayRemoveHttpRoutes } from '../src/kube/gateway-api.ts';
import { Operator } from '../src/operator.ts';
import { config } from './helpers/fixtures.ts';

/** What the stand-in answers: discovery of gateway.networking.k8s.io/v1, and who may do what. */
let discovery: { status: number; body?: unknown } = { status: 404 };
let allowed: (attrs: { verb: string; namespace?: string }) => boolean = () => true;
const reviews: { verb: string; namespace?: string; group: string; resource: string }[] = [];

let server: Server;
let kubeConfig: KubeConfig;

before(async () => {
  server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/apis/gateway.networking.k8s.io/v1') {
      send(
        discovery.status,
        discovery.body ?? { kind: 'Status', code: discovery.status, message: 'the server could not find the requested resource' },
      );
      return;
    }
    if (req.method === 'POST' && req.url === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const review = JSON.parse(text) as { spec: { resourceAttributes: (typeof reviews)[number] } };
        const attrs = review.spec.resourceAttributes;
        reviews.push(attrs);
        send(201, { ...review, status: { allowed: allowed(attrs) } });
      });
      return;
    }
    send(404, { kind: 'Status', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    // client-node sends plain HTTP only with skipTLSVerify.
    clusters: [{ name: 'stand-in', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'stand-in', user: 'u' }],
    currentContext: 'c',
  });
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const resources = (...names: string[]) => ({
  kind: 'APIResourceList',
  groupVersion: 'gateway.networking.k8s.io/v1',
  resources: names.map((name) => ({ name })),
});

describe('is HTTPRoute served?', () => {
  const cases: [string, { status: number; body?: unknown }, boolean | RegExp][] = [
    ['no Gateway API (404): no', { status: 404 }, false],
    [
      'the group serves httproutes: yes',
      { status: 200, body: resources('gatewayclasses', 'gateways', 'httproutes', 'httproutes/status') },
      true,
    ],
    ['the group without httproutes: no', { status: 200, body: resources('gatewayclasses', 'gateways') }, false],
    ['another error is an error, not a no', { status: 503, body: { kind: 'Status', code: 503, message: 'unavailable' } }, /HTTP 503/],
  ];
  for (const [name, answer, expected] of cases) {
    test(name, async () => {
      discovery = answer;
      const asked = httpRoutesServed(makeKube(kubeConfig));
      if (expected instanceof RegExp) await assert.rejects(asked, expected);
      else assert.equal(await asked, expected);
    });
  }
});

describe('may the operator remove HTTPRoutes?', () => {
  const cases: [string, (string | undefined)[], (a: { verb: string; namespace?: string }) => boolean, boolean, string[]][] = [
    [
      'every verb allowed in both namespaces',
      ['a', 'b'],
      () => true,
      true,
      ['a list', 'a watch', 'a delete', 'b list', 'b watch', 'b delete'],
    ],
    [
      'delete refused in one namespace',
      ['a', 'b'],
      (x) => !(x.namespace === 'b' && x.verb === 'delete'),
      false,
      ['a list', 'a watch', 'a delete', 'b list', 'b watch', 'b delete'],
    ],
    ['watch refused', ['a'], (x) => x.verb !== 'watch', false, ['a list', 'a watch', 'a delete']],
    ['every namespace: asked without one', [undefined], () => true, true, ['* list', '* watch', '* delete']],
  ];
  for (const [name, scopes, rule, expected, asked] of cases) {
    test(name, async () => {
      allowed = rule;
      reviews.length = 0;
      assert.equal(await mayRemoveHttpRoutes(makeKube(kubeConfig), scopes), expected);
      assert.deepEqual(reviews.map((r) => `${r.namespace ?? '*'} ${r.verb}`).sort(), [...asked].sort());
      for (const r of reviews) assert.deepEqual([r.group, r.resource], ['gateway.networking.k8s.io', 'httproutes']);
    });
  }
});

describe('the start in gateway mode', () => {
  test('without HTTPRoutes served, the start fails saying what to install', async () => {
    discovery = { status: 404 };
    const op = new Operator({
      config: config({ gateway: { enabled: true, parentRefs: [{ name: 'public' }] }, metrics: { port: 0 }, health: { port: 0 } }),
      identity: { name: 'test', namespace: 'ns' },
      kubeConfig,
      log: pino({ level: 'silent' }),
    });
    await assert.rejects(
      op.start(),
      /gateway\.enabled is true, but the API server does not serve HTTPRoutes \(gateway\.networking\.k8s\.io\/v1\): install the Gateway API CRDs/,
    );
    assert.equal(op.metricsPort, 0, 'nothing was served');
  });
});
