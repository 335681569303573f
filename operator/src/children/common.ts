/**
 * What every child of a Process shares: names, labels, owner reference, annotations.
 * Pure: a Process view in, plain objects out.
 */
import { ANNOTATIONS, API_VERSION, CHILD_SUFFIXES, KIND, LABELS, MANAGED_BY, type ProcessSpec } from '@corecast/api';
import type { ObjectMeta } from '../kube/types.ts';

/** The parts of a Process the builders read (metadata already checked, spec defaulted). */
export interface ProcessView {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly creationTimestamp: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly spec: ProcessSpec;
}

/** Which half of the pipeline a child belongs to (the `app.kubernetes.io/component` label). */
export type Component = 'ffmpeg' | 'egress';

/** Names of a Process's children (operator/README.md, children table: demo → demo-ffmpeg, demo-egress, …). */
export function childNames(processName: string) {
  return {
    ffmpegPod: `${processName}${CHILD_SUFFIXES.ffmpeg}`,
    egressPod: `${processName}${CHILD_SUFFIXES.egress}`,
    service: `${processName}${CHILD_SUFFIXES.egress}`,
    networkPolicy: `${processName}${CHILD_SUFFIXES.egress}`,
    ffmpegNetworkPolicy: `${processName}${CHILD_SUFFIXES.ffmpeg}`,
    mediaService: `${processName}${CHILD_SUFFIXES.media}`,
    ingress: processName,
    httpRoute: processName,
  } as const;
}

/** Labels of every child; the informers select children by managed-by, the owner by `process`. */
export function childLabels(p: ProcessView, component: Component): Record<string, string> {
  return {
    [LABELS.name]: 'corecast',
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.component]: component,
    [LABELS.process]: p.name,
  };
}

/** The label selector matching one component's pods of a Process. */
export function podSelector(p: ProcessView, component: Component): Record<string, string> {
  return { [LABELS.process]: p.name, [LABELS.component]: component };
}

/**
 * The controller owner reference: garbage collection deletes children with their Process, and
 * blockOwnerDeletion keeps a foreground deletion of the Process waiting for them.
 */
export function ownerReference(p: ProcessView) {
  return { apiVersion: API_VERSION, kind: KIND, name: p.name, uid: p.uid, controller: true, blockOwnerDeletion: true };
}

/** The reload token the children are built for (the Process's reload annotation, or ""). */
export function reloadToken(p: ProcessView): string {
  return p.annotations[ANNOTATIONS.reload] ?? '';
}

/** The restart token the FFmpeg pod is built for (the Process's restart annotation, or ""). */
export function restartToken(p: ProcessView): string {
  return p.annotations[ANNOTATIONS.restart] ?? '';
}

/** Metadata of a child: name, namespace, labels, owner, and the reload token it was built for. */
export function childMeta(
  p: ProcessView,
  name: string,
  component: Component,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): ObjectMeta {
  return {
    name,
    namespace: p.namespace,
    labels: { ...childLabels(p, component), ...extra.labels },
    annotations: { [ANNOTATIONS.reloadedFor]: reloadToken(p), ...extra.annotations },
    ownerReferences: [ownerReference(p)],
  };
}
