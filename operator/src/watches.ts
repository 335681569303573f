/**
 * What the Process controller watches, in one place, the way kubebuilder's `SetupWithManager`
 * reads (`For(&Process{}).Owns(&Pod{})…Watches(…)` plus the field indexes): the primary kind
 * and which of its changes reconcile it, the owned kinds and how a child names its Process, the
 * other watches with their mapping to Process keys, and the indexes those mappings read.
 * Declarations only; operator.ts builds the informers from them and feeds the work queue.
 */
import { LABELS } from '@corecast/api';
import { CHILD_KINDS, type ChildKind, type ProcessObject } from './kube/sources.ts';
import { type DeepReadonly, type KubeObject, objectKey } from './kube/types.ts';
import { CONTROLLER_NAME } from './runtime/metrics.ts';

/** One change an informer saw; `old` only on update, and on delete `obj` is the last state seen. */
export interface Change<T> {
  readonly type: 'add' | 'update' | 'delete';
  readonly old?: DeepReadonly<T>;
  readonly obj: DeepReadonly<T>;
}

/** The keys an index holds for a value (client-go's Indexer.IndexKeys). */
export type IndexLookup = (index: string, value: string) => readonly string[];

/** An index over cached objects: each object's key filed under one value. */
export interface IndexSpec<T> {
  readonly name: string;
  readonly value: (obj: DeepReadonly<T>) => string;
}

/** A watch: which changes matter (controller-runtime's predicates) and the Process keys they reconcile. */
export interface WatchSpec<T> {
  /** Absent: every change. */
  readonly when?: (c: Change<T>) => boolean;
  readonly map: (c: Change<T>, lookup: IndexLookup) => readonly string[];
}

/** The setup of one controller. */
export interface ControllerSetup {
  readonly name: string;
  /** The primary kind: its own changes reconcile it. */
  readonly for: { readonly kind: 'processes'; readonly watch: WatchSpec<ProcessObject> };
  /**
   * Children, watched through the managed-by label. `kinds` always; `ifServed` only where the
   * API server serves the kind (HTTPRoutes are a CRD: required with gateway.enabled, otherwise
   * watched where the operator may remove them; see operator.ts).
   */
  readonly owns: { readonly kinds: readonly ChildKind[]; readonly ifServed: ChildKind; readonly watch: WatchSpec<KubeObject> };
  /** Further watches of Processes that reconcile other Processes. */
  readonly watches: readonly { readonly kind: 'processes'; readonly watch: WatchSpec<ProcessObject> }[];
  /** Indexes over the cached Processes. */
  readonly indexes: { readonly processes: readonly IndexSpec<ProcessObject>[] };
}

/** Processes by name (across namespaces): who else could hold this name's WHEP path. */
export const PROCESS_NAME_INDEX: IndexSpec<ProcessObject> = { name: 'process-name', value: (p) => p.metadata?.name ?? '' };

const json = (x: unknown) => JSON.stringify(x ?? {});
const webrtc = (p: DeepReadonly<ProcessObject> | undefined) =>
  (p?.spec as { webrtc?: { enabled?: unknown } } | undefined)?.webrtc?.enabled === true;

/**
 * A Process is reconciled when it comes or goes, and on changes of its spec (generation),
 * annotations (restart, reload), labels or deletion — not on status-only updates, which are
 * the operator's own writes.
 */
function specOrMetadataChanged({ type, old, obj }: Change<ProcessObject>): boolean {
  if (type !== 'update' || !old) return true;
  const m = obj.metadata;
  const o = old.metadata;
  return (
    m?.generation !== o?.generation ||
    m?.deletionTimestamp !== o?.deletionTimestamp ||
    json(m?.annotations) !== json(o?.annotations) ||
    json(m?.labels) !== json(o?.labels)
  );
}

/** Another namespace's Process of the same name may win or lose the path: this one came, went, turned WebRTC on or off, or is being deleted. */
function pathHolderMayChange({ type, old, obj }: Change<ProcessObject>): boolean {
  if (type !== 'update' || !old) return true;
  return webrtc(old) !== webrtc(obj) || obj.metadata?.deletionTimestamp !== old.metadata?.deletionTimestamp;
}

/** The Processes of the same name in other namespaces. */
function sameNameOthers({ obj }: Change<ProcessObject>, lookup: IndexLookup): string[] {
  const key = objectKey(obj);
  return lookup(PROCESS_NAME_INDEX.name, PROCESS_NAME_INDEX.value(obj)).filter((k) => k !== key);
}

/** The Process a child belongs to: its namespace and process label (children have no other owner kind). */
function ownerOf({ obj }: Change<KubeObject>): string[] {
  const ns = obj.metadata?.namespace;
  const owner = obj.metadata?.labels?.[LABELS.process];
  return ns && owner ? [`${ns}/${owner}`] : [];
}

/** The Process controller. */
export const PROCESS_CONTROLLER: ControllerSetup = {
  name: CONTROLLER_NAME,
  for: { kind: 'processes', watch: { when: specOrMetadataChanged, map: ({ obj }) => [objectKey(obj)] } },
  owns: { kinds: CHILD_KINDS, ifServed: 'httproutes', watch: { map: ownerOf } },
  watches: [{ kind: 'processes', watch: { when: pathHolderMayChange, map: sameNameOthers } }],
  indexes: { processes: [PROCESS_NAME_INDEX] },
};
