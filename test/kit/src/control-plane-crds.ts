/** Installing the repository's CRDs (`crds/*.yaml`) into a control plane. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';

/** The repository's generated CRDs. */
export const crdsDir = fileURLToPath(new URL('../../../crds/', import.meta.url));

/** Field manager of everything the test harness applies. */
export const harnessFieldManager = 'corecast-testkit';

/** Every object of every `*.yaml` file in `dir`, in file-name order. */
export function loadManifests(dir: string): KubernetesObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(join(dir, f), 'utf8')) as KubernetesObject[])
    .filter((o) => o !== null && o !== undefined);
}

/** Server-side apply of one object (forced: the harness owns what it applies). */
export function serverSideApply<T extends KubernetesObject>(kc: KubeConfig, obj: T): Promise<T> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  return api.patch(obj, undefined, undefined, harnessFieldManager, true, PatchStrategy.ServerSideApply);
}

/** True when the CRD's `Established` condition is `True` (its API is served). */
export function isEstablished(crd: V1CustomResourceDefinition): boolean {
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}

/** Applies every CRD in `dir` and waits until each is Established; returns their names. */
export async function installCrds(kc: KubeConfig, dir = crdsDir, timeoutMs = 30_000): Promise<string[]> {
  const crds = loadManifests(dir).filter((o) => o.kind === 'CustomResourceDefinition');
  if (crds.length === 0) throw new Error(`no CustomResourceDefinition in ${dir}`);
  const names: string[] = [];
  for (const crd of crds) {
    const applied = await serverSideApply(kc, crd);
    names.push(applied.metadata?.name ?? '');
  }
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (isEstablished(crd)) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established: ${JSON.stringify(crd.status)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return names;
}
