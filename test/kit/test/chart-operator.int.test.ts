/**
 * The operator as the chart deploys it, against the real API server: the rendered objects
 * applied for real, then the operator started on this machine with exactly the Deployment's
 * entrypoint, args, env and config file (chart-operator.ts), authenticated as the chart's
 * ServiceAccount. It must turn examples/test-pattern.yaml into its children, write its status
 * and Lease, and never meet a 403 — which proves the chart's RBAC is enough. A watched namespace
 * that enforces Pod Security "restricted" must admit the pods it creates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EGRESS_CONFIG_ENV, EgressConfig, parseOrThrow } from '@corecast/api';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parseConfig } from '../../../operator/src/config.ts';
import { sharedControlPlane } from '../src/control-plane.ts';
import { installCrds } from '../src/control-plane-crds.ts';
import { freeLoopbackPorts } from '../src/control-plane-net.ts';
import { installGatewayApiCrds } from '../src/gateway-api-crds.ts';
import { applyObjects, findObject, helmValuesDir, kubectlRun, renderChart, repoRoot } from './chart-helpers.ts';
import { imageStart, localCommand, type RunningOperator, serviceAccountKubeconfig, startOperator } from './chart-operator.ts';
import { until } from './control-plane-helpers.ts';

const cp = await sharedControlPlane();
const kc = cp.kubeConfig();
await installCrds(kc);
// The gateway case's HTTPRoutes need the Gateway API's CRDs; the other cases run beside them
// (and so check that an operator without gateway.enabled meets no 403 where they exist).
await installGatewayApiCrds(kc);
const core = kc.makeApiClient(CoreV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const coordination = kc.makeApiClient(CoordinationV1Api);

const image = imageStart(join(repoRoot, 'operator/Dockerfile'));
const testPattern = parse(readFileSync(join(repoRoot, 'examples/test-pattern.yaml'), 'utf8'));

const running: RunningOperator[] = [];
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
});

interface Case {
  name: string;
  valuesFile?: string;
  /** Pod Security level enforced on the watched namespace. */
  enforce: 'restricted' | 'privileged';
  /** Watch every namespace (ClusterRole) instead of the one test namespace (Role). */
  allNamespaces?: boolean;
  /** More values (--set-json). */
  values?: Record<string, unknown>;
}

