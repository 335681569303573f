/**
 * How many egress replicas a WebRTC Process wants: spec.webrtc.replicas, or what the autoscaler
 * makes of the viewers. Pure; time comes in `now`, the memory between passes in the previous
 * status (status.webrtc: the count wanted, and since when fewer would do), so a new leader goes
 * on where the last one stopped.
 *
 * Up at once: every viewer over the target is one a replica should already hold. Down slowly and
 * one at a time: fewer replicas must have sufficed for the whole cool-down (viewers come and go
 * in waves: a short dip should not cost the viewers of a drained replica a reconnect), and no
 * replica may be draining already.
 */
import { type WebRtcSpec, type WebRtcStatus } from '@corecast/api';
import { rfc3339 } from './status.ts';

/** What the count is decided from. */
export interface ScaleInput {
  readonly webrtc: WebRtcSpec;
  /** status.webrtc as last written (undefined for a new Process). */
  readonly previous: WebRtcStatus | undefined;
  /** Viewers of all replicas together, undefined while no replica's count is known. */
  readonly viewers: number | undefined;
  /** True while a replica is being drained. */
  readonly draining: boolean;
  readonly now: number;
  /** Why the operator configuration allows one replica only, when it does. */
  readonly single?: string;
}

/** A change of the wanted count, for status.webrtc.lastScale and the Event. */
export interface ScaleChange {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** The count wanted now. */
export interface ScaleDecision {
  readonly replicas: number;
  /** Since when fewer replicas would do (RFC 3339), while they would. */
  readonly scaleDownSince?: string;
  /** Set when the count changed in this pass. */
  readonly change?: ScaleChange;
  /** When the cool-down ends, if a scale-down waits for it. */
  readonly requeueAfterMs?: number;
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** The autoscaler's count for `viewers`: ceil(viewers / target) within the bounds. */
export function desiredReplicas(viewers: number, autoscale: NonNullable<WebRtcSpec['autoscale']>): number {
  return clamp(Math.ceil(viewers / autoscale.targetViewersPerReplica), autoscale.minReplicas, autoscale.maxReplicas);
}

/** The count wanted now, and whether it changed. */
export function decideScale(s: ScaleInput): ScaleDecision {
  const a = s.webrtc.autoscale;
  const before = s.previous?.replicas;
  if (s.single !== undefined) {
    return { replicas: 1, ...(before !== undefined && before !== 1 ? { change: { from: before, to: 1, reason: s.single } } : {}) };
  }
  if (!a) {
    const replicas = s.webrtc.replicas ?? 1;
    const change =
      before !== undefined && before !== replicas
        ? { from: before, to: replicas, reason: `spec.webrtc.replicas is ${replicas}` }
        : undefined;
    return { replicas, ...(change ? { change } : {}) };
  }

  // A new Process starts at the minimum; changed bounds apply at once.
  const held = clamp(before ?? a.minReplicas, a.minReplicas, a.maxReplicas);
  const bounds = before !== undefined && held !== before ? `within autoscale's bounds ${a.minReplicas}–${a.maxReplicas}` : undefined;
  const keep = (extra: Omit<ScaleDecision, 'replicas'> = {}): ScaleDecision => ({
    replicas: held,
    ...(bounds && before !== undefined ? { change: { from: before, to: held, reason: bounds } } : {}),
    ...extra,
  });
  if (s.viewers === undefined) return keep();

  const desired = desiredReplicas(s.viewers, a);
  const load = `${plural(s.viewers, 'viewer')} at ${a.targetViewersPerReplica} per replica`;
  if (desired > held) {
    return { replicas: desired, change: { from: before ?? held, to: desired, reason: `${load} need ${plural(desired, 'replica')}` } };
  }
  if (desired === held) return keep();

  const since = Date.parse(s.previous?.scaleDownSince ?? '') || s.now;
  const due = since + a.scaleDownCooldownSeconds * 1000;
  const sinceText = rfc3339(since);
  if (s.now < due) return keep({ scaleDownSince: sinceText, requeueAfterMs: due - s.now });
  // One replica at a time: the next waits until the one draining is gone.
  if (s.draining) return keep({ scaleDownSince: sinceText });
  const to = held - 1;
  const reason = `${load} need ${plural(desired, 'replica')} and have for ${a.scaleDownCooldownSeconds} s (scaleDownCooldownSeconds); removing one at a time`;
  return { replicas: to, ...(to > desired ? { scaleDownSince: sinceText } : {}), change: { from: before ?? held, to, reason } };
}
