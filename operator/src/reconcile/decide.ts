/**
 * decide: the observed state in, the plan out (children to apply and delete, the status,
 * the Events, when to look again). Pure: no I/O, time comes in `ctx.now`.
 */
import { ValidationError } from '@corecast/api';
import { ffmpegArgv } from '../children/ffmpeg-pod.ts';
import { stableStringify } from '../children/hash.ts';
import { routeKind } from '../config.ts';
import { KIND_NAMES } from '../kube/apply.ts';
import { type DecideContext, decideEgress, decideFfmpeg, decideFfmpegPolicy } from './decide-children.ts';
import { transitionEvents } from './events.ts';
import { isHeld } from './gather.ts';
import { mediaRecheckMs, mediaWait } from './media-wait.ts';
import { computeStatus } from './status.ts';
import type { ApplyAction, DeleteAction, Observed, Plan } from './types.ts';

const ROUTE_OBJECTS = { ingress: 'Ingress', gateway: 'HTTPRoute', none: undefined } as const;

/** Everything decide needs besides the observed state. */
export interface PlanContext extends DecideContext {
  /** Base URL of the status URLs. */
  readonly baseUrl?: string;
}

/** How long to wait before looking again when a child's name is taken (any change to the Process also does). */
export const NAME_TAKEN_RETRY_MS = 60_000;

/** The plan for one Process. */
export function decide(o: Observed, ctx: PlanContext): Plan {
  const p = o.process;
  const held = isHeld(o);
  const order = held ? 'stop' : p.spec.order;
  const wait = mediaWait(o, ctx.config);
  const base = {
    now: ctx.now,
    held,
    order,
    baseUrl: ctx.baseUrl,
    route: ROUTE_OBJECTS[routeKind(ctx.config) ?? 'none'],
    ...(wait ? { mediaWait: wait } : {}),
  } as const;

  // 1. The command, built once here for the pod and the status; it also checks the addresses
  //    against the access rules.
  let argv: string[];
  try {
    argv = ffmpegArgv(p, ctx.config);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return statusOnly(o, computeStatus(o, { ...base, invalid: err.message }));
  }
  // A wanted child's name is held by an object someone else controls (gather asked the API
  // server): act on nothing, report it.
  const taken = o.uncached?.find((c) => !c.ours);
  if (taken) {
    const nameTaken = `${KIND_NAMES[taken.kind]} ${taken.name} already exists and is not managed by this Process`;
    return { ...statusOnly(o, computeStatus(o, { ...base, argv, nameTaken })), requeueAfterMs: NAME_TAKEN_RETRY_MS };
  }

  // 2. The FFmpeg pod and its NetworkPolicy, 3. the egress children.
  const policy = decideFfmpegPolicy(o, ctx);
  const ffmpeg = decideFfmpeg(o, ctx, order, argv);
  const egress = decideEgress(o, ctx);
  const applies: ApplyAction[] = [...policy.applies, ...(ffmpeg.apply ? [ffmpeg.apply] : []), ...egress.applies].map((a) => takeBack(a, o));
  const deletes: DeleteAction[] = [...policy.deletes, ...(ffmpeg.delete ? [ffmpeg.delete] : []), ...egress.deletes];

  // 4. The status, written only when it differs; 5. Events for what changed (the reconciler
  //    adds those for the writes that went through).
  const pods = egress.pods;
  const status = computeStatus(o, { ...base, ffmpeg, argv, ...(pods ? { webrtc: pods.status } : {}) });
  const changed = stableStringify(status) !== stableStringify(reconcilerPart(o.status));
  return {
    applies,
    deletes,
    ...(changed ? { status } : {}),
    events: [...(pods?.events ?? []), ...(changed ? transitionEvents(o.status, status) : [])],
    ...requeue(ffmpeg.requeueAfterMs, mediaRecheckMs(o), pods?.requeueAfterMs),
  };
}

/**
 * A create of a child that exists already as this Process's (gather found it; the caches do
 * not show it) is forced, so the apply takes back the fields another manager changed.
 */
function takeBack(a: ApplyAction, o: Observed): ApplyAction {
  const ours = a.verb === 'create' && o.uncached?.some((c) => c.ours && c.kind === a.kind && c.name === a.object.metadata?.name);
  return ours ? { ...a, force: true } : a;
}

/** The sooner of two optional waits, as a plan field. */
function requeue(...waits: (number | undefined)[]): { requeueAfterMs?: number } {
  const defined = waits.filter((w): w is number => w !== undefined);
  return defined.length > 0 ? { requeueAfterMs: Math.min(...defined) } : {};
}

function statusOnly(o: Observed, status: ReturnType<typeof computeStatus>): Plan {
  const changed = stableStringify(status) !== stableStringify(reconcilerPart(o.status));
  return {
    applies: [],
    deletes: [],
    ...(changed ? { status } : {}),
    events: changed ? transitionEvents(o.status, status) : [],
  };
}

/** The status without `progress` and `viewers`, which the progress writer owns (progress/hub.ts). */
function reconcilerPart(status: Observed['status']): Observed['status'] {
  const { progress: _progress, viewers: _viewers, ...own } = status;
  return own;
}
