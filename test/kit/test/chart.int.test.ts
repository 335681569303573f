/**
 * The Helm chart against the real API server: helm lint, every helm-values file rendered and
 * accepted by a server-side dry run (Pod Security "restricted" enforced on the release
 * namespace), the operator configuration it renders accepted by the operator's own schema,
 * RBAC scoped as promised, the auth Secret kept across a real `helm upgrade`, values.schema.json
 * refusing bad values with pinned messages, and kind-config.yaml matching helm-values/kind.yaml.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { crdYaml } from '../../../api/src/crd-yaml.ts';
import { process as processManifest, withWebrtc } from '../../../api/test/fixtures/processes.ts';
import { parseProcess } from '../../../api/src/validate.ts';
import { EGRESS_PORTS } from '../../../operator/src/children/egress-pod.ts';
import { hostSlotCapacity } from '../../../operator/src/children/media-ports.ts';
import { buildMediaService } from '../../../operator/src/children/media-service.ts';
import { buildHttpRoute } from '../../../operator/src/children/route.ts';
import { parseConfig, routeKind } from '../../../operator/src/config.ts';
import { sharedControlPlane } from '../src/control-plane.ts';
import { installCrds } from '../src/control-plane-crds.ts';
import { installGatewayApiCrds } from '../src/gateway-api-crds.ts';
import { monitoringStandInCrdsDir } from './chart-fixtures.ts';
import {
  applyObjects,
  chartDir,
  findObject,
  helm,
  helmValuesDir,
  helmValuesFiles,
  kubectlRun,
  renderChart,
  renderChartText,
  repoRoot,
  templateArgs,
} from './chart-helpers.ts';

const cp = await sharedControlPlane();
const kc = cp.kubeConfig();
await installCrds(kc);
// The monitors need prometheus-operator's CRDs, which do not exist here: stand-ins (see chart-fixtures.ts).
await installCrds(kc, monitoringStandInCrdsDir());
// HTTPRoutes (gateway.enabled) need the Gateway API's CRDs.
await installGatewayApiCrds(kc);

/** Values that route through the Gateway API. */
const gatewayValues = {
  'ingress.host': 'stream.example.com',
  gateway: {
    enabled: true,
    parentRefs: [
      { name: 'public', namespace: 'gateways', sectionName: 'http' },
      { name: 'public', namespace: 'gateways', sectionName: 'https' },
    ],
    annotations: { 'example.com/team': 'video' },
  },
};

/** A namespace whose pods must meet Pod Security "restricted" (enforced, and warned for workloads). */
async function restrictedNamespace(prefix: string): Promise<string> {
  const ns = await cp.newNamespace(prefix);
  for (const mode of ['enforce', 'warn']) {
    const res = await kubectlRun(cp.kubeconfigPath, ['label', 'namespace', ns, `pod-security.kubernetes.io/${mode}=restricted`]);
    assert.equal(res.code, 0, res.stderr);
  }
  return ns;
}

/** The operator configuration rendered into the chart's ConfigMap, parsed. */
function renderedConfig(objects: readonly KubernetesObject[]): unknown {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-operator')) as
    { data: Record<string, string> } | undefined;
  assert.ok(cm, 'no operator ConfigMap rendered');
  return parse(cm.data['config.yaml'] ?? '');
}

/** The demo Process with WebRTC on in namespace `ns`, as the operator's builders see it. */
function demoView(ns: string, uid: string) {
  const { spec } = parseProcess(processManifest('demo', withWebrtc()));
  return { name: 'demo', namespace: ns, uid, generation: 1, creationTimestamp: '', annotations: {}, spec };
}

/** Applies `object` as a server-side dry run: the API server takes it and reports it as `applied` says. */
async function assertDryRunApplied(object: KubernetesObject, applied: RegExp): Promise<void> {
  const res = await applyObjects(cp.kubeconfigPath, [object], { dryRun: true });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, applied);
}

