/**
 * The collections the operator watches: Processes, and the kinds of children (selected by
 * the managed-by label), either cluster-wide or in each watched namespace. Lists are read as
 * raw JSON, like watch events, so the caches hold one shape (client-node's model classes would
 * turn timestamps into Dates and rename fields such as NetworkPolicy's `from`).
 */
import { GROUP, LABELS, MANAGED_BY, PLURAL, VERSION } from '@corecast/api';
import type { Kube } from './client.ts';
import type { InformerSource, ListResult } from './informer.ts';
import type { KubeObject } from './types.ts';

/** The label selector of every child informer. */
export const CHILD_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

/** A Process as JSON (parsed and defaulted later, in gather). */
export interface ProcessObject extends KubeObject {
  spec?: unknown;
  status?: Record<string, unknown>;
}

/** The kinds of child, by their resource (plural) name, as in URLs and RBAC. */
export type ChildKind = 'pods' | 'services' | 'ingresses' | 'networkpolicies' | 'httproutes';

/**
 * The child kinds every operator watches. HTTPRoutes (a CRD that may be absent) are watched with
 * gateway.enabled, and otherwise only where the operator finds it may (see operator.ts).
 */
export const CHILD_KINDS: readonly ChildKind[] = ['pods', 'services', 'ingresses', 'networkpolicies'];

/** The API group and version of HTTPRoutes. */
export const HTTPROUTE_API = '/apis/gateway.networking.k8s.io/v1';

/** API path prefix of each resource. */
export const API_PREFIX: Record<ChildKind | 'processes', string> = {
  processes: `/apis/${GROUP}/${VERSION}`,
  pods: '/api/v1',
  services: '/api/v1',
  ingresses: '/apis/networking.k8s.io/v1',
  networkpolicies: '/apis/networking.k8s.io/v1',
  httproutes: HTTPROUTE_API,
};

/** Page size of lists (bounds the API server's work per request). */
const PAGE = 500;

interface RawList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** Lists every page of a collection. */
async function listAll<T>(kube: Kube, path: string, labelSelector?: string): Promise<ListResult<T>> {
  const items: T[] = [];
  let resourceVersion = '';
  let cont = '';
  do {
    const query: Record<string, string> = { limit: String(PAGE) };
    if (labelSelector) query.labelSelector = labelSelector;
    if (cont) query.continue = cont;
    const page = await kube.getJson<RawList<T>>(path, query);
    items.push(...(page.items ?? []));
    resourceVersion ||= page.metadata?.resourceVersion ?? '';
    cont = page.metadata?.continue ?? '';
  } while (cont);
  return { items, resourceVersion };
}

function source<T extends KubeObject>(
  kube: Kube,
  resource: ChildKind | 'processes',
  namespace: string | undefined,
  labelSelector?: string,
): InformerSource<T> {
  const path = `${API_PREFIX[resource]}${namespace ? `/namespaces/${namespace}` : ''}/${resource === 'processes' ? PLURAL : resource}`;
  return {
    name: namespace ? `${resource}/${namespace}` : resource,
    watchPath: path,
    ...(labelSelector ? { labelSelector } : {}),
    list: () => listAll<T>(kube, path, labelSelector),
  };
}

/** Processes in one namespace, or in all when `namespace` is undefined. */
export function processSource(kube: Kube, namespace?: string): InformerSource<ProcessObject> {
  return source<ProcessObject>(kube, 'processes', namespace);
}

/** The children of one kind, labelled managed-by=corecast-operator. */
export function childSource<T extends KubeObject>(kube: Kube, kind: ChildKind, namespace?: string): InformerSource<T> {
  return source<T>(kube, kind, namespace, CHILD_SELECTOR);
}
