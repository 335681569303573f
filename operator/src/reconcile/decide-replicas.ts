/**
 * Pure decisions about a WebRTC Process's egress pods, one per replica (docs/scale-out.md):
 * create the missing ones, drain and then delete the ones past the wanted count (the highest
 * index first, one at a time), keep each pod's unhashed annotations current — replica 0's relay
 * targets, each sibling's pin (replica 0's addresses) and drain deadline — and report them in
 * status.webrtc. A replica holding viewers is deleted only after its drain.
 */
import { DEFAULT_DRAIN_SECONDS, type WebRtcStatus } from '@corecast/api';
import { objectDiff } from '../children/derivative.ts';
import {
  buildEgressPod,
  DRAIN_ANNOTATION,
  type Exposure,
  egressPodName,
  RELAY_TARGETS_ANNOTATION,
  REPLICA_LABEL,
  RTP_SOURCE_ANNOTATION,
  rtpSource,
} from '../children/egress-pod.ts';
import { egressPorts, mediaMode } from '../children/media-ports.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import { type ScaleChange, decideScale } from './autoscale.ts';
import type { DecideContext } from './decide-children.ts';
import { isDeleting, isReady, podHash } from './pod-state.ts';
import { rfc3339 } from './status.ts';
import { type ApplyAction, type DeleteAction, type EventSpec, type Observed, writeKey } from './types.ts';

/**
 * Why a load-balanced Process keeps one replica: its media Service has one address, which every
 * replica would advertise, and a UDP load balancer spreads flows without knowing which replica
 * holds a viewer's session.
 */
export const SINGLE_BEHIND_LOAD_BALANCER =
  'the operator configuration exposes media through a load balancer (egress.loadBalancer), whose one address cannot lead each viewer to the replica holding its session; one replica serves';

/** How long past its drain deadline a replica that still reports viewers is kept. */
export const DRAIN_GRACE_MS = 10_000;

/** How soon a replica waiting for its slot of host ports is looked at again. */
const SLOT_WAIT_MS = 500;

/** The annotations of an egress pod left out of its hash: a change moves them on the live pod. */
const UNHASHED = [RTP_SOURCE_ANNOTATION, RELAY_TARGETS_ANNOTATION, DRAIN_ANNOTATION] as const;

/** What the egress pods need. */
export interface EgressPodsDecision {
  readonly applies: ApplyAction[];
  readonly deletes: DeleteAction[];
  readonly events: EventSpec[];
  readonly status: WebRtcStatus;
  readonly requeueAfterMs?: number;
}