const kinds = (objects: readonly KubernetesObject[]) => objects.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`);

describe('helm lint', () => {
  for (const file of [undefined, ...helmValuesFiles()]) {
    test(`is clean with ${file ? `helm-values/${basename(file)}` : 'the default values'}`, async () => {
      const res = await helm(['lint', '--strict', chartDir, ...(file ? ['--values', file] : [])]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.doesNotMatch(res.stdout, /\[(WARNING|ERROR)\]/);
      assert.match(res.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

describe('every helm-values file renders and the API server accepts it', () => {
  test('there are the six situations of the quick starts and docs/deploy.md', () => {
    assert.deepEqual(
      helmValuesFiles().map((f) => basename(f)),
      ['cloud.yaml', 'host-network.yaml', 'kind.yaml', 'local-node.yaml', 'node-port.yaml', 'turn.yaml'],
    );
  });

  test('a workload that breaks "restricted" does get a warning here (so its absence below means something)', async () => {
    const ns = await restrictedNamespace('chart-control');
    const bad = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'host-net', namespace: ns },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: { metadata: { labels: { app: 'x' } }, spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x' }] } },
      },
    };
    const res = await applyObjects(cp.kubeconfigPath, [bad], { dryRun: true });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /would violate PodSecurity "restricted/);
  });

  for (const file of [undefined, ...helmValuesFiles()]) {
    const name = file ? `helm-values/${basename(file)}` : 'the default values';
    test(`${name}: server-side dry run accepts every object, with no Pod Security warning`, async () => {
      const release = await restrictedNamespace('chart-release');
      const watched = await restrictedNamespace('chart-watched');
      const objects = await renderChart({
        namespace: release,
        valuesFiles: file ? [file] : [],
        setJson: { watchNamespaces: [watched], 'auth.secretNamespaces': [watched] },
      });
      for (const kind of ['CustomResourceDefinition', 'ServiceAccount', 'ConfigMap', 'Deployment', 'Role', 'RoleBinding']) {
        assert.ok(
          objects.some((o) => o.kind === kind),
          `no ${kind} in\n${kinds(objects).join('\n')}`,
        );
      }
      const res = await applyObjects(cp.kubeconfigPath, objects, { dryRun: true });
      assert.equal(res.code, 0, res.stderr);
      assert.doesNotMatch(res.stderr, /PodSecurity/);
      assert.equal(res.stdout.trim().split('\n').length, objects.length, res.stdout);
    });

    test(`${name}: the rendered operator configuration passes the operator's own schema`, async () => {
      const objects = await renderChart({ namespace: 'corecast-system', valuesFiles: file ? [file] : [] });
      const config = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'corecast-system' });
      const values = parse(file ? readFileSync(file, 'utf8') : '{}') ?? {};
      assert.deepEqual(config.namespaces, values.watchNamespaces ?? ['corecast-system']);
      assert.equal(config.egress.hostNetwork, values.media?.mode === 'hostNetwork');
      assert.equal(config.egress.loadBalancer.enabled, values.media?.mode === 'loadBalancer');
      assert.equal(config.egress.nodePort.enabled, values.media?.mode === 'nodePort');
      assert.equal(config.egress.auth.mode, values.auth?.mode ?? 'hs256');
      assert.equal(config.leaderElection.enabled, true);
      assert.equal(config.leaderElection.leaseNamespace, 'corecast-system');
    });
  }
});

describe('media ports', () => {
  test('no helm-values file uses the retired port range; the host-network ones hold a slot of host ports per Process', async () => {
    for (const file of helmValuesFiles()) {
      const values = parse(readFileSync(file, 'utf8'));
      assert.equal(values.media?.portRange, undefined, basename(file));
      if (values.media?.mode !== 'hostNetwork') continue;
      const objects = await renderChart({ namespace: 'corecast-system', valuesFiles: [file] });
      const config = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'corecast-system' });
      assert.ok(hostSlotCapacity(config) >= 20, `${basename(file)}: ${hostSlotCapacity(config)} slots`);
    }
  });

  test('a values file with media.portRange renders, and the operator refuses it at start naming the value', async () => {
    const objects = await renderChart({ namespace: 'ns', setJson: { 'media.portRange': { min: 50000, max: 50099 } } });
    assert.throws(
      () => parseConfig(renderedConfig(objects), { name: 'test', namespace: 'ns' }),
      /media\.portRange: is no longer used: every viewer of an egress pod shares one UDP port \(udpPort, default 8189\); remove it/,
    );
  });
});

