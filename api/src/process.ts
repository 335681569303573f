/**
 * The Process resource (corecast.dev/v1alpha1): datarhei Core's process config in Kubernetes
 * camelCase, plus the status the operator reports. Every field has a description; they become
 * `kubectl explain` text through the generated CRD.
 */
import { z } from 'zod';
import { PROCESS_NAME_MAX } from './constants.ts';
import { ProcessProgress } from './progress.ts';
import { type CrossFieldRule, toValidations, uniqueIds } from './rules.ts';

/** Ids of inputs and outputs: used in placeholders and logs, so kept to a safe alphabet. */
const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';

/** A process name must be a DNS-1035 label: it names a Service, which requires one. */
const NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';

const ffmpegOptions = (what: string) =>
  z
    .array(z.string().max(4096))
    .max(256)
    .default([])
    .describe(
      `FFmpeg options placed ${what}, one argument per item (for example ["-re", "-f", "lavfi"]). ` +
        'Placeholders {processid}, {reference}, {inputid} and {outputid} are replaced.',
    );

function endpoint(kind: 'input' | 'output') {
  const where = kind === 'input' ? 'before its "-i <address>"' : 'before its address, after every input';
  return z
    .object({
      id: z
        .string()
        // The pattern already caps ids at 63 characters; maxLength tells the API server's CEL cost
        // estimator so (without it the unique-ids rule is refused as too expensive).
        .max(63)
        .regex(new RegExp(ID_PATTERN))
        .describe(`Identifier of this ${kind}, unique among the process's ${kind}s; ` + `replaces {${kind}id} in its address and options.`),
      address: z
        .string()
        .min(1)
        .max(4096)
        .describe(
          kind === 'input'
            ? 'Where FFmpeg reads from: a URL (rtmp://, srt://, rtsp://, http(s)://, file:) or, with "-f lavfi" in options, a filter graph.'
            : 'Where FFmpeg writes to: a URL (rtmp://, srt://, udp://) or a file path.',
        ),
      options: ffmpegOptions(where),
    })
    .describe(`One FFmpeg ${kind}.`);
}

/** A whole number from 0 to `max`, `dflt` when absent. */
const wholeNumber = (max: number, dflt: number) => z.number().int().min(0).max(max).default(dflt);

const inputIds = uniqueIds('input');
const outputIds = uniqueIds('output');

/** An input or output list: 1–16 endpoints whose ids are unique (checked by zod and by the API server). */
const endpoints = (kind: 'input' | 'output', ids: ReturnType<typeof uniqueIds>) =>
  z
    .array(endpoint(kind))
    .min(1)
    .max(16)
    .meta({ 'x-kubernetes-validations': toValidations([ids]) })
    .superRefine((items, ctx) => {
      if (!ids.check(items)) ctx.addIssue({ code: 'custom', message: ids.message });
    });

/** Rule: the video and audio RTP legs need different payload types (they share one SDP). */
const distinctPayloadTypes: CrossFieldRule<{ videoPayloadType: number; audioPayloadType: number }> = {
  cel: 'self.videoPayloadType != self.audioPayloadType',
  check: (w) => w.videoPayloadType !== w.audioPayloadType,
  message: 'videoPayloadType and audioPayloadType must differ',
  field: 'audioPayloadType',
};

const payloadType = (kind: string, dflt: number) =>
  z.number().int().min(96).max(127).default(dflt).describe(`RTP payload type of the ${kind} leg, in the dynamic range 96–127.`);

/** Most egress replicas of one Process (replica indexes 0–31). */
export const MAX_EGRESS_REPLICAS = 32;

/** Seconds a draining egress replica takes to move its viewers away when spec.webrtc.drainSeconds is unset. */
export const DEFAULT_DRAIN_SECONDS = 30;

const replicaCount = (what: string) => z.number().int().min(1).max(MAX_EGRESS_REPLICAS).describe(`${what} (1–${MAX_EGRESS_REPLICAS}).`);

