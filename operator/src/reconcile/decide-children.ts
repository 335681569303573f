/**
 * Pure decisions about the children: for each, create, put back, recreate, delete or leave it.
 * Pods are immutable in what matters, so a pod whose content hash differs from the desired one
 * is deleted and created again on the next pass; the other children are updated in place.
 */
import { ANNOTATIONS, type ProcessStatus } from '@corecast/api';
import { type ProcessView, reloadToken, restartToken } from '../children/common.ts';
import { objectDiff } from '../children/derivative.ts';
import { type Exposure, MEDIA_ADDRESSES_ANNOTATION } from '../children/egress-pod.ts';
import { buildFfmpegNetworkPolicy, usesFfmpegNetworkPolicy } from '../children/ffmpeg-network-policy.ts';
import { buildFfmpegPod } from '../children/ffmpeg-pod.ts';
import { egressPorts, mediaMode } from '../children/media-ports.ts';
import { buildMediaService, nodePortsOf, usesMediaService } from '../children/media-service.ts';
import { buildHttpRoute, buildIngress, buildNetworkPolicy, buildService } from '../children/route.ts';
import { type OperatorConfig, type RouteKind, routeKind } from '../config.ts';
import type { ChildKind } from '../kube/sources.ts';
import type { DeepReadonly, KubeObject, Pod } from '../kube/types.ts';
import { decideEgressPods, type EgressPodsDecision } from './decide-replicas.ts';
import { exitOf, isDeleting, isRunning, podHash, podRestarts } from './pod-state.ts';
import type { ApplyAction, DeleteAction, FfmpegDecision, Observed } from './types.ts';

/** Inputs besides the observed state. */
export interface DecideContext {
  readonly config: OperatorConfig;
  /** Now, in ms since the epoch (injected, never read from the system in decide). */
  readonly now: number;
}

/** The shortest wait before a reconnect, so a command that fails at once can't spin. */
export const MIN_RECONNECT_DELAY_SECONDS = 1;

const TERMINAL = new Set(['finished', 'failed', 'killed']);

/** The restart count of a new FFmpeg pod: one more when the previous run ended by itself while ordered to run. */
export function nextRestarts(status: ProcessStatus): number {
  const prev = status.restarts ?? 0;
  return status.exec && TERMINAL.has(status.exec) && status.order === 'start' ? prev + 1 : prev;
}

/**
 * Why a pod with an outdated hash is recreated, in words for the Event. `mediaAddresses`: the
 * load-balancer addresses the new egress pod advertises (media.mode loadBalancer).
 */
export function recreateReason(
  pod: DeepReadonly<Pod>,
  p: ProcessView,
  component: 'ffmpeg' | 'egress',
  mediaAddresses?: readonly string[],
): string {
  const a = pod.metadata?.annotations ?? {};
  if (component === 'ffmpeg' && (a[ANNOTATIONS.restartedFor] ?? '') !== restartToken(p)) {
    return `restart requested (annotation ${ANNOTATIONS.restart})`;
  }
  if ((a[ANNOTATIONS.reloadedFor] ?? '') !== reloadToken(p)) return `reload requested (annotation ${ANNOTATIONS.reload})`;
  const was = a[MEDIA_ADDRESSES_ANNOTATION];
  const now = mediaAddresses?.join(',');
  if (component === 'egress' && now !== undefined && was !== now) {
    return was ? `the load balancer's address changed from ${was} to ${now}` : `the pod now advertises the load balancer's address ${now}`;
  }
  return component === 'ffmpeg' ? 'the spec changed' : 'the spec or the operator configuration changed';
}

function del(kind: ChildKind, obj: DeepReadonly<KubeObject>, why: string): DeleteAction {
  return { kind, name: obj.metadata?.name ?? '', uid: obj.metadata?.uid ?? '', why };
}