/** The replica index of an egress pod (its label; 0 for a pod from before replicas). */
export function replicaIndex(pod: DeepReadonly<Pod>): number {
  const n = Number(pod.metadata?.labels?.[REPLICA_LABEL] ?? '0');
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

const drainOf = (pod: DeepReadonly<Pod>) => pod.metadata?.annotations?.[DRAIN_ANNOTATION] ?? '';
const podIp = (pod: DeepReadonly<Pod>) => pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip ?? '';

/** The drift label of an update that moves only an unhashed annotation (events.ts words those apart). */
export const annotationDrift = (annotation: string) => `metadata.annotations.${annotation}`;

/**
 * Recreate (the hash differs: pods are immutable in what matters) or update an egress pod. An
 * update's drift names the first field besides the unhashed annotations, else the first of them
 * that moved, so the Event can tell a re-pin or a drain from a hand edit.
 */
function podChange(desired: Pod, live: DeepReadonly<Pod>, recreateWhy: string): { apply?: ApplyAction; delete?: DeleteAction } {
  const name = live.metadata?.name ?? '';
  if (podHash(live) !== podHash(desired)) return { delete: { kind: 'pods', name, uid: live.metadata?.uid ?? '', why: recreateWhy } };
  const drift = objectDiff(desired, live);
  if (!drift) return {};
  const liveAnnotations = live.metadata?.annotations ?? {};
  const withLive = { ...desired, metadata: { ...desired.metadata, annotations: { ...desired.metadata?.annotations } } };
  for (const a of UNHASHED) if (a in withLive.metadata.annotations) withLive.metadata.annotations[a] = liveAnnotations[a] ?? '';
  const moved = UNHASHED.find((a) => (desired.metadata?.annotations?.[a] ?? '') !== (liveAnnotations[a] ?? ''));
  const other = objectDiff(withLive, live);
  return { apply: { kind: 'pods', object: desired, force: true, verb: 'update', drift: other ?? annotationDrift(moved ?? UNHASHED[0]) } };
}

/**
 * Replica 0's relay targets: every sibling that has an address, by index, as
 * `<index>=<ip>:<videoPort>:<audioPort>:<httpPort>` with `:draining` after one being drained.
 */
export function relayTargets(
  siblings: readonly { index: number; pod: DeepReadonly<Pod>; draining: boolean }[],
  ports: { videoRtp: number; audioRtp: number; http: number },
): string {
  return [...siblings]
    .filter((s) => podIp(s.pod) !== '')
    .sort((a, b) => a.index - b.index)
    .map((s) => {
      // Each pod's own ports: with host networking every replica has a slot of its own.
      const own = (name: string, fallback: number) =>
        s.pod.spec?.containers?.[0]?.ports?.find((p) => p.name === name)?.containerPort ?? fallback;
      const where = `${podIp(s.pod)}:${own('rtp-video', ports.videoRtp)}:${own('rtp-audio', ports.audioRtp)}:${own('http', ports.http)}`;
      return `${s.index}=${where}${s.draining ? ':draining' : ''}`;
    })
    .join(',');
}

/**
 * The exposure of replica `index`: with host networking its own slot of host ports
 * (o.replicaSlots; undefined while it has none), else the Process's.
 */
function replicaExposure(o: Observed, ctx: DecideContext, exposure: Exposure | undefined, index: number): Exposure | undefined {
  if (!exposure || index === 0 || !ctx.config.egress.hostNetwork) return exposure;
  const slot = o.replicaSlots?.get(index);
  return slot === undefined ? undefined : { ...exposure, slot };
}

/** The ScaledUp or ScaledDown Event of a change of the wanted count. */
function scaleEvent(c: ScaleChange): EventSpec {
  const up = c.to > c.from;
  return {
    type: 'Normal',
    reason: up ? 'ScaledUp' : 'ScaledDown',
    action: 'Scale',
    note: `Egress replicas ${c.from} → ${c.to}: ${c.reason}`,
  };
}

/**
 * The egress pods of a WebRTC-enabled Process. `exposure` undefined: what the pods advertise or
 * bind is not known, so none is created or changed (drained ones are still deleted).
 * `recreateWhy` words why an outdated pod is replaced.
 */
export function decideEgressPods(
  o: Observed,
  ctx: DecideContext,
  exposure: Exposure | undefined,
  recreateWhy: (pod: DeepReadonly<Pod>) => string,
): EgressPodsDecision {
  const p = o.process;
  const applies: ApplyAction[] = [];
  const deletes: DeleteAction[] = [];
  const events: EventSpec[] = [];
  const waits: number[] = [];
  const viewersOf = (pod: DeepReadonly<Pod> | undefined) => (pod ? o.viewers?.get(pod.metadata?.uid ?? '') : undefined);
  const zero = o.egressPod && !isDeleting(o.egressPod) ? o.egressPod : undefined;
  const all = (o.egressReplicas ?? []).map((pod) => ({ pod, index: replicaIndex(pod) })).filter((s) => s.index > 0);
  const siblings = all.filter((s) => !isDeleting(s.pod));

  // 1. The count wanted (fixed, or the autoscaler's from every pod's viewers).
  const counts = [zero, ...siblings.map((s) => s.pod)].map(viewersOf).filter((n): n is number => n !== undefined);
  const total = counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : undefined;
  const before = o.status.webrtc?.replicas;
  const draining = siblings.some((s) => drainOf(s.pod) !== '' || (before !== undefined && s.index >= before));
  const scale = decideScale({
    webrtc: p.spec.webrtc,
    previous: o.status.webrtc,
    viewers: total,
    draining,
    now: ctx.now,
    ...(mediaMode(ctx.config) === 'loadBalancer' ? { single: SINGLE_BEHIND_LOAD_BALANCER } : {}),
  });
  const wanted = scale.replicas;
  if (scale.change) events.push(scaleEvent(scale.change));
  if (scale.requeueAfterMs !== undefined) waits.push(scale.requeueAfterMs);

  // 2. Drains under way: a replica goes once it has no viewers (or no address: it never had
  //    any), or its deadline passed by DRAIN_GRACE_MS whatever it still reports.
  const drains = new Map<number, string>();
  const kept = siblings.filter((s) => {
    const deadline = drainOf(s.pod);
    if (deadline === '') return true;
    const v = viewersOf(s.pod);
    const overdue = (Date.parse(deadline) || 0) + DRAIN_GRACE_MS;
    const why =
      v === 0
        ? `replica ${s.index} is drained (no viewers left)`
        : podIp(s.pod) === ''
          ? `replica ${s.index} is drained (it never had an address, so no viewers)`
          : ctx.now >= overdue
            ? `replica ${s.index}'s drain deadline ${deadline} passed ${DRAIN_GRACE_MS / 1000} s ago with ${v ?? 'an unknown number of'} viewers left`
            : undefined;
    if (why) {
      deletes.push({ kind: 'pods', name: s.pod.metadata?.name ?? '', uid: s.pod.metadata?.uid ?? '', why });
      return false;
    }
    drains.set(s.index, deadline);
    waits.push(overdue - ctx.now);
    return true;
  });

  // 3. A new drain, when none is under way: the highest index past the wanted count. Only a
  //    current pod can be drained (its annotation moves with an update); an outdated one is
  //    replaced below like any outdated replica, and not created again past the count.
  const excess = kept.filter((s) => s.index >= wanted && !drains.has(s.index)).sort((a, b) => b.index - a.index);
  const next = excess[0];
  const own = next && replicaExposure(o, ctx, exposure, next.index);
  const current = next && own && podHash(next.pod) === podHash(buildEgressPod(p, ctx.config, own, '', { index: next.index }));
  if (next && current && drains.size === 0 && !all.some((s) => isDeleting(s.pod) && drainOf(s.pod) !== '')) {
    const seconds = p.spec.webrtc.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
    const deadline = rfc3339(ctx.now + seconds * 1000);
    drains.set(next.index, deadline);
    waits.push(seconds * 1000 + DRAIN_GRACE_MS);
    const v = viewersOf(next.pod);
    events.push({
      type: 'Normal',
      reason: 'Draining',
      action: 'Drain',
      afterWrite: writeKey('pods', next.pod.metadata?.name),
      note: `Draining pod ${next.pod.metadata?.name} (replica ${next.index}${v !== undefined ? `, ${v} viewers` : ''}): its viewers are closed gradually until ${deadline} and reconnect to the other replicas; the pod is deleted once it has none`,
    });
  }

  // 4. Each sibling that stays: created when missing, kept current (pin, drain) or replaced.
  const hostNetwork = ctx.config.egress.hostNetwork;
  if (exposure) {
    const live = new Map(all.map((s) => [s.index, s.pod]));
    for (let index = 1; index < wanted; index++) {
      if (live.has(index)) continue;
      const own = replicaExposure(o, ctx, exposure, index);
      // No slot of host ports yet: media-inputs.ts takes one for each replica the status wants,
      // so a scale-up recorded in this pass gets its slot on the next (or all are taken: retry).
      if (!own) {
        waits.push(SLOT_WAIT_MS);
        continue;
      }
      const pod = buildEgressPod(p, ctx.config, own, rtpSource(zero, { hostNetwork }), { index });
      applies.push({ kind: 'pods', object: pod, force: false, verb: 'create' });
    }
    for (const s of kept) {
      const own = replicaExposure(o, ctx, exposure, s.index);
      if (!own) continue;
      const desired = buildEgressPod(p, ctx.config, own, rtpSource(zero, { hostNetwork, pod: s.pod }), {
        index: s.index,
        drain: drains.get(s.index) ?? '',
      });
      // An outdated pod being drained goes when its drain ends, not before.
      if (drains.has(s.index) && podHash(s.pod) !== podHash(desired)) continue;
      const change = podChange(desired, s.pod, recreateWhy(s.pod));
      if (change.apply) applies.push(change.apply);
      if (change.delete) deletes.push(change.delete);
    }
  }

  // 5. Replica 0: its relay targets are the siblings that stay.
  const targets = relayTargets(
    kept.map((s) => ({ ...s, draining: drains.has(s.index) })),
    egressPorts(ctx.config, exposure?.slot),
  );
  if (exposure) {
    const pin = rtpSource(o.ffmpegPod, { hostNetwork, pod: o.egressPod });
    const desired = buildEgressPod(p, ctx.config, exposure, pin, { index: 0, relayTargets: targets });
    if (!o.egressPod) applies.push({ kind: 'pods', object: desired, force: false, verb: 'create' });
    else if (zero) {
      const change = podChange(desired, zero, recreateWhy(zero));
      if (change.apply) applies.push(change.apply);
      if (change.delete) deletes.push(change.delete);
    }
  }

  // 6. status.webrtc.
  const state = (pod: DeepReadonly<Pod>, index: number) => (drains.has(index) ? 'draining' : isReady(pod) ? 'serving' : 'starting');
  const pods = [...(zero ? [{ pod: zero, index: 0 }] : []), ...kept].map(({ pod, index }) => {
    const v = viewersOf(pod);
    return {
      replica: index,
      name: pod.metadata?.name ?? egressPodName(p.name, index),
      ...(v !== undefined ? { viewers: v } : {}),
      state: state(pod, index),
    } as const;
  });
  const lastScale = scale.change ? { time: rfc3339(ctx.now), ...scale.change } : o.status.webrtc?.lastScale;
  const status: WebRtcStatus = {
    replicas: wanted,
    pods,
    ...(lastScale ? { lastScale } : {}),
    ...(scale.scaleDownSince ? { scaleDownSince: scale.scaleDownSince } : {}),
  };
  const positive = waits.filter((w) => w > 0);
  return { applies, deletes, events, status, ...(positive.length > 0 ? { requeueAfterMs: Math.min(...positive) } : {}) };
}
