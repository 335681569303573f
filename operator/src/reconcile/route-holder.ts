/**
 * Route conflicts: every WebRTC-enabled Process named `demo` wants the path
 * /api/v3/process/demo/whep on the shared host. The oldest one (creationTimestamp, then
 * namespace name, so the choice is total and every reconcile agrees) keeps it; the others get
 * no route (neither Ingress nor HTTPRoute: the rule is the same for both) and a RouteConflict
 * condition. When the holder goes, the next oldest takes over.
 */

/** A Process competing for a path. */
export interface RouteCandidate {
  readonly namespace: string;
  readonly name: string;
  readonly creationTimestamp: string;
  readonly webrtc: boolean;
  readonly deleting: boolean;
}

/** Orders candidates: older first, then by namespace name. */
export function compareCandidates(a: RouteCandidate, b: RouteCandidate): number {
  const ta = Date.parse(a.creationTimestamp) || 0;
  const tb = Date.parse(b.creationTimestamp) || 0;
  if (ta !== tb) return ta - tb;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** The Process holding `self`'s path, when it is another one; undefined when `self` holds it (or wants none). */
export function routeHolder(self: RouteCandidate, all: readonly RouteCandidate[]): { namespace: string; name: string } | undefined {
  if (!self.webrtc || self.deleting) return undefined;
  const contenders = all.filter((c) => c.name === self.name && c.webrtc && !c.deleting && c.namespace !== self.namespace);
  const first = [self, ...contenders].sort(compareCandidates)[0];
  return first && first.namespace !== self.namespace ? { namespace: first.namespace, name: first.name } : undefined;
}
