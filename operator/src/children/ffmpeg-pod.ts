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

/** How many of FFmpeg's header lines the wrapper keeps (16 inputs and outputs of a few streams each). */
export const HEADER_LINES = 96;

/** FFmpeg's header lines the wrapper keeps (operator/src/progress/streams.ts reads them). */
export const HEADER_PATTERN = '^(Input|Output) #|^ +Stream #|^ +.* -> Stream #';

/**
 * Runs FFmpeg with its `-progress pipe:3` output (file descriptor 3, a FIFO) turned into a
 * heartbeat file in `dir`. FFmpeg's stdout goes to /dev/null: an output `-` or `pipe:1` (allowed
 * as a discarding output) is discarded and can never mix media into the progress lines.
 * `sh -c <this> ffmpeg <argv…>`: $0 is the program, "$@" its arguments. A background reader
 * reads the progress blocks (`key=value` lines, each block ending with `progress=`) and touches
 * the heartbeat at the end of a block only when the block's `total_size` or `out_time_us` differs
 * from the last one: with two or more inputs FFmpeg reads them in threads and keeps printing a
 * block every stats period while they all stall, with the same figures. `frame=` is not used: it
 * stays 0 for an audio-only job. `exec` makes FFmpeg the container's main process, so it gets
 * SIGTERM itself and its exit code is the container's. Only stderr (FFmpeg's log) reaches the
 * container log, so the termination message ends with FFmpeg's last error.
 *
 * Each whole block is also written to `<dir>/block`; with CORECAST_PROGRESS_SENDER set (the
 * script PROGRESS_SENDER, given in the environment) a separate bash loop posts that file to the
 * operator. The reader never waits on the
 * network: a sender that hangs or dies costs reports, never the heartbeat or FFmpeg.
 *
 * With a sender, FFmpeg also writes its log at level info into a second FIFO (`FFREPORT`; the
 * user's `-loglevel`, stderr and so the container log stay as they were). A reader keeps the
 * header lines (`Input #…`, `Output #…`, `  Stream #…`, the stream mapping), at most HEADER_LINES
 * of at most 256 bytes, in `<dir>/streams` for the sender, and drops the rest (`\r` ends a line
 * too: the stats line FFmpeg rewrites in place would otherwise grow into one endless line; `tr`
 * runs line-buffered under `stdbuf`, or the lines would wait for 4 KiB of log to pass).
 * FFmpeg ignores SIGPIPE: a reader that dies costs those lines only.
 */
export function ffmpegWrapper(dir: string): string {
  const heartbeat = `"${dir}/progress"`;
  const fifo = `"${dir}/progress.fifo"`;
  const log = `"${dir}/log.fifo"`;
  const streams = `"${dir}/streams"`;
  return [
    'set -eu',
    `mkdir -p "${dir}"`,
    `: > ${heartbeat}`,
    `rm -f ${fifo}`,
    `mkfifo ${fifo}`,
    'sender=',
    // $$ is this shell's pid, FFmpeg's once `exec` below runs: the sender reads its CPU and memory use.
    `if [ -n "\${CORECAST_PROGRESS_SENDER:-}" ] && command -v bash > /dev/null; then bash -c "$CORECAST_PROGRESS_SENDER" corecast-progress "${dir}" "$$" & sender=$!; fi`,
    'if [ -n "$sender" ] && command -v stdbuf > /dev/null; then',
    `  rm -f ${log}; mkfifo ${log}; : > ${streams}`,
    `  { stdbuf -oL tr '\\r' '\\n' < ${log} | grep --line-buffered -E '${HEADER_PATTERN}' | { n=0; while IFS= read -r line; do`,
    `    n=$((n + 1)); [ "$n" -gt ${HEADER_LINES} ] || printf 'log=%.256s\\n' "$line" >> ${streams}; done; }; } &`,
    `  export FFREPORT="file=${dir}/log.fifo:level=32"`,
    'fi',
    'block= last= all=',
    '{ while IFS= read -r line; do',
    '  all="$all$line',
    '"',
    '  case "$line" in',
    '    total_size=*|out_time_us=*) block="$block $line" ;;',
    `    progress=*) [ "$block" = "$last" ] || { : > ${heartbeat}; last=$block; }; printf '%s' "$all" > "${dir}/block" || :; block= all= ;;`,
    '  esac',
    `done < ${fifo}; [ -z "$sender" ] || kill "$sender" 2> /dev/null || :; } &`,
    `exec "$0" "$@" 3> ${fifo} > /dev/null`,
  ].join('\n');
}

/**
 * Sends the latest progress block (`$1/block`) every CORECAST_PROGRESS_INTERVAL seconds to
 * `POST http://$CORECAST_PROGRESS_HOST:$CORECAST_PROGRESS_PORT/progress/<namespace>/<name>`
 * (header X-Corecast-Pod-Uid), over bash's /dev/tcp: the image has no HTTP client, and FFmpeg's
 * own `-progress http://…` exits when the URL cannot be opened at start and sends nothing more
 * after the connection drops (docs/progress.md). One short request per report, each on a new
 * connection, so a new leader or a restarted operator gets the next one; a request gets 5 s.
 * A non-204 answer (503 from a standby replica) is tried again at once, twice at most.
 *
 * After the block come FFmpeg's CPU use (`cpu_usage`, percent of the CPUs the container may use,
 * as Core counts it: its cgroup quota, else the CPUs it sees) and resident memory
 * (`memory_bytes`), read from /proc for the pid in `$2`; and FFmpeg's header lines (`$1/streams`,
 * `log=…`) only while the operator lacks them: when they changed since they were last taken, or
 * when an answer carries X-Corecast-Want-Streams (a new leader, a restarted operator). So the
 * headers travel about once per run, not with every report.
 */
