/** Fixtures of the chart tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';

/**
 * Stand-ins for prometheus-operator's ServiceMonitor and PodMonitor CRDs, which cannot be
 * fetched here (no download but package registries). A fake, and it says so: each accepts any
 * spec (x-kubernetes-preserve-unknown-fields), so the dry run checks that the chart's monitors
 * name a served API, kind and namespace — not that prometheus-operator would accept their spec.
 */
export function monitoringStandInCrds(): KubernetesObject[] {
  return (['ServiceMonitor', 'PodMonitor'] as const).map((kind) => {
    const plural = `${kind.toLowerCase()}s`;
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.monitoring.coreos.com`, labels: { 'corecast.dev/test': 'stand-in' } },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
              },
            },
          },
        ],
      },
    } as KubernetesObject;
  });
}

/** The stand-in CRDs written as YAML files into a fresh temp directory (for `installCrds(kc, dir)`). */
export function monitoringStandInCrdsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-monitoring-crds-'));
  for (const crd of monitoringStandInCrds()) writeFileSync(join(dir, `${crd.metadata?.name}.yaml`), stringify(crd));
  return dir;
}
