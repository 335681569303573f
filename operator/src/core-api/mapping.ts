/**
 * Core's process config ↔ a Process spec, both ways, with no I/O.
 *
 * Towards the Process, only the fields the client sent become part of the applied spec: a field
 * left out is not claimed by the API's field manager, so it keeps the value another manager gave
 * it, or Corecast's default (not Go's zero value, as in Core: a config without `reconnect`
 * reconnects). Core fields Corecast has no counterpart for are refused with a 400 naming the
 * field, except where Core's own UI always sends them with a neutral value (see IGNORED).
 */
import { ProcessSpec, type ProcessSpecInput } from '@corecast/api';
import { randomBytes } from 'node:crypto';
import { badRequest, CoreApiError, zodFields } from './errors.ts';
import { coreIdProblem, processNameFor, quote } from './ids.ts';
import { ConfigIn, type ConfigOut } from './schemas.ts';

/** Core fields accepted but not kept, and why (docs/core-api.md lists them). */
export const IGNORED = {
  'input[].cleanup / output[].cleanup': 'there is no managed storage to clean up',
  type: 'only "ffmpeg" (or empty) is accepted; every Process runs FFmpeg',
  'log_patterns: []': 'empty only; there is no per-process report to collect matches in',
  'runtime_duration_seconds: 0': 'zero only',
  'scheduler: ""': 'empty only',
  'limits.gpu_*: 0': 'zero only',
  'owner / domain: ""': 'empty only',
} as const;

/** Core config field → Process spec field, for naming spec errors in Core's terms. */
const TO_CORE: Record<string, string> = {
  reconnectDelaySeconds: 'reconnect_delay_seconds',
  staleTimeoutSeconds: 'stale_timeout_seconds',
  cpuUsage: 'cpu_usage',
  memoryMbytes: 'memory_mbytes',
  waitforSeconds: 'waitfor_seconds',
  videoPayloadType: 'video_payload_type',
  audioPayloadType: 'audio_payload_type',
  forceTranscode: 'force_transcode',
  maxViewers: 'max_viewers',
};

/** A spec path (`limits.cpuUsage`) in Core's words (`limits.cpu_usage`). */
export function coreField(specPath: string): string {
  return specPath.replace(/[A-Za-z]+/g, (word) => TO_CORE[word] ?? word);
}

/**
 * What a create or replace applies: the Core id, the Process name it maps to (ids.ts; a replace
 * writes the Process it found, which kubectl may have named otherwise) and the spec fields the
 * client set.
 */
export interface ApplyIntent {
  readonly id: string;
  readonly name: string;
  readonly spec: ProcessSpecInput;
}

/**
 * A request body → the Process to apply. `pathId` is the id in the URL (replace); without one
 * (create) a missing id gets a generated name, as Core generates one.
 */
export function toProcess(body: unknown, pathId?: string): ApplyIntent {
  const parsed = ConfigIn.safeParse(body);
  if (!parsed.success) throw badRequest('Invalid process config', zodFields(parsed.error));
  const c = parsed.data;
  const refused = refusedFields(c);
  const id = processId(c.id, pathId, refused);
  if (refused.length) throw badRequest('Invalid process config: fields Corecast does not carry', refused);
  const spec = specOf(c);
  // Check the spec as the API server will (the CRD is generated from the same schema), so the
  // client hears about a bad field in Core's words; the API server checks again on apply.
  const checked = ProcessSpec.safeParse(spec);
  if (!checked.success) throw badRequest('Invalid process config', zodFields(checked.error, coreField));
  return { id, name: processNameFor(id), spec };
}

/** The Core id of a create (`pathId` undefined) or replace; a problem with it goes into `refused`. */
function processId(id: string | undefined, pathId: string | undefined, refused: { field: string; message: string }[]): string {
  if (pathId !== undefined && id !== undefined && id !== '' && id !== pathId) {
    refused.push({ field: 'id', message: `${quote(id)} differs from the id in the URL (${quote(pathId)}); a process cannot be renamed` });
    return pathId;
  }
  // As in Core: a create without an id gets a generated one (here one that is its own name).
  const chosen = id || pathId || `p-${randomBytes(8).toString('hex')}`;
  const problem = coreIdProblem(chosen);
  if (problem) refused.push({ field: 'id', message: `${quote(chosen)} is not a usable process id: ${problem}` });
  return chosen;
}