export const PROGRESS_SENDER = [
  'export LC_ALL=C',
  // One request: connect, send, read the answer; run under timeout, so a silent peer costs 5 s.
  // Exit 0: taken; 3: taken, and the operator wants the header lines; 1: not taken.
  `send='exec 3<>"/dev/tcp/$CORECAST_PROGRESS_HOST/$CORECAST_PROGRESS_PORT" || exit 1`,
  'printf "POST /progress/%s/%s HTTP/1.1\\r\\nHost: %s\\r\\nX-Corecast-Pod-Uid: %s\\r\\nContent-Type: text/plain\\r\\n' +
    'Content-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s" "$CORECAST_PROCESS_NAMESPACE" "$CORECAST_PROCESS_NAME" ' +
    '"$CORECAST_PROGRESS_HOST" "$CORECAST_POD_UID" "${#1}" "$1" >&3',
  'read -r proto code rest <&3; [ "$code" = 204 ] || exit 1',
  `while read -r h <&3 && [ \${#h} -gt 1 ]; do case $h in [Xx]-[Cc]orecast-[Ww]ant-[Ss]treams:*) exit 3 ;; esac; done'`,
  // The CPUs the container may use, in thousandths: the cgroup's quota (v2, then v1), else nproc.
  'cpus=$(( $(nproc 2> /dev/null || echo 1) * 1000 ))',
  'if read -r quota period 2> /dev/null < /sys/fs/cgroup/cpu.max && [ "$quota" != max ]; then cpus=$(( quota * 1000 / period ))',
  'elif read -r quota 2> /dev/null < /sys/fs/cgroup/cpu/cpu.cfs_quota_us && [ "$quota" -gt 0 ] &&',
  '  read -r period 2> /dev/null < /sys/fs/cgroup/cpu/cpu.cfs_period_us; then cpus=$(( quota * 1000 / period )); fi',
  '[ "$cpus" -gt 0 ] || cpus=1000',
  'tck=$(getconf CLK_TCK 2> /dev/null) || tck=100',
  'page=$(getconf PAGESIZE 2> /dev/null) || page=4096',
  // usage: FFmpeg's CPU time (utime + stime) since the last call over the wall time since then
  // (/proc/uptime, hundredths of a second), and its resident set size.
  'ticks0= up0=',
  'usage() {',
  '  usage=',
  '  { read -r st < "/proc/$2/stat" && read -r up _ < /proc/uptime && read -r _ rss _ < "/proc/$2/statm"; } 2> /dev/null || return 0',
  '  local f=(${st##*\\) }) u=${up/./}; u=$((10#$u))',
  '  local ticks=$(( f[11] + f[12] ))',
  '  if [ -n "$ticks0" ] && [ "$u" -gt "$up0" ]; then',
  '    local c=$(( (ticks - ticks0) * 1000000000 / (tck * (u - up0) * cpus) ))',
  '    printf -v usage "cpu_usage=%d.%02d\\n" $(( c / 100 )) $(( c % 100 ))',
  '  fi',
  '  ticks0=$ticks up0=$u',
  '  usage+="memory_bytes=$(( rss * page ))"',
  '}',
  'want=1 sent=',
  'while sleep "${CORECAST_PROGRESS_INTERVAL:-2}"; do',
  '  usage "$1" "$2"',
  '  body=$(cat "$1/block" 2> /dev/null) || continue',
  '  case "$body" in *progress=*) ;; *) continue ;; esac',
  '  streams=$(cat "$1/streams" 2> /dev/null) || streams=',
  '  with=',
  '  if [ -n "$streams" ] && { [ -n "$want" ] || [ "$streams" != "$sent" ]; }; then with=1; fi',
  '  for try in 1 2 3; do',
  '    timeout 5 bash -c "$send" send "$body',
  '$usage${with:+',
  '$streams}" 2> /dev/null',
  '    case $? in',
  '      0) want=; [ -z "$with" ] || sent=$streams; break ;;',
  '      3) want=1; [ -z "$with" ] || sent=$streams; break ;;',
  '    esac',
  '  done',
  'done',
].join('\n');

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

/** The wrapper's environment for sending progress to `config.progress.endpoint` (none without one). */
export function progressEnv(p: ProcessView, config: OperatorConfig) {
  const endpoint = config.progress.endpoint;
  if (!endpoint) return [];
  const colon = endpoint.lastIndexOf(':');
  return [
    { name: 'CORECAST_PROGRESS_SENDER', value: PROGRESS_SENDER },
    { name: 'CORECAST_PROGRESS_HOST', value: endpoint.slice(0, colon) },
    { name: 'CORECAST_PROGRESS_PORT', value: endpoint.slice(colon + 1) },
    { name: 'CORECAST_PROGRESS_INTERVAL', value: String(config.progress.reportIntervalSeconds) },
    { name: 'CORECAST_PROCESS_NAMESPACE', value: p.namespace },
    { name: 'CORECAST_PROCESS_NAME', value: p.name },
    { name: 'CORECAST_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
  ];
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
        ...(config.progress.endpoint ? { env: progressEnv(p, config) } : {}),
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
