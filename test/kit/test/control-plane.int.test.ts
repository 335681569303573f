/**
 * The real control plane: the generated CRD, the examples and the invalid fixtures against a
 * real kube-apiserver, kubectl explain, garbage collection by the real controller manager, and
 * that no process outlives the harness.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseProcess } from '@corecast/api';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, loadAllYaml, VersionApi } from '@kubernetes/client-node';
import { invalidFixtures } from '../../../api/test/fixtures/invalid.ts';
import { type ProcessManifest, process as processFixture } from '../../../api/test/fixtures/processes.ts';
import { sharedControlPlane, startControlPlane } from '../src/control-plane.ts';
import { pinnedKubernetesVersion } from '../src/control-plane-binaries.ts';
import { crdsDir, installCrds, loadManifests } from '../src/control-plane-crds.ts';
import { kubectl } from '../src/kube-tools.ts';
import { alive, gone, runClusterCli, until } from './control-plane-helpers.ts';

const examplesDir = fileURLToPath(new URL('../../../examples/', import.meta.url));
const group = 'corecast.dev';
const version = 'v1alpha1';
const plural = 'processes';

const cp = await sharedControlPlane();
const kc: KubeConfig = cp.kubeConfig();
await installCrds(kc);

describe('control plane', () => {
  test('/version reports the pinned Kubernetes release', async () => {
    const info = await kc.makeApiClient(VersionApi).getCode();
    const pinned = pinnedKubernetesVersion();
    assert.equal(info.gitVersion, pinned);
    assert.equal(`v${info.major}.${info.minor}.`, pinned.replace(/\d+$/, ''));
  });

  test('sharedControlPlane() hands every caller the same control plane', async () => {
    assert.equal(await sharedControlPlane(), cp);
  });

  test('the generated CRD applies and becomes Established', async () => {
    assert.deepEqual(await installCrds(kc), ['processes.corecast.dev']);
    const established = await kubectl(cp.kubeconfigPath, [
      'get',
      'crd',
      'processes.corecast.dev',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Established")].status}',
    ]);
    assert.equal(established, 'True');
  });
});

describe('examples', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));

  test('there are examples to check', () => {
    assert.ok(files.length > 0, `no *.yaml in ${examplesDir}`);
  });

  for (const file of files) {
    test(`${file} applies (kubectl apply --server-side) and reads back with defaults filled in`, async () => {
      const ns = await cp.newNamespace(`example-${file.replace(/\.yaml$/, '')}`);
      const path = join(examplesDir, file);
      await kubectl(cp.kubeconfigPath, ['apply', '--server-side', '-n', ns, '-f', path]);
      const processes = (loadAllYaml(readFileSync(path, 'utf8')) as ProcessManifest[]).filter((o) => o?.kind === 'Process');
      assert.ok(processes.length > 0, `${file} holds no Process`);
      const api = kc.makeApiClient(CustomObjectsApi);
      for (const manifest of processes) {
        const stored = (await api.getNamespacedCustomObject({
          group,
          version,
          namespace: ns,
          plural,
          name: manifest.metadata.name,
        })) as { spec: unknown };
        // The CRD's defaults and the zod schema's defaults must agree field for field.
        assert.deepEqual(stored.spec, parseProcess(manifest).spec);
      }
    });
  }
});

/**
 * What the API server says about each invalid fixture (api/test/fixtures/invalid.ts), keyed by
 * fixture name: OpenAPI schema errors and CEL rule messages. Each starts with the field path
 * (the root name rule points at metadata.name through its fieldPath).
 */
const apiServerMessages: Record<string, string> = {
  'duplicate input ids': 'Process.corecast.dev "dup-in" is invalid: spec.input: Invalid value: input ids must be unique',
  'duplicate output ids': 'Process.corecast.dev "dup-out" is invalid: spec.output: Invalid value: output ids must be unique',
  'no input': 'Process.corecast.dev "no-input" is invalid: spec.input: Invalid value: 0: spec.input in body should have at least 1 items',
  'no output':
    'Process.corecast.dev "no-output" is invalid: spec.output: Invalid value: 0: spec.output in body should have at least 1 items',
  'payload type 200':
    'Process.corecast.dev "pt-200" is invalid: spec.webrtc.videoPayloadType: Invalid value: 200: spec.webrtc.videoPayloadType in body should be less than or equal to 127',
  'payload type below the dynamic range':
    'Process.corecast.dev "pt-low" is invalid: spec.webrtc.audioPayloadType: Invalid value: 8: spec.webrtc.audioPayloadType in body should be greater than or equal to 96',
  'equal payload types':
    'Process.corecast.dev "pt-equal" is invalid: spec.webrtc.audioPayloadType: Invalid value: videoPayloadType and audioPayloadType must differ',
  'over-long name':
    'Process.corecast.dev "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is invalid: metadata.name: Invalid value: metadata.name must be a DNS-1035 label of at most 56 characters (lower-case letters, digits and "-", starting with a letter), so that every child name fits in 63 characters',
  'name starting with a digit':
    'Process.corecast.dev "1cam" is invalid: metadata.name: Invalid value: metadata.name must be a DNS-1035 label of at most 56 characters (lower-case letters, digits and "-", starting with a letter), so that every child name fits in 63 characters',
  'input id with a space':
    'Process.corecast.dev "bad-id" is invalid: spec.input[0].id: Invalid value: "my cam": spec.input[0].id in body should match \'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$\'',
  'unknown order':
    'Process.corecast.dev "bad-order" is invalid: [spec.order: Unsupported value: "pause": supported values: "start", "stop", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]',
  'zero viewers':
    'Process.corecast.dev "no-viewers" is invalid: spec.webrtc.maxViewers: Invalid value: 0: spec.webrtc.maxViewers in body should be greater than or equal to 1',
  'empty address':
    'Process.corecast.dev "empty-address" is invalid: spec.output[0].address: Invalid value: "": spec.output[0].address in body should be at least 1 chars long',
  'negative reconnect delay':
    'Process.corecast.dev "neg-delay" is invalid: spec.reconnectDelaySeconds: Invalid value: -1: spec.reconnectDelaySeconds in body should be greater than or equal to 0',
};

