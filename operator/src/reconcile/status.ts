/**
 * The status a reconcile reports: Core's process state and the conditions, with messages a
 * person can act on. Pure. A condition keeps its lastTransitionTime while its status stays the
 * same (the Kubernetes API conventions: the last time it went from one status to another; a new
 * reason or message is not a transition), so an unchanged world gives an identical status (and
 * no write).
 */
import { type Condition, type ExecState, type ProcessStatus, playerPath, type WebRtcStatus, whepPath } from '@corecast/api';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import { startedAt } from './pod-state.ts';
import { readyCondition, router } from './ready.ts';
import type { FfmpegDecision, Observed } from './types.ts';

/** Condition types. */
export const CONDITIONS = { ready: 'Ready', routeConflict: 'RouteConflict' } as const;

/** A condition before its bookkeeping fields are filled in. */
export interface ConditionSpec {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** What status computation needs besides the observed state. */
export interface StatusInputs {
  readonly now: number;
  /** Why the spec cannot run, if it cannot (e.g. an address blocked by the access rules). */
  readonly invalid?: string;
  /** A child's name is taken by an object the operator does not own. */
  readonly nameTaken?: string;
  /** True while autostart: false holds a new Process. */
  readonly held: boolean;
  /** The order acted on (stop while held). */
  readonly order: 'start' | 'stop';
  readonly ffmpeg?: FfmpegDecision;
  /** The FFmpeg argv that runs or would run. */
  readonly argv?: readonly string[];
  /** Base URL of whepUrl/playerUrl (undefined: no URLs). */
  readonly baseUrl?: string;
  /** What routes this Process's path (from the configuration); undefined when the operator makes no route. */
  readonly route: RouteObject | undefined;
  /** Why the egress pod waits for its media load balancer (media.mode loadBalancer), if it does. */
  readonly mediaWait?: ConditionSpec;
  /** The egress replicas (decide-replicas.ts); absent without WebRTC. */
  readonly webrtc?: WebRtcStatus;
}

/** The kind of object that routes a path. */
export type RouteObject = 'Ingress' | 'HTTPRoute';

/** RFC 3339 with seconds, as metav1.Time serialises. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The RouteConflict condition, present only for WebRTC-enabled Processes the operator routes (Ingress or HTTPRoute). */
export function routeCondition(o: Observed, s: StatusInputs): ConditionSpec | undefined {
  if (!o.process.spec.webrtc.enabled || !s.route) return undefined;
  const path = whepPath(o.process.name);
  if (o.routeHolder) {
    return {
      status: 'True',
      reason: 'PathInUse',
      message: `${path} is served for Process ${o.routeHolder.name} in namespace ${o.routeHolder.namespace}, which is older; no ${s.route} was made for this one. Rename this Process (or delete the other) to play it through the ${router(s.route)}.`,
    };
  }
  return { status: 'False', reason: 'PathAssigned', message: `${path} routes to this Process.` };
}

/** Fills in observedGeneration and lastTransitionTime, keeping the old time while the status holds. */
export function condition(type: string, spec: ConditionSpec, old: readonly Condition[], generation: number, now: number): Condition {
  const prev = old.find((c) => c.type === type);
  const same = prev && prev.status === spec.status;
  return {
    type,
    status: spec.status,
    observedGeneration: generation,
    lastTransitionTime: same && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now),
    reason: spec.reason,
    message: spec.message.slice(0, 32768),
  };
}

function command(pod: DeepReadonly<Pod> | undefined, argv: readonly string[] | undefined): string[] | undefined {
  const args = pod?.spec?.containers?.[0]?.args;
  return args ? [...args] : argv ? [...argv] : undefined;
}

/** The whole status. */
export function computeStatus(o: Observed, s: StatusInputs): ProcessStatus {
  const old = o.status.conditions ?? [];
  const gen = o.process.generation;
  const conditions = [condition(CONDITIONS.ready, readyCondition(o, s), old, gen, s.now)];
  const route = routeCondition(o, s);
  if (route) conditions.push(condition(CONDITIONS.routeConflict, route, old, gen, s.now));
  const ff = s.ffmpeg;
  const exec: ExecState | undefined = ff?.exec ?? o.status.exec;
  const started = ff?.pod ? startedAt(ff.pod) : undefined;
  const lastError = ff?.exit?.lastError ?? o.status.lastError;
  const cmd = command(ff?.pod, s.argv) ?? o.status.command;
  const routed = o.process.spec.webrtc.enabled && s.baseUrl && !(o.routeHolder && s.route);
  const status: ProcessStatus = {
    observedGeneration: gen,
    conditions,
    order: s.order,
    ...(exec ? { exec } : {}),
    restarts: ff?.restarts ?? o.status.restarts ?? 0,
    ...(started ? { startedAt: started } : {}),
    ...(cmd ? { command: cmd } : {}),
    ...(lastError ? { lastError } : {}),
    ...(routed ? { whepUrl: `${s.baseUrl}${whepPath(o.process.name)}`, playerUrl: `${s.baseUrl}${playerPath(o.process.name)}` } : {}),
    ...(s.webrtc ? { webrtc: s.webrtc } : {}),
  };
  return status;
}
