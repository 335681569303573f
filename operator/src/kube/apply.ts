/**
 * The operator's writes: server-side apply of children and of Process status (one field
 * manager), and deletes guarded by the uid that was seen.
 */
import { FIELD_MANAGER, GROUP, KIND, PLURAL, type ProcessStatus, VERSION } from '@corecast/api';
import { applyOptions, isConflict, isNotFound, type Kube } from './client.ts';
import type { ChildKind } from './sources.ts';
import type { KubeObject } from './types.ts';

/** Kind names of child resources, for messages. */
export const KIND_NAMES: Record<ChildKind, string> = {
  pods: 'Pod',
  services: 'Service',
  ingresses: 'Ingress',
  networkpolicies: 'NetworkPolicy',
};

/** Server-side apply of a child (content type application/apply-patch+yaml; JSON is YAML). */
export async function applyChild(kube: Kube, kind: ChildKind, object: KubeObject, force: boolean): Promise<void> {
  const name = object.metadata?.name ?? '';
  const namespace = object.metadata?.namespace ?? '';
  const params = { name, namespace, body: object, fieldManager: FIELD_MANAGER, force };
  switch (kind) {
    case 'pods':
      await kube.core.patchNamespacedPod(params, applyOptions);
      return;
    case 'services':
      await kube.core.patchNamespacedService(params, applyOptions);
      return;
    case 'ingresses':
      await kube.networking.patchNamespacedIngress(params, applyOptions);
      return;
    case 'networkpolicies':
      await kube.networking.patchNamespacedNetworkPolicy(params, applyOptions);
      return;
  }
}

/** Reads a child (used only when an apply without force meets an object the cache did not show). */
export async function readChild(kube: Kube, kind: ChildKind, namespace: string, name: string): Promise<KubeObject | undefined> {
  const path =
    kind === 'pods' || kind === 'services'
      ? `/api/v1/namespaces/${namespace}/${kind}/${name}`
      : `/apis/networking.k8s.io/v1/namespaces/${namespace}/${kind}/${name}`;
  try {
    return await kube.getJson<KubeObject>(path);
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
  const params = { name, namespace, body: { preconditions: { uid }, propagationPolicy: 'Background' } };
  try {
    switch (kind) {
      case 'pods':
        await kube.core.deleteNamespacedPod(params);
        return;
      case 'services':
        await kube.core.deleteNamespacedService(params);
        return;
      case 'ingresses':
        await kube.networking.deleteNamespacedIngress(params);
        return;
      case 'networkpolicies':
        await kube.networking.deleteNamespacedNetworkPolicy(params);
        return;
    }
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
  await kube.custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace, resourceVersion }, status },
      fieldManager: FIELD_MANAGER,
      force: true,
    },
    applyOptions,
  );
}
