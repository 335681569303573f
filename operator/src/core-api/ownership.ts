/**
 * Which fields of a Process the API may change, read from `metadata.managedFields`.
 *
 * Server-side appliers (GitOps controllers, `kubectl apply --server-side`) own exactly the fields
 * they applied: the API never changes those. Imperative writers (`kubectl create`, client-side
 * `kubectl apply`, `edit`, `patch`: entries with operation `Update`) are recorded as owning every
 * field of the object they wrote, the CRD's defaults included; their fields are protected too,
 * except the ones still at the schema default, which the writer never chose (otherwise no
 * Process made with `kubectl create` could ever be stopped through the API).
 */
import { ProcessSpec } from '@corecast/api';
import type { ProcessObject } from './view.ts';

/** The spec's defaults, by field (input and output have none). */
const SPEC_DEFAULTS: Record<string, unknown> = (() => {
  const io = [{ id: 'x', address: 'x' }];
  const { input: _i, output: _o, ...rest } = ProcessSpec.parse({ input: io, output: io });
  return rest;
})();

/** The value at `path` in an object (undefined when absent). */
export function valueAt(obj: unknown, path: readonly string[]): unknown {
  let node: unknown = obj;
  for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

/** The schema default of a spec field (`['spec', 'limits', 'cpuUsage']`), if it has one. */
export function defaultAt(path: readonly string[]): unknown {
  return path[0] === 'spec' ? valueAt(SPEC_DEFAULTS, path.slice(1)) : undefined;
}

/** A field path of an apply conflict (`.spec.limits.cpuUsage`) as keys. */
export function conflictPath(field: string): string[] {
  return field.replace(/^\./, '').split('.');
}

/**
 * Managers other than `self` that hold `path` against the API: every server-side applier that
 * owns it, and every imperative writer that owns it while it differs from the schema default.
 * The status subresource's managers never hold spec or metadata fields.
 */
export function protectingOwners(p: ProcessObject, path: readonly string[], self: string): string[] {
  const current = JSON.stringify(valueAt(p, path) ?? null);
  const dflt = defaultAt(path);
  const atDefault = dflt !== undefined && current === JSON.stringify(dflt);
  const owners = new Set<string>();
  for (const entry of p.metadata.managedFields ?? []) {
    if (entry.subresource || !entry.manager || entry.manager === self) continue;
    let node: unknown = entry.fieldsV1;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[`f:${key}`];
    if (node === undefined) continue;
    if (entry.operation === 'Apply' || !atDefault) owners.add(entry.manager);
  }
  return [...owners];
}
