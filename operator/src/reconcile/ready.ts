/**
 * The Ready condition as an ordered chain of small checks, the shape of cert-manager's
 * readiness policies (`policies.Chain`): each check looks at the observed state and what decide
 * made of it and either says what Ready is or passes; the first that speaks decides. The order
 * is the precedence: a spec that cannot run hides everything else, a stop order hides how the
 * last run ended, a route conflict hides a load balancer that is still coming. Pure.
 */
import { playerPath, whepPath } from '@corecast/api';
import { childNames } from '../children/common.ts';
import { isReady, waiting } from './pod-state.ts';
import type { ConditionSpec, RouteObject, StatusInputs } from './status.ts';
import type { FfmpegDecision, Observed } from './types.ts';

/** One check: the Ready condition it stands for, or undefined to let the next one speak. */
export type ReadyCheck = (o: Observed, s: StatusInputs) => ConditionSpec | undefined;

/** What browsers go through, in words: ingress or gateway. */
export const router = (route: RouteObject | undefined) => (route === 'HTTPRoute' ? 'gateway' : 'ingress');

const no = (reason: string, message: string): ConditionSpec => ({ status: 'False', reason, message });
const ffmpegPod = (o: Observed) => childNames(o.process.name).ffmpegPod;
/** The FFmpeg decision, once decide has made one, when its exec state is one of `states`. */
const execIn = (s: StatusInputs, ...states: FfmpegDecision['exec'][]) =>
  s.ffmpeg && states.includes(s.ffmpeg.exec) ? s.ffmpeg : undefined;

/** The spec cannot run (e.g. an address the access rules block). */
const invalidSpec: ReadyCheck = (_o, s) => (s.invalid ? no('InvalidSpec', `${s.invalid}. Fix the spec; nothing was changed.`) : undefined);

/** A child's name belongs to an object someone else controls. */
const nameTaken: ReadyCheck = (_o, s) =>
  s.nameTaken
    ? no('NameTaken', `${s.nameTaken}. Delete or rename that object; the operator does not take over objects it did not make.`)
    : undefined;

/** autostart: false holds a new Process. */
const autostartHeld: ReadyCheck = (_o, s) =>
  s.held
    ? no(
        'AutostartDisabled',
        'spec.autostart is false, so FFmpeg was not started when the Process was created. Change the spec (for example set spec.autostart to true) to start it.',
      )
    : undefined;

/** Nothing decided about FFmpeg yet. */
const notReconciled: ReadyCheck = (_o, s) => (s.ffmpeg ? undefined : no('Unknown', 'not reconciled yet'));

/** spec.order is stop: the pod is going or gone. */
const stopOrdered: ReadyCheck = (o, s) => {
  if (s.order !== 'stop') return undefined;
  if (s.ffmpeg?.exec === 'finishing') return no('Stopping', `spec.order is stop; pod ${ffmpegPod(o)} is being deleted.`);
  const player = o.process.spec.webrtc.enabled ? ' The player stays up and shows no live source until then.' : '';
  return no('Stopped', `spec.order is stop, so FFmpeg is not running. Set spec.order to start to run it.${player}`);
};

/** The FFmpeg pod is being replaced. */
const replacing: ReadyCheck = (o, s) =>
  execIn(s, 'finishing') ? no('Restarting', `pod ${ffmpegPod(o)} is being replaced; FFmpeg starts again when it is gone.`) : undefined;

/** The FFmpeg pod cannot start (ImagePullBackOff, Unschedulable…): the kubelet's or scheduler's reason. */
const podCannotStart: ReadyCheck = (o, s) => {
  const pod = execIn(s, 'starting')?.pod;
  const w = pod ? waiting(pod) : undefined;
  return w ? no(w.reason, `pod ${ffmpegPod(o)} cannot start: ${w.reason}${w.message ? `: ${w.message}` : ''}`) : undefined;
};

/** FFmpeg's run ended: how, and whether it starts again. */
const exited: ReadyCheck = (o, s) => {
  const ff = execIn(s, 'finished', 'failed', 'killed');
  if (!ff) return undefined;
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
  return no(reason, `${what}${next}`);
};

/** Running, and nothing else to serve without WebRTC. */
const runningWithoutWebrtc: ReadyCheck = (o, s) =>
  execIn(s, 'running') && !o.process.spec.webrtc.enabled ? { status: 'True', reason: 'Running', message: 'FFmpeg is running.' } : undefined;

/** Running, but another namespace's Process of the same name holds the path. */
const routeConflict: ReadyCheck = (o, s) => {
  if (!execIn(s, 'running') || !o.routeHolder || !s.route) return undefined;
  const via = router(s.route);
  return no(
    'RouteConflict',
    `FFmpeg is running, but the ${via} path ${whepPath(o.process.name)} is served for the Process of the same name in namespace ${o.routeHolder.namespace}. Rename this Process to play it through the ${via}.`,
  );
};

/**
 * The egress pod waits for its media load balancer (media.mode loadBalancer). Checked before
 * "Starting": a load balancer usually takes longer than FFmpeg to start, so it is what holds
 * the stream up.
 */
const waitingForLoadBalancer: ReadyCheck = (_o, s) => s.mediaWait;

/** The FFmpeg pod is on its way. */
const starting: ReadyCheck = (o, s) => (execIn(s, 'starting') ? no('Starting', `waiting for pod ${ffmpegPod(o)} to run.`) : undefined);

/** FFmpeg runs; the egress pod is not ready yet. */
const egressNotReady: ReadyCheck = (o, s) => {
  const egress = o.egressPod;
  if (!execIn(s, 'running') || (egress && isReady(egress))) return undefined;
  const w = egress ? waiting(egress) : undefined;
  const detail = w ? `: ${w.reason}${w.message ? `: ${w.message}` : ''}` : ' (waiting for its server to listen)';
  return no('EgressNotReady', `FFmpeg is running; pod ${childNames(o.process.name).egressPod} is not ready yet${detail}.`);
};

/** Everything is up: FFmpeg runs and the stream is served over WebRTC. */
const served: ReadyCheck = (o, s) => {
  const url = s.baseUrl ? ` Play it at ${s.baseUrl}${playerPath(o.process.name)}.` : '';
  return { status: 'True', reason: 'Running', message: `FFmpeg is running and the stream is served over WebRTC.${url}` };
};

/** The checks in order of precedence; the last always speaks. */
export const READY_CHECKS: readonly (readonly [name: string, check: ReadyCheck])[] = [
  ['invalidSpec', invalidSpec],
  ['nameTaken', nameTaken],
  ['autostartHeld', autostartHeld],
  ['notReconciled', notReconciled],
  ['stopOrdered', stopOrdered],
  ['replacing', replacing],
  ['podCannotStart', podCannotStart],
  ['exited', exited],
  ['runningWithoutWebrtc', runningWithoutWebrtc],
  ['routeConflict', routeConflict],
  ['waitingForLoadBalancer', waitingForLoadBalancer],
  ['starting', starting],
  ['egressNotReady', egressNotReady],
  ['served', served],
];

/** The first check of the chain that speaks, with its name. */
export function evaluateReady(o: Observed, s: StatusInputs): { check: string; condition: ConditionSpec } {
  for (const [check, fn] of READY_CHECKS) {
    const condition = fn(o, s);
    if (condition) return { check, condition };
  }
  // Unreachable: `served` always speaks.
  throw new Error('no Ready check spoke');
}

/** The Ready condition. */
export function readyCondition(o: Observed, s: StatusInputs): ConditionSpec {
  return evaluateReady(o, s).condition;
}