/** The FFmpeg pod running `argv`, for the effective order (stop also while autostart holds a new Process). */
export function decideFfmpeg(o: Observed, ctx: DecideContext, order: 'start' | 'stop', argv: readonly string[]): FfmpegDecision {
  const live = o.ffmpegPod;
  const p = o.process;
  if (order === 'stop') {
    if (!live) return { exec: 'finished', restarts: o.status.restarts ?? 0 };
    const restarts = podRestarts(live);
    if (isDeleting(live)) return { exec: 'finishing', restarts };
    return { delete: del('pods', live, 'spec.order is stop'), exec: 'finishing', restarts };
  }
  if (live && isDeleting(live)) return { exec: 'finishing', restarts: podRestarts(live) };
  const restarts = live ? podRestarts(live) : nextRestarts(o.status);
  const desired = buildFfmpegPod(p, ctx.config, restarts, argv);
  if (!live) return { apply: { kind: 'pods', object: desired, force: false, verb: 'create' }, exec: 'starting', restarts };
  if (podHash(live) !== podHash(desired)) {
    return { delete: del('pods', live, recreateReason(live, p, 'ffmpeg')), exec: 'finishing', restarts };
  }
  const exit = exitOf(live);
  if (exit) {
    if (!p.spec.reconnect) return { exec: exit.exec, exit, restarts, pod: live };
    const delayMs = Math.max(MIN_RECONNECT_DELAY_SECONDS, p.spec.reconnectDelaySeconds) * 1000;
    const ended = Date.parse(exit.finishedAt ?? live.metadata?.creationTimestamp ?? '') || ctx.now;
    const restartAtMs = ended + delayMs;
    const restartAt = new Date(restartAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (ctx.now >= restartAtMs) {
      return {
        delete: del('pods', live, `reconnect: FFmpeg exited (${exit.exec}); starting it again`),
        exec: exit.exec,
        exit,
        restarts,
        pod: live,
        restartAt,
      };
    }
    return { exec: exit.exec, exit, restarts, pod: live, restartAt, requeueAfterMs: restartAtMs - ctx.now };
  }
  const drift = objectDiff(desired, live);
  const apply: ApplyAction | undefined = drift ? { kind: 'pods', object: desired, force: true, verb: 'update', drift } : undefined;
  return { ...(apply ? { apply } : {}), exec: isRunning(live) ? 'running' : 'starting', restarts, pod: live };
}

/** One mutable child (Service, Ingress, HTTPRoute, NetworkPolicy): create when absent, put back when it drifted. */
function decideMutable(kind: ChildKind, desired: KubeObject, live: DeepReadonly<KubeObject> | undefined): ApplyAction | undefined {
  if (!live) return { kind, object: desired, force: false, verb: 'create' };
  if (isDeleting(live)) return undefined;
  const drift = objectDiff(desired, live);
  return drift ? { kind, object: desired, force: true, verb: 'update', drift } : undefined;
}

/**
 * The FFmpeg pod's egress NetworkPolicy: kept while the operator configuration asks for it, for
 * a stopped Process too (it costs nothing and a start needs no wait), deleted when it does not.
 */
export function decideFfmpegPolicy(o: Observed, ctx: DecideContext): { applies: ApplyAction[]; deletes: DeleteAction[] } {
  const live = o.ffmpegNetworkPolicy;
  if (!usesFfmpegNetworkPolicy(ctx.config)) {
    const deletes =
      live && !isDeleting(live)
        ? [del('networkpolicies', live, 'ffmpeg.networkPolicy.enabled is false in the operator configuration')]
        : [];
    return { applies: [], deletes };
  }
  const slot = o.hostSlot && 'slot' in o.hostSlot ? o.hostSlot.slot : undefined;
  const apply = decideMutable('networkpolicies', buildFfmpegNetworkPolicy(o.process, ctx.config, egressPorts(ctx.config, slot)), live);
  return { applies: apply ? [apply] : [], deletes: [] };
}

/**
 * What the egress pod of a Process needs beyond the configuration, by exposure mode, or undefined
 * while it is not known: the load balancer's addresses (loadBalancer), the media Service's node
 * ports (nodePort), the slot of host ports (hostNetwork).
 */
export function exposureOf(o: Observed, config: OperatorConfig): Exposure | undefined {
  switch (mediaMode(config)) {
    case 'loadBalancer':
      return o.mediaAddress?.state === 'ready' ? { addresses: o.mediaAddress.addresses } : undefined;
    case 'nodePort': {
      const nodePorts = o.mediaService && !isDeleting(o.mediaService) ? nodePortsOf(o.mediaService) : undefined;
      return nodePorts ? { nodePorts } : undefined;
    }
    case 'hostNetwork':
      return o.hostSlot && 'slot' in o.hostSlot ? { slot: o.hostSlot.slot } : undefined;
    default:
      return {};
  }
}

/**
 * The egress pods (one per replica, decide-replicas.ts), Service, NetworkPolicy and route, and
 * with media.mode loadBalancer or nodePort the media Service. What a pod advertises or binds
 * depends on the exposure (exposureOf), so no egress pod is created before it is known; running
 * ones are left as they are until it is known again, and a changed one (a new load-balancer
 * address, node port or slot) replaces them.
 */
export function decideEgress(
  o: Observed,
  ctx: DecideContext,
): { applies: ApplyAction[]; deletes: DeleteAction[]; pods?: EgressPodsDecision } {
  const applies: ApplyAction[] = [];
  const deletes: DeleteAction[] = [];
  const p = o.process;
  const existing: [ChildKind, DeepReadonly<KubeObject> | undefined][] = [
    ['pods', o.egressPod],
    ...(o.egressReplicas ?? []).map((pod) => ['pods', pod] as [ChildKind, DeepReadonly<KubeObject>]),
    ['services', o.service],
    ['services', o.mediaService],
    ['networkpolicies', o.networkPolicy],
    ['ingresses', o.ingress],
    ['httproutes', o.httpRoute],
  ];
  if (!p.spec.webrtc.enabled) {
    for (const [kind, obj] of existing) {
      if (obj && !isDeleting(obj)) deletes.push(del(kind, obj, 'spec.webrtc.enabled is false'));
    }
    return { applies, deletes };
  }

  if (usesMediaService(ctx.config)) {
    const media = decideMutable('services', buildMediaService(p, ctx.config), o.mediaService);
    if (media) applies.push(media);
  } else if (o.mediaService && !isDeleting(o.mediaService)) {
    deletes.push(del('services', o.mediaService, 'the operator configuration no longer asks for a media Service'));
  }

  // The pins, relay targets and drain deadlines are not hashed: a change is an update of the live pod.
  const exposure = exposureOf(o, ctx.config);
  const pods = decideEgressPods(o, ctx, exposure, (live) => recreateReason(live, p, 'egress', exposure?.addresses));
  applies.push(...pods.applies);
  deletes.push(...pods.deletes);

  const service = decideMutable('services', buildService(p), o.service);
  if (service) applies.push(service);
  const policy = decideMutable(
    'networkpolicies',
    buildNetworkPolicy(p, ctx.config, egressPorts(ctx.config, exposure?.slot)),
    o.networkPolicy,
  );
  if (policy) applies.push(policy);

  const route = decideRoute(o, ctx);
  applies.push(...route.applies);
  deletes.push(...route.deletes);
  return { applies, deletes, pods };
}

/** Why a route of `kind` goes when the configuration asks for `wanted` instead. */
function unwantedRouteReason(kind: RouteKind, wanted: RouteKind | undefined): string {
  if (kind === 'gateway') return 'gateway.enabled is false in the operator configuration';
  return wanted === 'gateway'
    ? 'the operator configuration routes through the Gateway API (gateway.enabled) instead'
    : 'ingress.enabled is false in the operator configuration';
}

/**
 * The route of a WebRTC-enabled Process: the one kind the configuration asks for (an Ingress or
 * an HTTPRoute) while this Process holds the path; a route of the other kind — left from before
 * the configuration switched — and any route while another namespace holds the path are deleted.
 */
export function decideRoute(o: Observed, ctx: DecideContext): { applies: ApplyAction[]; deletes: DeleteAction[] } {
  const applies: ApplyAction[] = [];
  const deletes: DeleteAction[] = [];
  const wanted = routeKind(ctx.config);
  const routes: { kind: RouteKind; child: ChildKind; live: DeepReadonly<KubeObject> | undefined; build: () => KubeObject }[] = [
    { kind: 'ingress', child: 'ingresses', live: o.ingress, build: () => buildIngress(o.process, ctx.config) },
    { kind: 'gateway', child: 'httproutes', live: o.httpRoute, build: () => buildHttpRoute(o.process, ctx.config) },
  ];
  for (const r of routes) {
    if (r.kind === wanted && !o.routeHolder) {
      const apply = decideMutable(r.child, r.build(), r.live);
      if (apply) applies.push(apply);
    } else if (r.live && !isDeleting(r.live)) {
      const why = o.routeHolder
        ? `the path is served for Process ${o.routeHolder.name} in namespace ${o.routeHolder.namespace}`
        : unwantedRouteReason(r.kind, wanted);
      deletes.push(del(r.child, r.live, why));
    }
  }
  return { applies, deletes };
}