/** Rule: an autoscaler's upper bound is not below its lower bound. */
const maxNotBelowMin: CrossFieldRule<{ minReplicas: number; maxReplicas: number }> = {
  // minReplicas has a default, but CEL must not rely on defaulting having run.
  cel: 'self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 1)',
  check: (a) => a.maxReplicas >= a.minReplicas,
  message: 'maxReplicas must be at least minReplicas',
  field: 'maxReplicas',
};

/** Viewer-driven scaling of the egress replicas (spec.webrtc.autoscale). */
export const WebRtcAutoscale = z
  .object({
    minReplicas: replicaCount('Fewest egress replicas').default(1),
    maxReplicas: replicaCount('Most egress replicas'),
    targetViewersPerReplica: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .describe('Viewers one replica should hold: the wanted count is ceil(viewers / target), within min and max.'),
    scaleDownCooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .default(120)
      .describe('How long fewer replicas must have been enough before one is drained and removed.'),
  })
  .meta({ 'x-kubernetes-validations': toValidations([maxNotBelowMin]) })
  .superRefine((a, ctx) => {
    if (!maxNotBelowMin.check(a)) ctx.addIssue({ code: 'custom', message: maxNotBelowMin.message, path: ['maxReplicas'] });
  })
  .describe('Scale the egress replicas with the viewers; off when absent. Not together with replicas.');

/** Rule: a fixed replica count and the autoscaler exclude each other. */
const replicasOrAutoscale: CrossFieldRule<{ replicas?: number | undefined; autoscale?: unknown }> = {
  cel: '!(has(self.replicas) && has(self.autoscale))',
  check: (w) => w.replicas === undefined || w.autoscale === undefined,
  message: 'replicas and autoscale cannot both be set: autoscale chooses the number of replicas',
  field: 'autoscale',
};

/** WebRTC playback of a process (the paired egress pod). */
export const WebRtcSpec = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('Serve this process to browsers over WebRTC (WHEP): runs a paired egress pod and an ingress route.'),
    videoPayloadType: payloadType('H.264 video', 102),
    audioPayloadType: payloadType('Opus audio', 111),
    forceTranscode: z
      .boolean()
      .default(false)
      .describe(
        'Re-encode video with libx264 (zero-latency, no B-frames, 1 s GOP) instead of copying it. ' +
          'Needed when the source is not H.264 or carries B-frames, which WebRTC cannot play.',
      ),
    maxViewers: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(8)
      .describe('Most viewers this stream serves at once; further viewers get 503 with Retry-After.'),
    // No schema default: the API server fills defaults before its rules run, and the rule that
    // refuses replicas beside autoscale must see whether the user wrote it. Absent means 1.
    replicas: replicaCount('Egress replicas serving this stream, each its own pod; absent: 1, or what autoscale chooses').optional(),
    autoscale: WebRtcAutoscale.optional(),
    drainSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .optional()
      .describe(
        `Seconds a replica being removed takes to close its viewers, spread evenly, so their players reconnect to the others (absent: ${DEFAULT_DRAIN_SECONDS}).`,
      ),
  })
  .meta({ 'x-kubernetes-validations': toValidations<never>([distinctPayloadTypes, replicasOrAutoscale]) })
  .superRefine((w, ctx) => {
    if (!distinctPayloadTypes.check(w)) {
      ctx.addIssue({ code: 'custom', message: distinctPayloadTypes.message, path: ['audioPayloadType'] });
    }
    if (!replicasOrAutoscale.check(w)) ctx.addIssue({ code: 'custom', message: replicasOrAutoscale.message, path: ['autoscale'] });
  })
  .describe('WebRTC playback: a paired egress pod that receives RTP from FFmpeg and terminates WHEP.');