describe('invalid specs are rejected by the API server', () => {
  test('every fixture has a pinned message and every pinned message a fixture', () => {
    assert.deepEqual(Object.keys(apiServerMessages).sort(), invalidFixtures.map((f) => f.name).sort());
  });

  for (const fixture of invalidFixtures) {
    test(fixture.name, async () => {
      const ns = await cp.newNamespace('invalid');
      const api = kc.makeApiClient(CustomObjectsApi);
      const err = await api.createNamespacedCustomObject({ group, version, namespace: ns, plural, body: fixture.process }).then(
        () => assert.fail('the API server accepted an invalid Process'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApiException, String(err));
      assert.equal(err.code, 422);
      const status = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message: string };
      assert.equal(status.message, apiServerMessages[fixture.name]);
      // The field the zod message names ("Process is invalid: <path>: ...") is named here too.
      const path = /^Process is invalid: ([^:]+):/.exec(fixture.message)?.[1];
      assert.ok(path && status.message.includes(path), `${status.message} does not name ${path}`);
    });
  }
});

describe('kubectl explain', () => {
  test('process.spec.input shows the descriptions from the CRD', async () => {
    const crd = loadManifests(crdsDir).find((o) => o.kind === 'CustomResourceDefinition') as unknown as {
      spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
    };
    const input = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec?.properties?.input;
    assert.ok(input?.description && input.items?.properties, 'the CRD has no spec.input schema');
    // The published OpenAPI of a new CRD follows its establishment by a moment: retry.
    const text = await until('kubectl explain process.spec.input', () => kubectl(cp.kubeconfigPath, ['explain', 'process.spec.input']));
    const flat = text.replace(/\s+/g, ' ');
    assert.match(flat, /KIND: Process/);
    const expected = [input.description, ...Object.values(input.items.properties).map((p) => p.description)];
    for (const description of expected) {
      assert.ok(description, 'a field of spec.input has no description');
      assert.ok(flat.includes(description.replace(/\s+/g, ' ')), `explain lacks: ${description}\n${text}`);
    }
  });
});

/** The slice of a CRD's OpenAPI schema the explain test walks. */
interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

describe('kube-controller-manager', () => {
  test('deleting a Process garbage-collects a child that carries its ownerReference', async () => {
    const ns = await cp.newNamespace('gc');
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const owner = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural,
      body: processFixture('owner'),
    })) as { metadata: { uid: string } };
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'child',
          ownerReferences: [
            {
              apiVersion: `${group}/${version}`,
              kind: 'Process',
              name: 'owner',
              uid: owner.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        data: { a: 'b' },
      },
    });
    await custom.deleteNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'owner' });
    await until('the child to be garbage-collected', async () => {
      const exists = await core.readNamespacedConfigMap({ name: 'child', namespace: ns }).then(
        () => true,
        (e: unknown) => !(e instanceof ApiException && e.code === 404),
      );
      if (exists) throw new Error('child still exists');
    });
  });

  test('a deleted namespace finishes terminating (namespace controller)', async () => {
    const ns = await cp.newNamespace('ns-delete');
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'content' } } });
    await core.deleteNamespace({ name: ns });
    await until('the namespace to be gone', async () => {
      const exists = await core.readNamespace({ name: ns }).then(
        () => true,
        (e: unknown) => !(e instanceof ApiException && e.code === 404),
      );
      if (exists) throw new Error(`namespace ${ns} still exists`);
    });
  });
});

describe('no orphans', () => {
  test('stop() leaves no process and no state behind', async () => {
    const own = await startControlPlane();
    assert.equal(own.pids.length, 4, 'etcd, kube-apiserver, kube-controller-manager and the guard');
    assert.deepEqual(own.pids.filter(alive), own.pids);
    await own.stop();
    assert.deepEqual(own.pids.filter(alive), []);
    assert.equal(gone(own.kubeconfigPath), true);
  });

  test('npm run cluster prints the export line, serves, and stops everything on SIGTERM', async () => {
    const cli = await runClusterCli();
    const pods = await kubectl(cli.kubeconfigPath, ['get', 'crd', 'processes.corecast.dev', '-o', 'name']);
    assert.equal(pods.trim(), 'customresourcedefinition.apiextensions.k8s.io/processes.corecast.dev');
    cli.child.kill('SIGTERM');
    assert.deepEqual(await cli.exit, { code: 0, signal: null });
    assert.deepEqual(cli.pids.filter(alive), []);
    assert.equal(gone(cli.kubeconfigPath), true);
  });

  test('a harness killed with SIGKILL leaves no process and no state behind (guard)', async () => {
    const cli = await runClusterCli();
    assert.deepEqual(cli.pids.filter(alive), cli.pids);
    cli.child.kill('SIGKILL');
    assert.deepEqual(await cli.exit, { code: null, signal: 'SIGKILL' });
    // The guard notices the closed pipe and kills the groups on its own schedule: poll.
    await until('the guard to kill every child', async () => {
      const left = cli.pids.filter(alive);
      if (left.length > 0 || !gone(cli.kubeconfigPath)) throw new Error(`still alive: ${left.join(' ')}`);
    });
  });
});
