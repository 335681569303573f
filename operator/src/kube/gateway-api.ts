/**
 * The Gateway API on this cluster: whether the API server serves HTTPRoutes
 * (gateway.networking.k8s.io/v1, a CRD that may not be installed), and whether the operator's
 * identity may watch and delete them. Both are questions, not writes: discovery is readable by
 * every authenticated user, and so is creating a SelfSubjectAccessReview.
 */
import { isNotFound, type Kube } from './client.ts';
import { HTTPROUTE_API } from './sources.ts';

/** True when the API server serves gateway.networking.k8s.io/v1 httproutes (its CRD is installed). */
export async function httpRoutesServed(kube: Kube): Promise<boolean> {
  try {
    const list = await kube.getJson<{ resources?: { name?: string }[] }>(HTTPROUTE_API);
    return (list.resources ?? []).some((r) => r.name === 'httproutes');
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** What an informer and a delete of HTTPRoutes need. */
const REMOVE_VERBS = ['list', 'watch', 'delete'] as const;

interface AccessReview {
  status?: { allowed?: boolean };
}

/**
 * True when the operator may list, watch and delete HTTPRoutes in every scope (a namespace, or
 * undefined for all namespaces), as SelfSubjectAccessReviews answer it.
 */
export async function mayRemoveHttpRoutes(kube: Kube, scopes: readonly (string | undefined)[]): Promise<boolean> {
  const answers = await Promise.all(
    scopes.flatMap((namespace) =>
      REMOVE_VERBS.map((verb) =>
        kube.postJson<AccessReview>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: { group: 'gateway.networking.k8s.io', resource: 'httproutes', verb, ...(namespace ? { namespace } : {}) },
          },
        }),
      ),
    ),
  );
  return answers.every((a) => a.status?.allowed === true);
}
