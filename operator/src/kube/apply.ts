/**
 * The operator's writes: server-side apply of children and of Process status (one field
 * manager), and deletes guarded by the uid that was seen.
 */
import { FIELD_MANAGER, GROUP, KIND, PLURAL, type ProcessStatus, VERSION } from '@corecast/api';
import { PatchStrategy } from '@kubernetes/client-node';
import { isConflict, isNotFound, type Kube } from './client.ts';
import { API_PREFIX, type ChildKind } from './sources.ts';
import type { KubeObject } from './types.ts';

/** Kind names of child resources, for messages. */
export const KIND_NAMES: Record<ChildKind, string> = {
  pods: 'Pod',
  services: 'Service',
  ingresses: 'Ingress',
  networkpolicies: 'NetworkPolicy',
  httproutes: 'HTTPRoute',
};

/** URL path of a child. */
export function childPath(kind: ChildKind, namespace: string, name: string): string {
  return `${API_PREFIX[kind]}/namespaces/${namespace}/${kind}/${name}`;
}

/** Server-side apply of a child (content type application/apply-patch+yaml; JSON is YAML). */
export async function applyChild(kube: Kube, kind: ChildKind, object: KubeObject, force: boolean): Promise<void> {
  const path = childPath(kind, object.metadata?.namespace ?? '', object.metadata?.name ?? '');
  await kube.send('PATCH', path, {
    query: { fieldManager: FIELD_MANAGER, force: String(force) },
    body: object,
    contentType: PatchStrategy.ServerSideApply,
  });
}

/** Reads a child (before creating one: is the name free?). */
export async function readChild(kube: Kube, kind: ChildKind, namespace: string, name: string): Promise<KubeObject | undefined> {
  try {
    return await kube.getJson<KubeObject>(childPath(kind, namespace, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Deletes a child if it is still the object seen (uid precondition). Gone already: fine.
 * Background propagation: nothing depends on a child, so there is nothing to wait for.
 */
export async function deleteChild(kube: Kube, kind: ChildKind, namespace: string, name: string, uid: string): Promise<void> {
  try {
    await kube.send('DELETE', childPath(kind, namespace, name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid }, propagationPolicy: 'Background' },
    });
  } catch (err) {
    // 404: already gone. 409: the uid precondition failed, i.e. a new object took the name;
    // the next reconcile judges that one.
    if (isNotFound(err) || isConflict(err)) return;
    throw err;
  }
}

/**
 * Server-side apply of the status subresource. `resourceVersion` makes it conditional: if the
 * Process changed since it was read, the API server answers 409 and the reconcile runs again
 * on fresh data, instead of writing a status computed from a stale view.
 */
export async function applyStatus(
  kube: Kube,
  namespace: string,
  name: string,
  resourceVersion: string,
  status: ProcessStatus,
): Promise<void> {
  await kube.send('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`, {
    query: { fieldManager: FIELD_MANAGER, force: 'true' },
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace, resourceVersion }, status },
    contentType: PatchStrategy.ServerSideApply,
  });
}