describe('media through a load balancer (helm-values/cloud.yaml)', () => {
  test('the media Service the operator builds from the rendered configuration is accepted by the API server', async () => {
    const objects = await renderChart({ namespace: 'corecast-system', valuesFiles: [join(helmValuesDir, 'cloud.yaml')] });
    const config = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'corecast-system' });
    assert.equal(config.egress.loadBalancer.enabled, true);
    const ns = await restrictedNamespace('chart-media');
    const view = demoView(ns, '00000000-0000-0000-0000-000000000001');
    const svc = buildMediaService(view, config);
    assert.deepEqual(svc.spec?.ports, [{ name: 'ice-udp', protocol: 'UDP', port: 8189, targetPort: 8189 }]);
    await assertDryRunApplied(svc as KubernetesObject, /service\/demo-media serverside-applied \(server dry run\)/);
  });
});

describe('media through a node port (helm-values/node-port.yaml)', () => {
  test('the NodePort Service the operator builds from the rendered configuration, with ICE-TCP, is accepted by the API server', async () => {
    const objects = await renderChart({
      namespace: 'corecast-system',
      valuesFiles: [join(helmValuesDir, 'node-port.yaml')],
      setJson: { 'media.tcpPort': 8443 },
    });
    const config = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'corecast-system' });
    assert.equal(config.egress.nodePort.enabled, true);
    const ns = await restrictedNamespace('chart-nodeport');
    const view = demoView(ns, '00000000-0000-0000-0000-000000000002');
    const svc = buildMediaService(view, config);
    assert.equal(svc.spec?.type, 'NodePort');
    assert.equal(svc.spec?.externalTrafficPolicy, 'Local');
    // One port number for both protocols (UDP 8189 and TCP to 8443): the API server takes it.
    await assertDryRunApplied(svc as KubernetesObject, /service\/demo-media serverside-applied \(server dry run\)/);
  });
});

describe('routing through the Gateway API (gateway.enabled)', () => {
  test('the rendered configuration routes with HTTPRoutes, and the HTTPRoute built from it is accepted by the API server', async () => {
    const objects = await renderChart({ namespace: 'corecast-system', setJson: gatewayValues });
    const config = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'corecast-system' });
    assert.equal(routeKind(config), 'gateway');
    assert.deepEqual(config.gateway.parentRefs, gatewayValues.gateway.parentRefs);
    assert.deepEqual(config.gateway.annotations, gatewayValues.gateway.annotations);
    assert.equal(config.ingress.host, 'stream.example.com');
    // The defaults leave it off.
    const defaults = parseConfig(renderedConfig(await renderChart({ namespace: 'corecast-system' })), { name: 'test', namespace: 'x' });
    assert.deepEqual(defaults.gateway, { enabled: false, parentRefs: [], annotations: {} });
    assert.equal(routeKind(defaults), 'ingress');

    const ns = await restrictedNamespace('chart-gateway');
    const view = demoView(ns, '00000000-0000-0000-0000-000000000002');
    await assertDryRunApplied(
      buildHttpRoute(view, config) as KubernetesObject,
      /httproute\.gateway\.networking\.k8s\.io\/demo serverside-applied \(server dry run\)/,
    );
  });

  test('the NOTES say which HTTPRoute and Gateways route the demo', async () => {
    // helm template does not render NOTES.txt; an install dry run does.
    const res = await helm([
      'install',
      '--dry-run=client',
      'corecast',
      chartDir,
      '--namespace',
      'corecast-system',
      '--set-json',
      `gateway=${JSON.stringify(gatewayValues.gateway)}`,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /HTTPRoute demo routes it, through gateways\/public \(listener http\), gateways\/public \(listener https\)\./);
    assert.match(res.stdout, /kubectl get httproute -n corecast-system demo/);
  });
});

