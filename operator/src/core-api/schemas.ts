/**
 * The JSON shapes of datarhei Core's REST API v3 as far as Corecast serves it, written from the
 * field names and types of Core's published OpenAPI (Swagger 2.0) description: request bodies
 * (parsed loosely, as Core's Go decoder does: unknown keys are ignored) and answers (strict, so a
 * test that parses an answer with them fails on a missing, extra or mistyped field).
 */
import { z } from 'zod';

const uint = z.number().int().min(0);
const int = z.number().int();

// ---- Request bodies --------------------------------------------------------------------

/** One input or output of a process config, as a client sends it. */
export const ConfigIoIn = z
  .object({
    id: z.string().optional(),
    address: z.string(),
    options: z.array(z.string()).optional(),
    /** Core's storage cleanup rules: accepted and ignored (Corecast has no managed storage). */
    cleanup: z.array(z.unknown()).optional(),
  })
  .loose();

/** `limits` of a process config, as a client sends it (GPU fields come from newer Core releases). */
export const ConfigLimitsIn = z
  .object({
    cpu_usage: z.number().optional(),
    memory_mbytes: z.number().optional(),
    waitfor_seconds: z.number().optional(),
    gpu_usage: z.number().optional(),
    gpu_encoder: z.number().optional(),
    gpu_decoder: z.number().optional(),
    gpu_memory_mbytes: z.number().optional(),
  })
  .loose();

/** Corecast's extension of the config: WebRTC playback (Core itself has no such field and ignores it). */
export const ConfigWebrtc = z.strictObject({
  enabled: z.boolean().optional(),
  video_payload_type: int.optional(),
  audio_payload_type: int.optional(),
  force_transcode: z.boolean().optional(),
  max_viewers: int.optional(),
});

/** A process config (`api.ProcessConfig`) as a client sends it to create or replace a process. */
export const ConfigIn = z
  .object({
    id: z.string().optional(),
    type: z.string().optional(),
    reference: z.string().optional(),
    input: z.array(ConfigIoIn),
    output: z.array(ConfigIoIn),
    options: z.array(z.string()).optional(),
    reconnect: z.boolean().optional(),
    reconnect_delay_seconds: z.number().optional(),
    autostart: z.boolean().optional(),
    stale_timeout_seconds: z.number().optional(),
    limits: ConfigLimitsIn.optional(),
    log_patterns: z.array(z.string()).optional(),
    runtime_duration_seconds: z.number().optional(),
    scheduler: z.string().optional(),
    owner: z.string().optional(),
    domain: z.string().optional(),
    webrtc: ConfigWebrtc.optional(),
  })
  .loose();
/** A parsed request config. */
export type ConfigIn = z.output<typeof ConfigIn>;

/** `api.Login`. */
export const LoginIn = z.object({ username: z.string(), password: z.string() }).loose();

/** `api.Command`. */
export const CommandIn = z.object({ command: z.enum(['start', 'stop', 'restart', 'reload']) }).loose();

// ---- Answers -----------------------------------------------------------------------------

/** `api.Error`: every error answer. */
export const ErrorOut = z.strictObject({ code: int, message: z.string(), details: z.array(z.string()) });
/** An error answer. */
export type ErrorOut = z.output<typeof ErrorOut>;

/** `api.Version`. */
export const VersionOut = z.strictObject({
  number: z.string(),
  repository_commit: z.string(),
  repository_branch: z.string(),
  build_date: z.string(),
  arch: z.string(),
  compiler: z.string(),
});

/** `api.About`. */
export const AboutOut = z.strictObject({
  app: z.string(),
  auths: z.array(z.string()),
  created_at: z.string(),
  id: z.string(),
  name: z.string(),
  uptime_seconds: int,
  version: VersionOut,
});
/** An about answer. */
export type AboutOut = z.output<typeof AboutOut>;

/** `api.JWT`. */
export const JwtOut = z.strictObject({ access_token: z.string(), refresh_token: z.string() });
/** `api.JWTRefresh`. */
export const JwtRefreshOut = z.strictObject({ access_token: z.string() });

/** `api.ProcessConfigIO` as answered (cleanup rules are never kept: always empty). */
export const ConfigIoOut = z.strictObject({
  id: z.string(),
  address: z.string(),
  options: z.array(z.string()),
  cleanup: z.array(z.never()),
});

