/**
 * Reading a pod the way Core reports a process: exec state, start time, exit, last error line.
 * Pure functions of the pod JSON (as the kubelet writes it in pod.status).
 */
import type { ExecState } from '@corecast/api';
import { POD_ANNOTATIONS } from '../children/ffmpeg-pod.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';

type PodView = DeepReadonly<Pod>;

/** The state of the pod's first (only) container. */
function containerStatus(pod: PodView) {
  return pod.status?.containerStatuses?.[0];
}

/** True when the pod is being deleted. */
export function isDeleting(obj: { metadata?: { deletionTimestamp?: string } | undefined }): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

/** True when the pod's container has exited for good (restartPolicy Never: phase Succeeded or Failed). */
export function hasExited(pod: PodView): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** How a run ended. */
export interface Exit {
  exec: Extract<ExecState, 'finished' | 'failed' | 'killed'>;
  exitCode: number | undefined;
  /** Container or pod reason: Completed, Error, OOMKilled, Evicted, DeadlineExceeded… */
  reason: string | undefined;
  /** When it ended (RFC 3339), if known. */
  finishedAt: string | undefined;
  /** The last error line (from the termination message, or a sentence about the reason). */
  lastError: string | undefined;
}

/** SIGKILL's exit status (128 + 9): the container was killed (OOM, a failed liveness probe, eviction). */
const SIGKILL_EXIT = 137;

/** Reads how the pod's run ended, or undefined while it runs. */
export function exitOf(pod: PodView): Exit | undefined {
  if (!hasExited(pod)) return undefined;
  const terminated = containerStatus(pod)?.state?.terminated ?? containerStatus(pod)?.lastState?.terminated;
  const exitCode = terminated?.exitCode;
  const reason = terminated?.reason ?? pod.status?.reason ?? undefined;
  let exec: Exit['exec'];
  if (reason === 'OOMKilled' || exitCode === SIGKILL_EXIT || pod.status?.reason === 'Evicted') exec = 'killed';
  else if (pod.status?.phase === 'Succeeded' || exitCode === 0) exec = 'finished';
  else exec = 'failed';
  const line = lastErrorLine(terminated?.message ?? pod.status?.message ?? '');
  const lastError =
    line ??
    (reason === 'OOMKilled'
      ? 'OOMKilled: FFmpeg used more memory than limits.memoryMbytes allows'
      : exec === 'finished'
        ? undefined
        : reason
          ? `${reason}${exitCode !== undefined ? ` (exit code ${exitCode})` : ''}`
          : undefined);
  const finishedAt = terminated?.finishedAt ?? lastCondition(pod);
  return { exec, exitCode, reason, finishedAt, lastError };
}

function lastCondition(pod: PodView): string | undefined {
  const times = (pod.status?.conditions ?? []).map((c) => c.lastTransitionTime).filter((t): t is string => Boolean(t));
  return times.sort().at(-1);
}

/** FFmpeg's periodic statistics and -progress lines, which are not errors. */
const NOISE = /^(frame=|size=|progress=|[a-z_0-9]+=\S*$)/;

/**
 * The last line of a termination message that says something: FFmpeg's final error. The
 * message is the container's last log lines (FallbackToLogsOnError), where statistics lines
 * may be separated by carriage returns.
 */
export function lastErrorLine(message: string): string | undefined {
  const lines = message
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !NOISE.test(l));
  const last = lines.at(-1);
  return last === undefined ? undefined : last.slice(0, 4096);
}

/** When the current run started (the container's start), if it has. */
export function startedAt(pod: PodView): string | undefined {
  const s = containerStatus(pod)?.state;
  return s?.running?.startedAt ?? s?.terminated?.startedAt ?? undefined;
}

/** True when the container is running. */
export function isRunning(pod: PodView): boolean {
  return pod.status?.phase === 'Running' && Boolean(containerStatus(pod)?.state?.running);
}

/** True when the pod's Ready condition is True. */
export function isReady(pod: PodView): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Why a container is waiting (ImagePullBackOff, CreateContainerConfigError…), with the kubelet's message. */
export function waiting(pod: PodView): { reason: string; message: string } | undefined {
  const w = containerStatus(pod)?.state?.waiting;
  if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
    return { reason: w.reason, message: w.message ?? '' };
  }
  const unschedulable = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unschedulable?.reason === 'Unschedulable') return { reason: 'Unschedulable', message: unschedulable.message ?? '' };
  return undefined;
}

/** The restart counter a pod carries (0 when absent or garbled). */
export function podRestarts(pod: PodView): number {
  const n = Number(pod.metadata?.annotations?.[POD_ANNOTATIONS.restarts]);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** The content hash a pod was built with. */
export function podHash(pod: PodView): string | undefined {
  return pod.metadata?.annotations?.[POD_ANNOTATIONS.specHash];
}