/** Resource limits of the FFmpeg pod (Core's `limits`). */
export const Limits = z
  .object({
    cpuUsage: z
      .number()
      .min(0)
      .max(6400)
      .default(0)
      .describe(
        'CPU limit in percent of one core (Core semantics: 150 = 1.5 cores); 0 means no limit. Becomes the pod CPU request and limit.',
      ),
    memoryMbytes: wholeNumber(1048576, 0).describe('Memory limit in MiB; 0 means no limit. Becomes the pod memory request and limit.'),
    waitforSeconds: wholeNumber(86400, 0).describe(
      'Kept for Core compatibility. Kubernetes enforces limits at once (CPU is throttled, memory over the limit is OOM-killed), so there is no grace period to wait for.',
    ),
  })
  .describe('Resource limits of the FFmpeg pod.');

/** The desired state of a Process: datarhei Core's process config in camelCase. */
export const ProcessSpec = z
  .object({
    reference: z
      .string()
      .max(256)
      .optional()
      .describe('Free-form label for grouping processes; replaces {reference} in addresses and options.'),
    input: endpoints('input', inputIds).describe('FFmpeg inputs, in order; at least one, ids unique.'),
    output: endpoints('output', outputIds).describe('FFmpeg outputs, in order; at least one, ids unique.'),
    options: ffmpegOptions('first, before every input (global options such as "-loglevel")'),
    reconnect: z.boolean().default(true).describe('Start FFmpeg again after it exits (for any reason), after reconnectDelaySeconds.'),
    reconnectDelaySeconds: wholeNumber(86400, 15).describe('Seconds to wait before starting FFmpeg again after it exited.'),
    autostart: z
      .boolean()
      .default(true)
      .describe('Start FFmpeg when the Process is created. When false, nothing runs until order is set to start after creation.'),
    staleTimeoutSeconds: wholeNumber(86400, 0).describe(
      'Restart FFmpeg when it makes no progress for this many seconds (FFmpeg\'s "-stats_period" progress stops); 0 turns the check off.',
    ),
    limits: Limits.default({ cpuUsage: 0, memoryMbytes: 0, waitforSeconds: 0 }),
    order: z
      .enum(['start', 'stop'])
      .default('start')
      .describe('Whether FFmpeg should run: "start" or "stop" (Core\'s start/stop command, made declarative).'),
    webrtc: WebRtcSpec.default({
      enabled: false,
      videoPayloadType: 102,
      audioPayloadType: 111,
      forceTranscode: false,
      maxViewers: 8,
    }),
  })
  .describe('Desired state: the FFmpeg command (as in datarhei Core) and its WebRTC playback.');

/** A `metav1.Condition`. */
export const Condition = z
  .object({
    type: z.string().max(316).describe('Condition type, e.g. Ready.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).optional().describe('The generation this condition was set for.'),
    lastTransitionTime: z.string().describe('When the status last changed (RFC 3339).'),
    reason: z.string().max(1024).describe('CamelCase reason for the last transition.'),
    message: z.string().max(32768).describe('Human-readable detail.'),
  })
  .describe('A condition (metav1.Condition).');

/** One egress replica as the operator last saw it. */
export const EgressReplicaStatus = z
  .object({
    replica: z
      .number()
      .int()
      .min(0)
      .max(MAX_EGRESS_REPLICAS - 1)
      .describe('Replica index (0 receives from FFmpeg and relays).'),
    name: z.string().describe('Pod name.'),
    viewers: z.number().int().min(0).optional().describe('Viewers it serves now (absent while unknown).'),
    state: z.enum(['starting', 'serving', 'draining']).describe('starting, serving, or draining (being removed).'),
  })
  .describe('One egress replica.');

/** The egress replicas of a WebRTC Process. */
export const WebRtcStatus = z
  .object({
    replicas: z
      .number()
      .int()
      .min(0)
      .max(MAX_EGRESS_REPLICAS)
      .describe('How many replicas are wanted now (spec.webrtc.replicas or the autoscaler).'),
    pods: z
      .array(EgressReplicaStatus)
      .max(MAX_EGRESS_REPLICAS)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['replica'] })
      .describe('Each egress pod, by replica index.'),
    lastScale: z
      .object({
        time: z.string().describe('When (RFC 3339).'),
        from: z.number().int().min(0).describe('Replicas wanted before.'),
        to: z.number().int().min(0).describe('Replicas wanted after.'),
        reason: z.string().max(1024).describe('Why, in words.'),
      })
      .optional()
      .describe('The last change of the wanted replica count.'),
    scaleDownSince: z
      .string()
      .optional()
      .describe('Since when fewer replicas would do (RFC 3339): one is drained once this is scaleDownCooldownSeconds old.'),
  })
  .describe('Egress replicas (WebRTC only).');