describe('the operator Deployment', () => {
  test('runs restricted: non-root, no privilege escalation, all capabilities dropped, seccomp, read-only root', async () => {
    const dep = findObject(await renderChart({ namespace: 'corecast-system' }), 'Deployment');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(
      { ...pod.securityContext, ...c.securityContext },
      {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
    );
    assert.deepEqual(c.args, ['--config', '/etc/corecast/config.yaml']);
    assert.equal(c.image, 'ghcr.io/corecast/operator:0.1.0');
  });

  test('one replica without leader election never overlaps (Recreate); two replicas elect a leader and spread', async () => {
    const single = findObject(
      await renderChart({ namespace: 'corecast-system', setJson: { 'operator.leaderElection.enabled': false } }),
      'Deployment',
    );
    assert.equal(single.spec.strategy?.type, 'Recreate');
    const objects = await renderChart({
      namespace: 'corecast-system',
      setJson: { 'operator.replicas': 2, 'operator.leaderElection.enabled': false },
    });
    const dep = findObject(objects, 'Deployment');
    assert.equal(dep.spec.replicas, 2);
    assert.equal(dep.spec.strategy, undefined);
    assert.ok(dep.spec.template.spec.affinity.podAntiAffinity);
    assert.equal((renderedConfig(objects) as any).leaderElection.enabled, true);
    assert.equal(findObject(objects, 'PodDisruptionBudget').spec.minAvailable, 1);
  });

  test('a changed configuration rolls the pods (checksum annotation)', async () => {
    const checksum = async (setJson: Record<string, unknown>) =>
      findObject(await renderChart({ namespace: 'corecast-system', setJson }), 'Deployment').spec.template.metadata.annotations[
        'checksum/config'
      ];
    assert.equal(await checksum({}), await checksum({}));
    assert.notEqual(await checksum({}), await checksum({ 'operator.workers': 8 }));
  });
});

describe('RBAC', () => {
  const rbacKinds = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  const rbac = (objects: KubernetesObject[]) => kinds(objects.filter((o) => rbacKinds.includes(o.kind ?? ''))).sort();

  test('watching listed namespaces: a Role and RoleBinding in each, the Lease Role at home, nothing cluster-wide', async () => {
    const objects = await renderChart({ namespace: 'corecast-system', setJson: { watchNamespaces: ['a', 'b'] } });
    assert.deepEqual(rbac(objects), [
      'Role/a/corecast-operator',
      'Role/b/corecast-operator',
      'Role/corecast-system/corecast-operator-leader-election',
      'RoleBinding/a/corecast-operator',
      'RoleBinding/b/corecast-operator',
      'RoleBinding/corecast-system/corecast-operator-leader-election',
    ]);
  });

  test('the default watches only the release namespace', async () => {
    const objects = await renderChart({ namespace: 'corecast-system' });
    assert.deepEqual(
      rbac(objects).filter((k) => !k.includes('leader-election')),
      ['Role/corecast-system/corecast-operator', 'RoleBinding/corecast-system/corecast-operator'],
    );
  });

  test('watchAllNamespaces: one ClusterRole and ClusterRoleBinding, and the operator watches every namespace', async () => {
    const objects = await renderChart({
      namespace: 'corecast-system',
      setJson: { watchAllNamespaces: true, watchNamespaces: ['ignored'], 'auth.mode': 'none' },
    });
    assert.deepEqual(rbac(objects), [
      'ClusterRole//corecast-operator',
      'ClusterRoleBinding//corecast-operator',
      'Role/corecast-system/corecast-operator-leader-election',
      'RoleBinding/corecast-system/corecast-operator-leader-election',
    ]);
    assert.deepEqual((renderedConfig(objects) as any).namespaces, []);
  });

  test('gateway.enabled adds one rule on httproutes to every watched namespace; without it there is none', async () => {
    const rulesOf = (objects: KubernetesObject[]) =>
      objects.filter((o) => o.kind === 'Role' && !o.metadata?.name?.endsWith('leader-election')).map((o: any) => o.rules);
    const gatewayRule = {
      apiGroups: ['gateway.networking.k8s.io'],
      resources: ['httproutes'],
      verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    };
    const on = await renderChart({ namespace: 'corecast-system', setJson: { ...gatewayValues, watchNamespaces: ['a', 'b'] } });
    const roles = rulesOf(on);
    assert.equal(roles.length, 2);
    for (const rules of roles) {
      assert.deepEqual(
        rules.filter((r: any) => r.apiGroups.includes('gateway.networking.k8s.io')),
        [gatewayRule],
      );
      // The Ingress rule stays: Ingresses left from before the switch are deleted.
      assert.ok(rules.some((r: any) => r.resources.includes('ingresses')));
    }
    const clusterWide = await renderChart({
      namespace: 'corecast-system',
      setJson: { ...gatewayValues, watchAllNamespaces: true, 'auth.mode': 'none' },
    });
    assert.deepEqual(
      findObject(clusterWide, 'ClusterRole').rules.filter((r: any) => r.resources.includes('httproutes')),
      [gatewayRule],
    );
    const off = await renderChart({ namespace: 'corecast-system', setJson: { 'gateway.parentRefs': gatewayValues.gateway.parentRefs } });
    assert.ok(!JSON.stringify(rulesOf(off)).includes('httproutes'), 'httproutes granted with gateway.enabled false');
  });

  test('no rule grants secrets, wildcards, or anything outside what the operator builds', async () => {
    const objects = await renderChart({ namespace: 'corecast-system', setJson: { watchAllNamespaces: true, 'auth.mode': 'none' } });
    const rules = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o: any) => o.rules);
    const resources = new Set(rules.flatMap((r: any) => r.resources));
    assert.deepEqual([...resources].sort(), [
      'events',
      'ingresses',
      'leases',
      'networkpolicies',
      'pods',
      'processes',
      'processes/finalizers',
      'processes/status',
      'services',
    ]);
    assert.ok(!JSON.stringify(rules).includes('"*"'), 'a wildcard in a rule');
  });
});

