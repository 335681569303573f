/** The values passed between gather, decide and act. */
import type { ExecState, ProcessStatus } from '@corecast/api';
import type { ProcessView } from '../children/common.ts';
import type { MediaAddress } from '../children/media-service.ts';
import type { ChildKind } from '../kube/sources.ts';
import type { DeepReadonly, HTTPRoute, Ingress, KubeObject, NetworkPolicy, Pod, Service } from '../kube/types.ts';
import type { SlotResult } from './host-ports.ts';
import type { Exit } from './pod-state.ts';

/** Everything a reconcile looks at, read from the caches in one go. */
export interface Observed {
  readonly process: ProcessView;
  /** The Process's resourceVersion (the status write's precondition). */
  readonly resourceVersion: string;
  /** Its current status, as last written. */
  readonly status: ProcessStatus;
  readonly ffmpegPod?: DeepReadonly<Pod>;
  /** The egress pod of replica 0 (`<name>-egress`). */
  readonly egressPod?: DeepReadonly<Pod>;
  /** The egress pods of the other replicas (`<name>-egress-<i>`), by index. */
  readonly egressReplicas?: readonly DeepReadonly<Pod>[];
  /** Viewers of each egress pod whose count is known now, by pod uid (read from the pods before decide). */
  readonly viewers?: ReadonlyMap<string, number>;
  readonly service?: DeepReadonly<Service>;
  readonly ingress?: DeepReadonly<Ingress>;
  /** The HTTPRoute (gateway.enabled; also seen without it where the operator watches HTTPRoutes, to remove it). */
  readonly httpRoute?: DeepReadonly<HTTPRoute>;
  readonly networkPolicy?: DeepReadonly<NetworkPolicy>;
  /** The FFmpeg pod's egress NetworkPolicy `<name>-ffmpeg`. */
  readonly ffmpegNetworkPolicy?: DeepReadonly<NetworkPolicy>;
  /** The media Service `<name>-media` (media.mode loadBalancer). */
  readonly mediaService?: DeepReadonly<Service>;
  /** Its load balancer's address, read (and a host name resolved) before decide; absent without a media Service. */
  readonly mediaAddress?: MediaAddress;
  /** Host networking: the slot of host ports its egress pod holds, or that every slot is taken (media-inputs.ts). */
  readonly hostSlot?: SlotResult;
  /** Host networking: the slot each other replica (index ≥ 1) holds, for the replicas wanted now or running. */
  readonly replicaSlots?: ReadonlyMap<number, number>;
  /** The Process that holds this name's path (Ingress or HTTPRoute), when it is another one (older, elsewhere). */
  readonly routeHolder?: { readonly namespace: string; readonly name: string };
  /** Wanted children the caches do not show but the API server has (gather asks): this Process's or someone else's. */
  readonly uncached?: readonly UncachedChild[];
}

/** An object with a wanted child's name that the caches do not show. */
export interface UncachedChild {
  readonly kind: ChildKind;
  readonly name: string;
  /** Controlled by this Process (taken back with a forced apply); false: someone else's, left alone. */
  readonly ours: boolean;
}

/** An object to server-side apply. */
export interface ApplyAction {
  readonly kind: ChildKind;
  readonly object: KubeObject;
  /** False when creating: an existing object that someone else owns then conflicts instead of being taken over. */
  readonly force: boolean;
  /** Created (absent before) or updated (put back / changed). */
  readonly verb: 'create' | 'update';
  /** For an update: the first field that differed (for logs). */
  readonly drift?: string;
}

/** An object to delete (only the exact object seen: uid precondition). */
export interface DeleteAction {
  readonly kind: ChildKind;
  readonly name: string;
  readonly uid: string;
  /** Why, for the Event. */
  readonly why: string;
}

/** One Event to record about the Process. */
export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  /** What the operator did or saw (events.k8s.io `action`). */
  readonly action: string;
  readonly note: string;
  /**
   * The write this Event reports (writeKey of its kind and name): recorded as soon as that
   * write went through, before the status and whatever became of the other writes. The next
   * pass does not plan a write that went through again, so an Event waiting for a status write
   * that was refused (the Process changed meanwhile), or for a sibling write that failed, would
   * be lost for good. Events without it are about the state and wait for the status, so a
   * retried pass does not tell them twice.
   */
  readonly afterWrite?: string;
}

/** The key that names one write of a plan (an apply or a delete) for EventSpec.afterWrite. */
export const writeKey = (kind: ChildKind, name: string | undefined): string => `${kind}/${name ?? ''}`;

/** What the FFmpeg half decided. */
export interface FfmpegDecision {
  readonly apply?: ApplyAction;
  readonly delete?: DeleteAction;
  readonly exec: ExecState;
  readonly restarts: number;
  /** The pod that stays (for start time, command, waiting reasons). */
  readonly pod?: DeepReadonly<Pod>;
  readonly exit?: Exit;
  /** When a reconnect starts FFmpeg again (RFC 3339). */
  readonly restartAt?: string;
  readonly requeueAfterMs?: number;
}

/** The complete outcome of decide: act carries it out. */
export interface Plan {
  readonly deletes: readonly DeleteAction[];
  readonly applies: readonly ApplyAction[];
  /** The status to write, or undefined when it is unchanged. */
  readonly status?: ProcessStatus;
  /**
   * Events about what the pass saw and decided (a drain, a wait, a change of state). The Events
   * for the writes themselves (Created, Updated, Deleted, SourcePinned) are not here: the
   * reconciler derives them from the writes that went through (actionEvents).
   */
  readonly events: readonly EventSpec[];
  readonly requeueAfterMs?: number;
}