/** Core's exec states. */
export const ExecState = z.enum(['starting', 'running', 'finishing', 'finished', 'failed', 'killed']);

/** The observed state of a Process, written by the operator. */
export const ProcessStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('The spec generation the operator last acted on.'),
    conditions: z
      .array(Condition)
      .max(16)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe('Conditions: Ready, and RouteConflict when another namespace holds this process name.'),
    order: z.enum(['start', 'stop']).optional().describe('The order the operator last acted on.'),
    exec: ExecState.optional().describe('FFmpeg state as in Core: starting, running, finishing, finished, failed or killed.'),
    restarts: z.number().int().min(0).optional().describe('How many times FFmpeg was started again after exiting.'),
    startedAt: z.string().optional().describe('When the current FFmpeg run started (RFC 3339).'),
    command: z.array(z.string()).optional().describe('The FFmpeg argv of the current run, without the program name.'),
    lastError: z.string().max(4096).optional().describe('The last error line FFmpeg printed before exiting.'),
    whepUrl: z.string().optional().describe('WHEP endpoint URL (POST an SDP offer here).'),
    playerUrl: z.string().optional().describe('Browser player page URL.'),
    progress: ProcessProgress.optional(),
    viewers: z.number().int().min(0).optional().describe('Viewers the egress pods serve now, all replicas together (WebRTC only).'),
    webrtc: WebRtcStatus.optional(),
  })
  .describe('Observed state, written by the operator.');

/** Rule: the name is a DNS-1035 label short enough that every child's name fits in 63 characters. */
const nameFits: CrossFieldRule<{ metadata: { name: string } }> = {
  cel: `self.metadata.name.size() <= ${PROCESS_NAME_MAX} && self.metadata.name.matches('${NAME_PATTERN}')`,
  check: (p) => p.metadata.name.length <= PROCESS_NAME_MAX && new RegExp(NAME_PATTERN).test(p.metadata.name),
  field: 'metadata.name',
  message: `metadata.name must be a DNS-1035 label of at most ${PROCESS_NAME_MAX} characters (lower-case letters, digits and "-", starting with a letter), so that every child name fits in 63 characters`,
};

/** CRD root-level rules (about metadata, which the spec schema cannot see). */
export const ROOT_VALIDATIONS = toValidations([nameFits]);

const metadata = z
  .object({
    name: z.string().refine((name) => nameFits.check({ metadata: { name } }), nameFits.message),
    namespace: z.string().optional(),
  })
  .loose();

/** A whole Process object as read from a manifest or the API server. */
export const Process = z.object({
  apiVersion: z.string(),
  kind: z.literal('Process'),
  metadata,
  spec: ProcessSpec,
  status: ProcessStatus.optional(),
});

/** A Process spec with every default filled in. */
export type ProcessSpec = z.output<typeof ProcessSpec>;
/** A Process spec as a user writes it (defaults optional). */
export type ProcessSpecInput = z.input<typeof ProcessSpec>;
/** A Process status. */
export type ProcessStatus = z.output<typeof ProcessStatus>;
/** A condition. */
export type Condition = z.output<typeof Condition>;
/** An exec state. */
export type ExecState = z.output<typeof ExecState>;
/** A whole Process with defaults filled in. */
export type Process = z.output<typeof Process>;
/** WebRTC settings with defaults filled in. */
export type WebRtcSpec = z.output<typeof WebRtcSpec>;
/** Autoscale settings with defaults filled in. */
export type WebRtcAutoscale = z.output<typeof WebRtcAutoscale>;
/** The egress replicas' status. */
export type WebRtcStatus = z.output<typeof WebRtcStatus>;
