/**
 * The status a reconcile reports: Core's process state and the conditions, with messages a
 * person can act on. Pure. A condition keeps its lastTransitionTime while its status stays the
 * same (the Kubernetes API conventions: the last time it went from one status to another; a new
 * reason or message is not a transition), so an unchanged world gives an identical status (and
 * no write).
 */
import { type Condition, type ExecState, type ProcessStatus, playerPath, whepPath } from '@corecast/api';
import { childNames } from '../children/common.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import { isReady, startedAt, waiting } from './pod-state.ts';
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
}

/** The kind of object that routes a path. */
export type RouteObject = 'Ingress' | 'HTTPRoute';

/** What browsers go through, in words: ingress or gateway. */
const router = (route: RouteObject | undefined) => (route === 'HTTPRoute' ? 'gateway' : 'ingress');

/** RFC 3339 with seconds, as metav1.Time serialises. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Ready condition. */
export function readyCondition(o: Observed, s: StatusInputs): ConditionSpec {
  const names = childNames(o.process.name);
  const webrtc = o.process.spec.webrtc.enabled;
  const no = (reason: string, message: string): ConditionSpec => ({ status: 'False', reason, message });
  if (s.invalid) return no('InvalidSpec', `${s.invalid}. Fix the spec; nothing was changed.`);
  if (s.nameTaken)
    return no('NameTaken', `${s.nameTaken}. Delete or rename that object; the operator does not take over objects it did not make.`);
  if (s.held) {
    return no(
      'AutostartDisabled',
      'spec.autostart is false, so FFmpeg was not started when the Process was created. Change the spec (for example set spec.autostart to true) to start it.',
    );
  }
  const ff = s.ffmpeg;
  if (!ff) return no('Unknown', 'not reconciled yet');
  if (s.order === 'stop') {
    if (ff.exec === 'finishing') return no('Stopping', `spec.order is stop; pod ${names.ffmpegPod} is being deleted.`);
    return no(
      'Stopped',
      `spec.order is stop, so FFmpeg is not running. Set spec.order to start to run it.${webrtc ? ' The player stays up and shows no live source until then.' : ''}`,
    );
  }
  switch (ff.exec) {
    case 'finishing':
      return no('Restarting', `pod ${names.ffmpegPod} is being replaced; FFmpeg starts again when it is gone.`);
    case 'starting': {
      const w = ff.pod ? waiting(ff.pod) : undefined;
      if (w) return no(w.reason, `pod ${names.ffmpegPod} cannot start: ${w.reason}${w.message ? `: ${w.message}` : ''}`);
      // A load balancer usually takes longer than FFmpeg to start: say what holds the stream up.
      if (s.mediaWait) return s.mediaWait;
      return no('Starting', `waiting for pod ${names.ffmpegPod} to run.`);
    }
    case 'finished':
    case 'failed':
    case 'killed':
      return exitCondition(o, ff);
    case 'running':
      return runningCondition(o, s);
  }
}

function exitCondition(o: Observed, ff: FfmpegDecision): ConditionSpec {
  const exit = ff.exit;
  const code = exit?.exitCode !== undefined ? ` with exit code ${exit.exitCode}` : '';
  const what =
    ff.exec === 'finished'
      ? `FFmpeg finished${code}.`
      : ff.exec === 'killed'
        ? `FFmpeg was killed${exit?.reason ? ` (${exit.reason})` : ''}${exit?.lastError ? `: ${exit.lastError}` : '.'}`
        : `FFmpeg failed${code}${exit?.lastError ? `: ${exit.lastError}` : '.'}`;
  const next = o.process.spec.reconnect
    ? ` It starts again at ${ff.restartAt ?? 'once the reconnect delay has passed'} (spec.reconnect).`
    : ' spec.reconnect is false: set the corecast.dev/restart annotation to a new value to run it again.';
  const reason = ff.exec === 'finished' ? 'Finished' : ff.exec === 'killed' ? 'Killed' : 'Failed';
  return { status: 'False', reason, message: `${what}${next}` };
}

function runningCondition(o: Observed, s: StatusInputs): ConditionSpec {
  const names = childNames(o.process.name);
  if (!o.process.spec.webrtc.enabled) return { status: 'True', reason: 'Running', message: 'FFmpeg is running.' };
  if (o.routeHolder && s.route) {
    const via = router(s.route);
    return {
      status: 'False',
      reason: 'RouteConflict',
      message: `FFmpeg is running, but the ${via} path ${whepPath(o.process.name)} is served for the Process of the same name in namespace ${o.routeHolder.namespace}. Rename this Process to play it through the ${via}.`,
    };
  }
  if (s.mediaWait) return s.mediaWait;
  const egress = o.egressPod;
  if (!egress || !isReady(egress)) {
    const w = egress ? waiting(egress) : undefined;
    const detail = w ? `: ${w.reason}${w.message ? `: ${w.message}` : ''}` : ' (waiting for its server to listen)';
    return { status: 'False', reason: 'EgressNotReady', message: `FFmpeg is running; pod ${names.egressPod} is not ready yet${detail}.` };
  }
  const url = s.baseUrl ? ` Play it at ${s.baseUrl}${playerPath(o.process.name)}.` : '';
  return { status: 'True', reason: 'Running', message: `FFmpeg is running and the stream is served over WebRTC.${url}` };
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
  };
  return status;
}