const gateway = { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateways' }] };

const cases: Case[] = [
  { name: 'default values (Roles, hs256, pod-network media)', enforce: 'restricted' },
  { name: 'helm-values/turn.yaml (relay-only media)', valuesFile: 'turn.yaml', enforce: 'restricted' },
  { name: 'helm-values/kind.yaml (host-network media)', valuesFile: 'kind.yaml', enforce: 'privileged' },
  { name: 'watchAllNamespaces (ClusterRole)', enforce: 'restricted', allNamespaces: true },
  { name: 'gateway.enabled (HTTPRoutes, RBAC on httproutes)', enforce: 'restricted', values: { gateway } },
];

describe('the operator with the chart Deployment, config and RBAC', () => {
  test('operator/Dockerfile starts node on operator/src/main.ts in /app', () => {
    assert.deepEqual(image.entrypoint, ['/nodejs/bin/node', 'operator/src/main.ts']);
    assert.equal(image.workdir, '/app');
  });

  for (const c of cases) {
    test(`${c.name}: reconciles the test pattern into its children with no 403`, async () => {
      const release = await cp.newNamespace('chart-op');
      const watched = await cp.newNamespace('chart-op-watched');
      const label = await kubectlRun(cp.kubeconfigPath, ['label', 'namespace', watched, `pod-security.kubernetes.io/enforce=${c.enforce}`]);
      assert.equal(label.code, 0, label.stderr);
      const [metricsPort, healthPort] = (await freeLoopbackPorts(2)) as [number, number];
      const objects = await renderChart({
        namespace: release,
        valuesFiles: c.valuesFile ? [join(helmValuesDir, c.valuesFile)] : [],
        setJson: {
          // The CRD belongs to the test run, not to this release.
          'crds.install': false,
          ...(c.allNamespaces ? { watchAllNamespaces: true, 'auth.secretNamespaces': [watched] } : { watchNamespaces: [watched] }),
          'operator.ports.metrics': metricsPort,
          'operator.ports.health': healthPort,
          ...c.values,
        },
      });
      const applied = await applyObjects(cp.kubeconfigPath, objects);
      assert.equal(applied.code, 0, applied.stderr);

      const deployment = findObject(objects, 'Deployment');
      const podName = `${deployment.metadata.name}-7d9f8b6c5d-x2x4z`;
      const cmd = localCommand(deployment, objects, image, { name: podName, namespace: release });
      const kubeconfig = await serviceAccountKubeconfig(cp, release, deployment.spec.template.spec.serviceAccountName);
      const operator = startOperator(cmd, kubeconfig);
      running.push(operator);

      // A unique name where every namespace is watched: Processes left by other test files must
      // not hold the route of this one.
      const name = c.allNamespaces ? `demo-${watched.slice(-5)}` : 'demo';
      await custom.createNamespacedCustomObject({
        group: 'corecast.dev',
        version: 'v1alpha1',
        namespace: watched,
        plural: 'processes',
        body: { ...testPattern, metadata: { name, namespace: watched } },
      });

      const failFast = () => {
        if (operator.child.exitCode !== null) throw new Error(`the operator exited (${operator.child.exitCode}):\n${operator.log()}`);
      };
      const [ffmpeg, egress] = await until(
        'both pods',
        async () => {
          failFast();
          return Promise.all([
            core.readNamespacedPod({ name: `${name}-ffmpeg`, namespace: watched }),
            core.readNamespacedPod({ name: `${name}-egress`, namespace: watched }),
          ]);
        },
        60_000,
      );
      const routed = c.values?.gateway ? 'HTTPRoute' : 'Ingress';
      await until(`Service, ${routed} and NetworkPolicy`, async () => {
        failFast();
        await core.readNamespacedService({ name: `${name}-egress`, namespace: watched });
        if (routed === 'HTTPRoute') {
          await custom.getNamespacedCustomObject({
            group: 'gateway.networking.k8s.io',
            version: 'v1',
            plural: 'httproutes',
            namespace: watched,
            name,
          });
        } else await networking.readNamespacedIngress({ name, namespace: watched });
        await networking.readNamespacedNetworkPolicy({ name: `${name}-egress`, namespace: watched });
      });
      if (routed === 'HTTPRoute') {
        assert.equal((await networking.listNamespacedIngress({ namespace: watched })).items.length, 0, 'an Ingress in gateway mode');
      }
      const proc = await until('status written', async () => {
        failFast();
        const p = (await custom.getNamespacedCustomObject({
          group: 'corecast.dev',
          version: 'v1alpha1',
          namespace: watched,
          plural: 'processes',
          name,
        })) as any;
        assert.equal(p.status?.observedGeneration, p.metadata.generation);
        return p;
      });
      assert.ok(proc.status.conditions.some((cond: { type: string }) => cond.type === 'Ready'));

      // The images and pull policy the chart configured reached the pods.
      const config = parseConfig(parse(readFileSync(join(Object.values(cmd.mounts)[0]!, 'config.yaml'), 'utf8')), {
        name: 'test',
        namespace: release,
      });
      assert.equal(ffmpeg.spec?.containers[0]?.image, config.images.ffmpeg);
      assert.equal(egress.spec?.containers[0]?.image, config.images.egress);
      assert.equal(egress.spec?.hostNetwork ?? false, c.valuesFile === 'kind.yaml');

      // What the egress pod is handed passes the egress pod's own validation, with the chart's ICE settings.
      const egressEnv = egress.spec?.containers[0]?.env ?? [];
      const egressConfig = parseOrThrow(
        EgressConfig,
        JSON.parse(egressEnv.find((e) => e.name === EGRESS_CONFIG_ENV)?.value ?? 'null'),
        EGRESS_CONFIG_ENV,
      );
      // Every viewer on one ICE port: the container's ice-udp port, the configured one on the pod
      // network, the slot's with host networking (kind.yaml: its icePorts).
      const icePort = egress.spec?.containers[0]?.ports?.find((p) => p.name === 'ice-udp');
      assert.equal(egressConfig.ice.udpPort, icePort?.containerPort);
      assert.equal(egressConfig.ice.portRange, undefined);
      if (c.valuesFile === 'kind.yaml')
        assert.ok(icePort?.hostPort !== undefined && icePort.hostPort >= 50000 && icePort.hostPort <= 50019);
      else assert.equal(icePort?.containerPort, 8189);
      assert.deepEqual(egressConfig.ice.advertise.addresses, config.egress.ice.advertise.addresses);
      assert.equal(egressConfig.ice.relayOnly, c.valuesFile === 'turn.yaml');
      assert.equal(egressConfig.auth.mode, config.egress.auth.mode);

      // Every Secret an egress pod reads exists in its namespace (the chart put it there).
      for (const e of egress.spec?.containers[0]?.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref || c.valuesFile === 'turn.yaml') continue; // turn.yaml's TURN Secret is the user's to create
        const secret = await core.readNamespacedSecret({ name: ref.name!, namespace: watched });
        assert.ok(secret.data?.[ref.key], `${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      }

      // Leader election ran with the chart's Lease Role, under the pod's name.
      const lease = await until('the Lease', () =>
        coordination.readNamespacedLease({ name: config.leaderElection.leaseName, namespace: release }),
      );
      assert.equal(lease.spec?.holderIdentity, podName);

      // The Deployment's probes and metrics port reach what the operator serves.
      const container = deployment.spec.template.spec.containers[0];
      const portOf = (name: string) => container.ports.find((p: { name: string }) => p.name === name).containerPort;
      for (const probe of [container.livenessProbe, container.readinessProbe]) {
        const { path, port } = probe.httpGet;
        await until(`${path} answers 200`, async () => {
          const res = await fetch(`http://127.0.0.1:${portOf(port)}${path}`);
          assert.equal(res.status, 200, await res.text());
        });
      }
      const metrics = await (await fetch(`http://127.0.0.1:${portOf('metrics')}/metrics`)).text();
      assert.match(metrics, /^controller_runtime_reconcile_total\{.*result="success".*\} [1-9]/m);
      assert.match(metrics, /^leader_election_master_status\{.*\} 1$/m);

      const code = await operator.stop();
      const log = operator.log();
      assert.equal(code, 0, log);
      // No RBAC denial anywhere; and no 403 of any kind about this Process or the operator itself.
      // (Watching every namespace, it also meets Processes other test files left in namespaces
      // being deleted, where creating is refused with a 403 that has nothing to do with RBAC.)
      assert.doesNotMatch(log, /cannot (get|list|watch|create|update|patch|delete) resource/, 'the chart RBAC refused a request');
      const ours = log.split('\n').filter((line) => !/"process":"/.test(line) || line.includes(`"process":"${watched}/${name}"`));
      assert.doesNotMatch(ours.join('\n'), /\b403\b|forbidden/i, 'a request was refused');
      assert.match(log, new RegExp(`"process":"${watched}/${name}"|${watched}/${name}`));
    });
  }
});
