/**
 * The Gateway API CRDs the tests use: test/control-plane/gateway-api-crds.sh fetches the standard
 * channel of the pinned sigs.k8s.io/gateway-api into the cache, and installGatewayApiCrds makes
 * the real API server serve them (HTTPRoute at gateway.networking.k8s.io/v1, with its validation).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiException, CustomObjectsApi, type KubernetesObject, loadAllYaml } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parseConfig, routeKind } from '../../../operator/src/config.ts';
import { sharedControlPlane } from '../src/control-plane.ts';
import { gatewayApiCrdsDir, installGatewayApiCrds } from '../src/gateway-api-crds.ts';
import { applyObjects, renderChart, repoRoot } from './chart-helpers.ts';

/** The YAML blocks of docs/deploy.md's section "Gateway API instead of Ingress", unindented. */
function deployDocBlocks(): unknown[] {
  const text = readFileSync(join(repoRoot, 'docs/deploy.md'), 'utf8');
  const start = text.indexOf('### Gateway API instead of Ingress');
  assert.ok(start >= 0, 'docs/deploy.md has no section "Gateway API instead of Ingress"');
  const section = text.slice(start, text.indexOf('\n#', start + 1));
  return [...section.matchAll(/^( *)```yaml\n([\s\S]*?)^ *```/gm)].map(([, indent, body]) =>
    parse((body ?? '').replace(new RegExp(`^${indent}`, 'gm'), '')),
  );
}

const STANDARD = ['backendtlspolicies', 'gatewayclasses', 'gateways', 'grpcroutes', 'httproutes', 'referencegrants'];

describe('Gateway API CRDs', () => {
  test('the script puts the standard channel of v1.4.0 into the cache, and a second run does nothing', async () => {
    const dir = await gatewayApiCrdsDir();
    const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
    assert.equal(dir, join(cacheHome, 'corecast/gateway-api/v1.4.0'));
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(
      files.sort(),
      STANDARD.map((r) => `gateway.networking.k8s.io_${r}.yaml`),
    );
    for (const f of files) {
      const [crd] = loadAllYaml(readFileSync(join(dir, f), 'utf8')) as { metadata: { annotations: Record<string, string> } }[];
      assert.equal(crd?.metadata.annotations['gateway.networking.k8s.io/channel'], 'standard', f);
      assert.equal(crd?.metadata.annotations['gateway.networking.k8s.io/bundle-version'], 'v1.4.0', f);
    }
    const stamp = readFileSync(join(dir, '.complete'), 'utf8');
    assert.equal(await gatewayApiCrdsDir(), dir);
    assert.equal(readFileSync(join(dir, '.complete'), 'utf8'), stamp);
  });

  test('installed, the API server serves HTTPRoutes and validates them', async () => {
    const cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    const names = await installGatewayApiCrds(kc);
    assert.deepEqual(names.sort(), STANDARD.map((r) => `${r}.gateway.networking.k8s.io`).sort());
    // Installing again is a no-op.
    assert.deepEqual((await installGatewayApiCrds(kc)).sort(), names.sort());

    const ns = await cp.newNamespace('gateway-crds');
    const custom = kc.makeApiClient(CustomObjectsApi);
    const route = (path: string) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r', namespace: ns },
      spec: {
        parentRefs: [{ name: 'gw', namespace: 'gateways' }],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: 'svc', port: 8080 }] }],
      },
    });
    const refused = await custom
      .createNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        plural: 'httproutes',
        namespace: ns,
        body: route('no-slash'),
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    assert.ok(refused instanceof ApiException && refused.code === 422, `a path without a leading / was accepted: ${String(refused)}`);
    const created = (await custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      plural: 'httproutes',
      namespace: ns,
      body: route('/api'),
    })) as { spec: { parentRefs: { group: string; kind: string }[]; rules: { backendRefs: { kind: string; weight: number }[] }[] } };
    // The CRD's defaults.
    assert.deepEqual([created.spec.parentRefs[0]?.group, created.spec.parentRefs[0]?.kind], ['gateway.networking.k8s.io', 'Gateway']);
    assert.deepEqual([created.spec.rules[0]?.backendRefs[0]?.kind, created.spec.rules[0]?.backendRefs[0]?.weight], ['Service', 1]);
  });

  test("docs/deploy.md's example: the values render a gateway-mode operator, the Gateway is accepted by the API server", async () => {
    const [values, gatewayObject] = deployDocBlocks() as [Record<string, unknown>, KubernetesObject];
    assert.ok(values && gatewayObject, 'two YAML blocks: the values and the Gateway');
    const cp = await sharedControlPlane();
    await installGatewayApiCrds(cp.kubeConfig());
    const objects = await renderChart({ namespace: 'corecast-system', setJson: values });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-operator')) as
      { data: Record<string, string> } | undefined;
    const config = parseConfig(parse(cm?.data['config.yaml'] ?? ''), { name: 'test', namespace: 'corecast-system' });
    assert.equal(routeKind(config), 'gateway');
    assert.equal(gatewayObject.kind, 'Gateway');
    // The Gateway goes into a namespace of this run; its namespace is the one the values name.
    assert.equal(gatewayObject.metadata?.namespace, config.gateway.parentRefs[0]?.namespace);
    const ns = await cp.newNamespace('gateway-doc');
    const res = await applyObjects(cp.kubeconfigPath, [{ ...gatewayObject, metadata: { ...gatewayObject.metadata, namespace: ns } }], {
      dryRun: true,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /gateway\.gateway\.networking\.k8s\.io\/public serverside-applied \(server dry run\)/);
  });
});