describe('the CRD', () => {
  test('renders the generated CRD unchanged, kept on uninstall', async () => {
    const crd = findObject(await renderChart({ namespace: 'corecast-system' }), 'CustomResourceDefinition');
    const generated = parse(crdYaml());
    assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.deepEqual(crd.spec, generated.spec);
    assert.equal(crd.metadata.name, generated.metadata.name);
  });

  test('a CRD applied by hand is adopted with --take-ownership, and helm uninstall keeps it and every Process', async () => {
    // The run's CRD was applied by the test harness, as a user with `kubectl apply` would.
    const release = await cp.newNamespace('chart-crd');
    const install = (extra: string[]) =>
      helm(['install', '--kubeconfig', cp.kubeconfigPath, 'corecast', chartDir, '--namespace', release, ...extra]);
    const refused = await install([]);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /CustomResourceDefinition "processes\.corecast\.dev".*exists and cannot be imported|invalid ownership metadata/,
    );
    const adopted = await install(['--take-ownership']);
    assert.equal(adopted.code, 0, adopted.stderr);
    const annotations = JSON.parse(
      (await kubectlRun(cp.kubeconfigPath, ['get', 'crd', 'processes.corecast.dev', '-o', 'jsonpath={.metadata.annotations}'])).stdout,
    );
    assert.equal(annotations['helm.sh/resource-policy'], 'keep');
    assert.equal(annotations['meta.helm.sh/release-namespace'], release);

    const example = join(repoRoot, 'examples/test-pattern.yaml');
    const applied = await kubectlRun(cp.kubeconfigPath, ['apply', '-n', release, '-f', example]);
    assert.equal(applied.code, 0, applied.stderr);
    const uninstall = await helm(['uninstall', '--kubeconfig', cp.kubeconfigPath, 'corecast', '--namespace', release]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.match(uninstall.stdout + uninstall.stderr, /kept due to the resource policy/);
    const left = await kubectlRun(cp.kubeconfigPath, ['get', 'proc', 'demo', '-n', release, '-o', 'name']);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(left.stdout.trim(), 'process.corecast.dev/demo');
  });

  test('crds.install=false leaves it out (CRDs managed elsewhere)', async () => {
    const objects = await renderChart({ namespace: 'corecast-system', setJson: { 'crds.install': false } });
    assert.ok(!objects.some((o) => o.kind === 'CustomResourceDefinition'));
  });
});