/** Fields Corecast does not carry, set to something other than Core's neutral value. */
function refusedFields(c: ConfigIn): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const refuse = (field: string, message: string) => out.push({ field, message });
  if (c.type !== undefined && c.type !== '' && c.type !== 'ffmpeg') refuse('type', `only "ffmpeg" processes run here, not "${c.type}"`);
  if (c.log_patterns?.length) refuse('log_patterns', 'not carried: there is no per-process report to collect matches in');
  if (c.runtime_duration_seconds) {
    refuse('runtime_duration_seconds', 'not carried: put "-t <seconds>" in the output options (with reconnect off)');
  }
  if (c.scheduler) refuse('scheduler', 'not carried: set the order with the start and stop commands, e.g. from a CronJob');
  for (const gpu of ['gpu_usage', 'gpu_encoder', 'gpu_decoder', 'gpu_memory_mbytes'] as const) {
    if (c.limits?.[gpu]) refuse(`limits.${gpu}`, 'not carried: Corecast has no GPU limits');
  }
  if (c.owner) refuse('owner', 'not carried: namespaces and RBAC take that role');
  if (c.domain) refuse('domain', 'not carried: namespaces and RBAC take that role');
  c.input.forEach((io, i) => io.id || refuse(`input[${i}].id`, 'required'));
  c.output.forEach((io, i) => io.id || refuse(`output[${i}].id`, 'required'));
  return out;
}

/** The spec fields the config sets (left-out fields stay out). */
function specOf(c: ConfigIn): ProcessSpecInput {
  const io = (list: ConfigIn['input']) => list.map((x) => ({ id: x.id ?? '', address: x.address, options: x.options ?? [] }));
  const spec: ProcessSpecInput = { input: io(c.input), output: io(c.output) };
  if (c.reference) spec.reference = c.reference;
  if (c.options !== undefined) spec.options = c.options;
  if (c.reconnect !== undefined) spec.reconnect = c.reconnect;
  if (c.reconnect_delay_seconds !== undefined) spec.reconnectDelaySeconds = c.reconnect_delay_seconds;
  if (c.autostart !== undefined) spec.autostart = c.autostart;
  if (c.stale_timeout_seconds !== undefined) spec.staleTimeoutSeconds = c.stale_timeout_seconds;
  if (c.limits) {
    const l = c.limits;
    const limits: NonNullable<ProcessSpecInput['limits']> = {};
    if (l.cpu_usage !== undefined) limits.cpuUsage = l.cpu_usage;
    if (l.memory_mbytes !== undefined) limits.memoryMbytes = l.memory_mbytes;
    if (l.waitfor_seconds !== undefined) limits.waitforSeconds = l.waitfor_seconds;
    if (Object.keys(limits).length) spec.limits = limits;
  }
  if (c.webrtc) {
    const w = c.webrtc;
    const webrtc: NonNullable<ProcessSpecInput['webrtc']> = {};
    if (w.enabled !== undefined) webrtc.enabled = w.enabled;
    if (w.video_payload_type !== undefined) webrtc.videoPayloadType = w.video_payload_type;
    if (w.audio_payload_type !== undefined) webrtc.audioPayloadType = w.audio_payload_type;
    if (w.force_transcode !== undefined) webrtc.forceTranscode = w.force_transcode;
    if (w.max_viewers !== undefined) webrtc.maxViewers = w.max_viewers;
    spec.webrtc = webrtc;
  }
  return spec;
}

/** A Process (its Core id, and its spec as stored, defaults filled in) → Core's config. */
export function toCoreConfig(id: string, storedSpec: unknown): ConfigOut {
  const parsed = ProcessSpec.safeParse(storedSpec);
  // The API server checked the spec against the same schema; a failure here means a CRD from
  // another release, which the caller reports as a server error.
  if (!parsed.success)
    throw new CoreApiError(
      500,
      `Process ${quote(id)} has a spec this API cannot read`,
      zodFields(parsed.error).map((f) => `${f.field}: ${f.message}`),
    );
  const s = parsed.data;
  const io = (list: typeof s.input) => list.map((x) => ({ id: x.id, address: x.address, options: [...x.options], cleanup: [] }));
  return {
    id,
    type: 'ffmpeg',
    reference: s.reference ?? '',
    input: io(s.input),
    output: io(s.output),
    options: [...s.options],
    reconnect: s.reconnect,
    reconnect_delay_seconds: s.reconnectDelaySeconds,
    autostart: s.autostart,
    stale_timeout_seconds: s.staleTimeoutSeconds,
    limits: { cpu_usage: s.limits.cpuUsage, memory_mbytes: s.limits.memoryMbytes, waitfor_seconds: s.limits.waitforSeconds },
    log_patterns: [],
    runtime_duration_seconds: 0,
    scheduler: '',
    webrtc: {
      enabled: s.webrtc.enabled,
      video_payload_type: s.webrtc.videoPayloadType,
      audio_payload_type: s.webrtc.audioPayloadType,
      force_transcode: s.webrtc.forceTranscode,
      max_viewers: s.webrtc.maxViewers,
    },
  };
}
