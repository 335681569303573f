/**
 * The FFmpeg pod (`<name>-ffmpeg`): the Process's FFmpeg command in a restricted container.
 *
 * restartPolicy is Never, always. When FFmpeg exits the pod stays (phase Succeeded or Failed)
 * and the operator reports Core's state (finished/failed/killed, the last error line from the
 * termination message); with `reconnect` it deletes the pod after `reconnectDelaySeconds` and
 * creates a new one. The kubelet's own restarts (restartPolicy Always) would ignore the delay
 * (CrashLoopBackOff doubles it from 10 s up to 5 min) and hide each run's exit from the status.
 */
import { ANNOTATIONS, buildFfmpegArgs, PORTS } from '@corecast/api';
import type { OperatorConfig } from '../config.ts';
import type { Pod } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, restartToken } from './common.ts';
import { contentHash } from './hash.ts';
import { limitsToResources } from './quantity.ts';
import { podSecurityContext, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME } from './security.ts';

/** Annotations the operator keeps on its pods (its own bookkeeping, not user settings). */
export const POD_ANNOTATIONS = {
  /** Hash of everything the pod was built from; a different hash means delete and recreate. */
  specHash: 'corecast.dev/spec-hash',
  /** How many times FFmpeg was started again after exiting, counting this pod. */
  restarts: 'corecast.dev/restarts',
} as const;

/** Where the wrapper keeps its FIFO and the progress heartbeat (in the /tmp emptyDir). */
export const PROGRESS_DIR = '/tmp/corecast';

/** The progress heartbeat: its age is how long FFmpeg has made no progress. */
export const HEARTBEAT_FILE = `${PROGRESS_DIR}/progress`;

/**
 * Runs FFmpeg with its `-progress pipe:1` output (stdout) turned into a heartbeat file in `dir`.
 * `sh -c <this> ffmpeg <argv…>`: $0 is the program, "$@" its arguments. A background reader
 * reads the progress blocks (`key=value` lines, each block ending with `progress=`) and touches
 * the heartbeat at the end of a block only when the block's `total_size` or `out_time_us` differs
 * from the last one: with two or more inputs FFmpeg reads them in threads and keeps printing a
 * block every stats period while they all stall, with the same figures. `frame=` is not used: it
 * stays 0 for an audio-only job. `exec` makes FFmpeg the container's main process, so it gets
 * SIGTERM itself and its exit code is the container's. Only stderr (FFmpeg's log) reaches the
 * container log, so the termination message ends with FFmpeg's last error.
 */
export function ffmpegWrapper(dir: string): string {
  const heartbeat = `"${dir}/progress"`;
  const fifo = `"${dir}/progress.fifo"`;
  return [
    'set -eu',
    `mkdir -p "${dir}"`,
    `: > ${heartbeat}`,
    `rm -f ${fifo}`,
    `mkfifo ${fifo}`,
    'block= last=',
    'while IFS= read -r line; do',
    '  case "$line" in',
    '    total_size=*|out_time_us=*) block="$block $line" ;;',
    `    progress=*) [ "$block" = "$last" ] || { : > ${heartbeat}; last=$block; }; block= ;;`,
    '  esac',
    `done < ${fifo} &`,
    `exec "$0" "$@" > ${fifo}`,
  ].join('\n');
}

/** The wrapper the FFmpeg pod runs (see ffmpegWrapper). */
export const FFMPEG_WRAPPER = ffmpegWrapper(PROGRESS_DIR);

/** The liveness probe behind staleTimeoutSeconds: the heartbeat must be younger than the timeout. */
export function staleProbe(staleTimeoutSeconds: number, heartbeat = HEARTBEAT_FILE) {
  return {
    exec: {
      command: ['sh', '-c', `test $(( $(date +%s) - $(stat -c %Y "${heartbeat}") )) -lt ${staleTimeoutSeconds}`],
    },
    // Checked a few times per timeout, so a stuck FFmpeg is killed within ~1.3 × the timeout.
    periodSeconds: Math.min(10, Math.max(1, Math.floor(staleTimeoutSeconds / 3))),
    timeoutSeconds: 5,
    failureThreshold: 1,
    successThreshold: 1,
  };
}

/** Where FFmpeg sends the RTP legs: the egress Service of the same Process. */
export function egressTarget(p: ProcessView) {
  return { host: `${childNames(p.name).service}.${p.namespace}.svc`, videoPort: PORTS.videoRtp, audioPort: PORTS.audioRtp };
}

/** The FFmpeg argv (without the program) for a Process; throws ValidationError on an access-rule breach. */
export function ffmpegArgv(p: ProcessView, config: OperatorConfig): string[] {
  return buildFfmpegArgs(
    { name: p.name, spec: p.spec },
    { egress: p.spec.webrtc.enabled ? egressTarget(p) : undefined, access: config.ffmpeg.access },
  );
}

/**
 * Builds the FFmpeg pod. `restarts` is carried on the pod (see reconcile/decide.ts). `argv` is
 * the command decide already built and checked (built here only when a caller has none).
 */
export function buildFfmpegPod(
  p: ProcessView,
  config: OperatorConfig,
  restarts: number,
  argv: readonly string[] = ffmpegArgv(p, config),
): Pod {
  const stale = p.spec.staleTimeoutSeconds;
  const spec: NonNullable<Pod['spec']> = {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 15,
    securityContext: podSecurityContext(config),
    ...(config.images.pullSecrets.length > 0 ? { imagePullSecrets: config.images.pullSecrets.map((name) => ({ name })) } : {}),
    containers: [
      {
        name: 'ffmpeg',
        image: config.images.ffmpeg,
        imagePullPolicy: config.images.pullPolicy,
        command: ['sh', '-c', FFMPEG_WRAPPER, 'ffmpeg'],
        args: [...argv],
        resources: limitsToResources(p.spec.limits),
        securityContext: restrictedContainerSecurity(),
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: [TMP_MOUNT],
        ...(stale > 0 ? { livenessProbe: staleProbe(stale) } : {}),
      },
    ],
    volumes: [TMP_VOLUME],
  };
  const metadata = childMeta(p, childNames(p.name).ffmpegPod, 'ffmpeg', {
    annotations: { [ANNOTATIONS.restartedFor]: restartToken(p) },
  });
  // The hash covers what the pod is, not the restart counter it carries.
  const hash = contentHash({ spec, labels: metadata.labels, annotations: metadata.annotations, owner: p.uid });
  metadata.annotations = { ...metadata.annotations, [POD_ANNOTATIONS.specHash]: hash, [POD_ANNOTATIONS.restarts]: String(restarts) };
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}