describe('the auth Secret', () => {
  test('one secret per namespace (hole: one HS256 secret for every namespace): generated once in each, different, kept by a real helm upgrade (lookup); a shared one from before is replaced once', async () => {
    const release = await cp.newNamespace('chart-install');
    const watched = [await cp.newNamespace('chart-secret-a'), await cp.newNamespace('chart-secret-b')];
    const read = async (ns: string) => {
      const res = await kubectlRun(cp.kubeconfigPath, ['get', 'secret', '-n', ns, 'corecast-auth', '-o', 'jsonpath={.data.jwt-secret}']);
      assert.equal(res.code, 0, res.stderr);
      return Buffer.from(res.stdout, 'base64').toString();
    };
    const args = [
      '--kubeconfig',
      cp.kubeconfigPath,
      'corecast',
      chartDir,
      '--namespace',
      release,
      // The CRD belongs to the test run, not to this release.
      '--set',
      'crds.install=false',
      '--set-json',
      `watchNamespaces=${JSON.stringify(watched)}`,
    ];
    const install = await helm(['install', ...args]);
    assert.equal(install.code, 0, install.stderr);
    const first = await read(watched[0]!);
    const second = await read(watched[1]!);
    assert.match(first, /^[A-Za-z0-9]{48}$/);
    assert.match(second, /^[A-Za-z0-9]{48}$/);
    assert.notEqual(second, first, "one namespace's secret does not sign for another's processes");

    const upgrade = await helm(['upgrade', ...args, '--set', 'operator.workers=2']);
    assert.equal(upgrade.code, 0, upgrade.stderr);
    assert.equal(await read(watched[0]!), first);
    assert.equal(await read(watched[1]!), second);

    // A Secret as an earlier chart wrote it: the same value in every namespace, no scope
    // annotation. The next upgrade gives it a value of its own (once: then it is kept). Written
    // by helm's own field manager, as an earlier release's upgrade would have left it.
    const got = await kubectlRun(cp.kubeconfigPath, ['get', 'secret', '-n', watched[1]!, 'corecast-auth', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    const secret = JSON.parse(got.stdout) as {
      metadata: { annotations: Record<string, string>; managedFields?: { manager: string; operation: string }[] } & Record<string, unknown>;
      data: Record<string, string>;
    };
    const manager = secret.metadata.managedFields?.find((f) => f.operation === 'Apply')?.manager ?? 'helm';
    delete secret.metadata.annotations['corecast.dev/secret-scope'];
    for (const field of ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp']) delete secret.metadata[field];
    secret.data['jwt-secret'] = Buffer.from(first).toString('base64');
    const file = join(mkdtempSync(join(tmpdir(), 'corecast-chart-')), 'legacy.json');
    writeFileSync(file, JSON.stringify(secret));
    const patched = await kubectlRun(cp.kubeconfigPath, [
      'apply',
      '--server-side',
      '--force-conflicts',
      `--field-manager=${manager}`,
      '-f',
      file,
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    assert.equal(await read(watched[1]!), first);
    const again = await helm(['upgrade', ...args]);
    assert.equal(again.code, 0, again.stderr);
    const replaced = await read(watched[1]!);
    assert.notEqual(replaced, first);
    assert.equal(await read(watched[0]!), first);
    const kept = await helm(['upgrade', ...args]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal(await read(watched[1]!), replaced);

    const uninstall = await helm(['uninstall', '--kubeconfig', cp.kubeconfigPath, 'corecast', '--namespace', release]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
  });

  test('egress pods get the token lifetime cap and the viewer limits from the values', async () => {
    const objects = await renderChart({
      namespace: 'ns',
      setJson: { 'auth.maxTokenLifetimeSeconds': 3600, 'egress.viewerLimits': { perSubject: 3, perClient: 6 } },
    });
    const { egress } = parseConfig(renderedConfig(objects), { name: 'test', namespace: 'ns' });
    assert.equal(egress.auth.mode === 'hs256' && egress.auth.maxTokenLifetimeSeconds, 3600);
    assert.deepEqual(egress.viewerLimits, { perSubject: 3, perClient: 6 });
  });

  test('a given secret is used as is; existingSecret renders no Secret and is referenced instead', async () => {
    const given = await renderChart({ namespace: 'ns', setJson: { 'auth.secret': 's'.repeat(40) } });
    assert.equal(Buffer.from(findObject(given, 'Secret').data['jwt-secret'], 'base64').toString(), 's'.repeat(40));
    const existing = await renderChart({ namespace: 'ns', setJson: { 'auth.existingSecret': 'mine', 'auth.existingSecretKey': 'k' } });
    assert.ok(!existing.some((o) => o.kind === 'Secret'));
    assert.deepEqual(parseConfig(renderedConfig(existing), { name: 'test', namespace: 'ns' }).egress.jwtSecretRef, {
      name: 'mine',
      key: 'k',
    });
  });
});

describe('values.schema.json and the chart refuse bad values with a clear message', () => {
  /**
   * [what, values (as --set-json), the exact message line helm prints]. Rules between values are
   * the operator's, checked at its start (chart-config.test.ts); the one left in the chart is
   * about the Secret it writes.
   */
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'an unknown media mode',
      { 'media.mode': 'udp' },
      "- at '/media/mode': value must be one of 'pod', 'hostNetwork', 'turn', 'loadBalancer', 'nodePort'",
    ],
    [
      'an unknown external traffic policy',
      { 'media.loadBalancer.externalTrafficPolicy': 'local' },
      "- at '/media/loadBalancer/externalTrafficPolicy': value must be one of 'Local', 'Cluster'",
    ],
    ['replicas as a string', { 'operator.replicas': 'two' }, "- at '/operator/replicas': got string, want integer"],
    ['a namespace list given as a string', { watchNamespaces: 'default' }, "- at '/watchNamespaces': got string, want array"],
    [
      'a namespace that is not a DNS label',
      { watchNamespaces: ['Default'] },
      "- at '/watchNamespaces/0': 'Default' does not match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
    ],
    ['a misspelt key', { operator: { replica: 2 } }, "- at '/operator': additional properties 'replica' not allowed"],
    ['an unknown auth mode', { 'auth.mode': 'HS256' }, "- at '/auth/mode': value must be one of 'hs256', 'jwks', 'none'"],
    [
      'a host ICE port below 1024',
      { 'media.hostNetwork.icePorts': { min: 80, max: 100 } },
      "- at '/media/hostNetwork/icePorts/min': minimum: got 80, want 1,024",
    ],
    ['an ICE port out of range', { 'media.udpPort': 70000 }, "- at '/media/udpPort': maximum: got 70,000, want 65,535"],
    ['a public address that is no IP', { 'media.publicAddresses': ['1.2.3'] }, "- at '/media/publicAddresses/0': 'anyOf' failed"],
    ['a short HS256 secret', { 'auth.secret': 'short' }, "- at '/auth/secret': 'short' does not match pattern '^$|^.{32,}$'"],
    [
      'a JWKS URL over plain http (hole: a JWKS URL over plain http was accepted)',
      { 'auth.mode': 'jwks', 'auth.jwksUrl': 'http://keys.example/jwks.json' },
      "- at '/auth/jwksUrl': 'http://keys.example/jwks.json' does not match pattern '^$|^https:\\\\/\\\\/[^\\\\s]+$'",
    ],
    [
      'a token lifetime cap below a minute',
      { 'auth.maxTokenLifetimeSeconds': 10 },
      "- at '/auth/maxTokenLifetimeSeconds': minimum: got 10, want 60",
    ],
    [
      'a STUN URL that is not one',
      { 'media.stunServers': ['stun.example.com:3478'] },
      `- at '/media/stunServers/0': 'stun.example.com:3478' does not match pattern '^stuns?:[^\\\\s<>"]+$'`,
    ],
    [
      'every namespace with a generated hs256 secret but nowhere to put it',
      { watchAllNamespaces: true },
      'auth: with watchAllNamespaces, the shared secret (auth.mode hs256 or auth.embed.enabled) needs auth.existingSecret (a Secret you create in each namespace that holds Processes) or auth.secretNamespaces (namespaces the chart writes it into)',
    ],
    [
      'a Gateway without a name',
      { 'gateway.parentRefs': [{ namespace: 'gateways' }] },
      "- at '/gateway/parentRefs/0': missing property 'name'",
    ],
    [
      'a misspelt parentRef key',
      { 'gateway.parentRefs': [{ name: 'public', section: 'http' }] },
      "- at '/gateway/parentRefs/0': additional properties 'section' not allowed",
    ],
    [
      'a Gateway namespace that is no DNS label',
      { 'gateway.parentRefs': [{ name: 'public', namespace: 'Gateways' }] },
      "- at '/gateway/parentRefs/0/namespace': 'Gateways' does not match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
    ],
    [
      'a listener port out of range',
      { 'gateway.parentRefs': [{ name: 'public', port: 70000 }] },
      "- at '/gateway/parentRefs/0/port': maximum: got 70,000, want 65,535",
    ],
    ['gateway.enabled as a string', { 'gateway.enabled': 'yes' }, "- at '/gateway/enabled': got string, want boolean"],
    [
      'a resource quantity that is none',
      { 'egress.resources.requests.cpu': 'lots' },
      "- at '/egress/resources/requests/cpu': 'lots' does not match pattern '^[0-9]+(\\\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$'",
    ],
    ['a namespace listed twice', { watchNamespaces: ['a', 'a'] }, "- at '/watchNamespaces': items at 0 and 1 are equal"],
    [
      'an extra key in a host port range',
      { 'media.hostNetwork.internalPorts': { min: 40000, max: 40399, count: 100 } },
      "additional properties 'count' not allowed",
    ],
  ];

  for (const [what, setJson, message] of cases) {
    test(what, async () => {
      const res = await helm(templateArgs({ namespace: 'ns', setJson }));
      assert.notEqual(res.code, 0, `rendered although ${what}`);
      assert.ok(res.stderr.includes(message), `expected "${message}" in:\n${res.stderr}`);
    });
  }

  test('the defaults and every helm-values file pass (so the refusals above are about the bad value)', async () => {
    for (const file of [undefined, ...helmValuesFiles()]) {
      await renderChartText({ namespace: 'ns', valuesFiles: file ? [file] : [] });
    }
  });
});

describe('the monitors', () => {
  test("the PodMonitor scrapes the egress pods' own metrics port, never the WHEP port (metrics exposure)", async () => {
    const objects = await renderChart({ namespace: 'ns', setJson: { 'metrics.podMonitor.enabled': true } });
    const monitor = objects.find((o) => o.kind === 'PodMonitor') as any;
    assert.deepEqual(
      monitor.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path]),
      [['metrics', '/metrics']],
    );
    // The name the operator gives the egress container's metrics port.
    const ports = EGRESS_PORTS as readonly { name: string; containerPort: number; protocol: string }[];
    assert.ok(
      ports.some(
        (p) => p.name === 'metrics' && p.protocol === 'TCP' && p.containerPort !== ports.find((h) => h.name === 'http')?.containerPort,
      ),
    );
  });
});

describe('the Grafana dashboard', () => {
  test('queries only metrics that the operator and the egress pods export', async () => {
    const objects = await renderChart({ namespace: 'ns', setJson: { 'metrics.grafanaDashboard.enabled': true } });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-dashboard')) as any;
    const dashboard = JSON.parse(cm.data['corecast.json']);
    assert.equal(dashboard.uid, 'corecast');
    const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    const used = new Set(exprs.flatMap((e) => e.match(/\b(corecast_egress|controller_runtime|workqueue|leader_election)_\w+/g) ?? []));
    assert.ok(used.size >= 10, [...used].join(' '));
    const sources = ['operator/src/runtime/metrics.ts', 'egress-pod/src/metrics.ts'].map((f) => readFileSync(join(repoRoot, f), 'utf8'));
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(
        sources.some((s) => s.includes(`'${base}'`)),
        `${name} is not exported by the operator or the egress pod`,
      );
    }
  });
});

describe('kind-config.yaml', () => {
  const config = parse(readFileSync(join(repoRoot, 'kind-config.yaml'), 'utf8'));
  const values = parse(readFileSync(join(helmValuesDir, 'kind.yaml'), 'utf8'));
  const base = parse(readFileSync(join(helmValuesDir, 'local-node.yaml'), 'utf8'));
  const node = config.nodes.find((n: any) => n.role === 'control-plane');
  const mappings: { containerPort: number; hostPort: number; protocol?: string }[] = node.extraPortMappings;

  test('parses as a kind v1alpha4 cluster with a node labelled for the ingress controller', () => {
    assert.equal(config.kind, 'Cluster');
    assert.equal(config.apiVersion, 'kind.x-k8s.io/v1alpha4');
    assert.equal(node.labels['ingress-ready'], 'true');
    for (const port of [80, 443]) {
      assert.ok(mappings.some((m) => m.containerPort === port && m.hostPort === port && (m.protocol ?? 'TCP') === 'TCP'));
    }
  });

  test("maps exactly helm-values/kind.yaml's ICE ports (one per egress pod), host port = node port", () => {
    const udp = mappings.filter((m) => m.protocol === 'UDP');
    for (const m of udp) assert.equal(m.hostPort, m.containerPort);
    const { min, max } = values.media.hostNetwork.icePorts;
    const expected = Array.from({ length: max - min + 1 }, (_, i) => min + i);
    assert.deepEqual(
      udp.map((m) => m.containerPort),
      expected,
    );
  });

  test('kind.yaml advertises an address the host browser reaches through those mappings', () => {
    assert.equal(values.media.mode, 'hostNetwork');
    assert.deepEqual(values.media.publicAddresses, ['127.0.0.1']);
  });

  test('kind.yaml is layered on local-node.yaml and changes only media and the public URL', () => {
    assert.deepEqual(Object.keys(values).sort(), ['media', 'publicBaseUrl']);
    assert.equal(base.images.pullPolicy, 'Never');
    assert.equal(base.ingress.className, 'traefik');
    assert.equal(base.media.mode, 'pod');
  });
});