/** `api.ProcessConfigLimits`. */
export const ConfigLimitsOut = z.strictObject({ cpu_usage: z.number(), memory_mbytes: uint, waitfor_seconds: uint });

/** Corecast's WebRTC extension as answered. */
export const ConfigWebrtcOut = z.strictObject({
  enabled: z.boolean(),
  video_payload_type: int,
  audio_payload_type: int,
  force_transcode: z.boolean(),
  max_viewers: int,
});

/** `api.ProcessConfig` as answered, plus the `webrtc` extension. */
export const ConfigOut = z.strictObject({
  id: z.string(),
  type: z.literal('ffmpeg'),
  reference: z.string(),
  input: z.array(ConfigIoOut),
  output: z.array(ConfigIoOut),
  options: z.array(z.string()),
  reconnect: z.boolean(),
  reconnect_delay_seconds: uint,
  autostart: z.boolean(),
  stale_timeout_seconds: uint,
  limits: ConfigLimitsOut,
  log_patterns: z.array(z.string()),
  runtime_duration_seconds: uint,
  scheduler: z.string(),
  webrtc: ConfigWebrtcOut,
});
/** A config answer. */
export type ConfigOut = z.output<typeof ConfigOut>;

/** `api.ProgressIO` (the fields Corecast can fill; the rest of Core's are optional in its description). */
export const ProgressIoOut = z.strictObject({
  id: z.string(),
  address: z.string(),
  index: uint,
  stream: uint,
  format: z.string(),
  type: z.string(),
  codec: z.string(),
  coder: z.string(),
  frame: uint,
  fps: z.number(),
  packet: uint,
  pps: z.number(),
  size_kb: uint,
  bitrate_kbit: z.number(),
  q: z.number().optional(),
  pix_fmt: z.string().optional(),
  width: uint.optional(),
  height: uint.optional(),
  sampling_hz: uint.optional(),
  layout: z.string().optional(),
  channels: uint.optional(),
});

/** `api.Progress`. */
export const ProgressOut = z.strictObject({
  inputs: z.array(ProgressIoOut),
  outputs: z.array(ProgressIoOut),
  frame: uint,
  packet: uint,
  fps: z.number(),
  q: z.number(),
  size_kb: uint,
  time: z.number(),
  bitrate_kbit: z.number(),
  speed: z.number(),
  drop: uint,
  dup: uint,
});
/** A progress answer. */
export type ProgressOut = z.output<typeof ProgressOut>;

/** `api.ProcessState`. */
export const StateOut = z.strictObject({
  order: z.enum(['start', 'stop']),
  exec: z.enum(['starting', 'running', 'finishing', 'finished', 'failed', 'killed']),
  runtime_seconds: int,
  reconnect_seconds: int,
  last_logline: z.string(),
  progress: ProgressOut,
  memory_bytes: uint,
  cpu_usage: z.number(),
  command: z.array(z.string()),
});
/** A state answer. */
export type StateOut = z.output<typeof StateOut>;

/** `api.ProcessReportEntry`: one run (log lines are `[unix seconds as a string, line]`). */
export const ReportEntryOut = z.strictObject({
  created_at: int,
  prelude: z.array(z.string()),
  log: z.array(z.tuple([z.string(), z.string()])),
  matches: z.array(z.string()),
  exit_state: z.string(),
  exited_at: int,
  progress: ProgressOut,
});

/** `api.ProcessReport`: the current (or last) run and the runs before it. */
export const ReportOut = ReportEntryOut.extend({ history: z.array(ReportEntryOut) });
/** A report answer. */
export type ReportOut = z.output<typeof ReportOut>;

/** `api.Process`; `filter` leaves out config, state, report or metadata. */
export const ProcessOut = z.strictObject({
  id: z.string(),
  type: z.literal('ffmpeg'),
  reference: z.string(),
  created_at: int,
  config: ConfigOut.optional(),
  state: StateOut.optional(),
  report: ReportOut.optional(),
  metadata: z.unknown().optional(),
});
/** A process answer. */
export type ProcessOut = z.output<typeof ProcessOut>;
