/**
 * A Process as read from the API server → Core's process, state and report answers, with no
 * I/O. Everything comes from what the Process already holds (spec, status, annotations); live
 * progress, CPU and memory use from `status.progress` (written every few seconds while FFmpeg
 * runs); what Core reports and the status does not carry (earlier runs, per-stream packet and
 * byte counters) is answered with Core's zero values: docs/core-api.md lists each.
 */
import { type EndpointProgress, ProcessStatus, type StreamProgress } from '@corecast/api';
import { coreIdOf } from './ids.ts';
import { toCoreConfig } from './mapping.ts';
import type { ProcessOut, ProgressOut, ReportOut, StateOut } from './schemas.ts';

type ProgressIo = ProgressOut['inputs'][number];

/** Annotation holding the process's Core metadata: a JSON object of key → any JSON value. */
export const METADATA_ANNOTATION = 'corecast.dev/core-api-metadata';

/** The parts of a Process object (as the API server returns it) read here. */
export interface ProcessObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    managedFields?: ManagedFieldsEntry[];
  };
  spec?: unknown;
  status?: unknown;
}

/** One `metadata.managedFields` entry. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The parts of an answer `filter` selects (Core: empty means all). */
export type Part = 'config' | 'state' | 'report' | 'metadata';
const PARTS: readonly Part[] = ['config', 'state', 'report', 'metadata'];

/** Core's `filter` query parameter → the parts to include (unknown names are ignored, as in Core). */
export function parseFilter(filter: string | undefined): ReadonlySet<Part> {
  const asked = (filter ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Part => (PARTS as readonly string[]).includes(s));
  return new Set(asked.length ? asked : PARTS);
}

/** Unix seconds of an RFC 3339 time (0 when absent or garbled). */
function unix(time: string | undefined): number {
  const ms = time ? Date.parse(time) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

function statusOf(p: ProcessObject): ProcessStatus {
  const parsed = ProcessStatus.safeParse(p.status ?? {});
  return parsed.success ? parsed.data : {};
}

function specField<T>(p: ProcessObject, key: string, fallback: T): T {
  const spec = p.spec as Record<string, unknown> | undefined;
  return (spec?.[key] as T | undefined) ?? fallback;
}

/** Core's progress with nothing measured: the answer while FFmpeg reports none. */
export function emptyProgress(): ProgressOut {
  return { inputs: [], outputs: [], frame: 0, packet: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 };
}

/**
 * One stream of an input or output in Core's shape (one entry per stream, as Core lists them),
 * with what the status knows filled in; Core's per-stream counters and rates it does not know
 * (packet, pps, size_kb, bitrate_kbit, and frame and fps but for the first video output) are 0.
 */
function io(e: EndpointProgress, s: StreamProgress = { stream: 0 }): ProgressIo {
  const some = <K extends string, V>(key: K, value: V | undefined) => (value !== undefined ? { [key]: value } : {});
  return {
    ...{ id: e.id, address: e.address, index: e.index, stream: s.stream, format: e.format ?? '' },
    ...{ type: s.type ?? '', codec: s.codec ?? '', coder: s.coder ?? '', frame: s.frame ?? 0, fps: s.fps ?? 0 },
    ...{ packet: 0, pps: 0, size_kb: 0, bitrate_kbit: 0 },
    ...some('q', s.q),
    ...some('pix_fmt', s.pixFmt),
    ...some('width', s.width),
    ...some('height', s.height),
    ...some('sampling_hz', s.samplingHz),
    ...some('layout', s.layout),
    ...some('channels', s.channels),
  };
}

/** An input's or output's entries: one per stream FFmpeg described, else one for the file. */
const ios = (list: readonly EndpointProgress[] | undefined) =>
  (list ?? []).flatMap((e) => (e.streams?.length ? e.streams.map((s) => io(e, s)) : [io(e)]));

/** `status.progress` in Core's shape (zeros when FFmpeg is not reporting). */
export function progressOf(s: ProcessStatus): ProgressOut {
  const p = s.progress;
  if (!p) return emptyProgress();
  return {
    inputs: ios(p.inputs),
    outputs: ios(p.outputs),
    frame: p.frame,
    packet: 0,
    fps: p.fps,
    q: p.q,
    size_kb: Math.floor(p.sizeBytes / 1024),
    time: p.timeSeconds,
    bitrate_kbit: p.bitrateKbit,
    speed: p.speed,
    drop: p.drop,
    dup: p.dup,
  };
}

/** The process's Core metadata (null when none was stored). */
export function metadataOf(p: ProcessObject): Record<string, unknown> | null {
  const raw = p.metadata.annotations?.[METADATA_ANNOTATION];
  if (!raw) return null;
  try {
    const value: unknown = JSON.parse(raw);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `GET …/state`: exec state, order, runtime, command and the last error line. */
export function stateOf(p: ProcessObject, nowMs: number): StateOut {
  const s = statusOf(p);
  const exec = s.exec ?? 'finished';
  const started = s.startedAt ? Date.parse(s.startedAt) : NaN;
  const running = exec === 'running' || exec === 'starting';
  return {
    order: specField<string>(p, 'order', 'start') === 'stop' ? 'stop' : 'start',
    exec,
    runtime_seconds: running && Number.isFinite(started) ? Math.max(0, Math.floor((nowMs - started) / 1000)) : 0,
    // The status does not say when the next start is due; Core answers -1 for "none planned".
    reconnect_seconds: -1,
    last_logline: s.lastError ?? '',
    progress: progressOf(s),
    memory_bytes: s.progress?.memoryBytes ?? 0,
    cpu_usage: s.progress?.cpuUsage ?? 0,
    command: [...(s.command ?? [])],
  };
}

/** When the Ready condition last changed (unix seconds): for an ended run, when it ended. */
function readySince(s: ProcessStatus): number {
  return unix(s.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
}

/**
 * `GET …/report`: the current or last run as far as the status knows it: when it started, its
 * last error line, and how and when it ended. Earlier runs are not kept (history is empty).
 */
export function reportOf(p: ProcessObject): ReportOut {
  const s = statusOf(p);
  const exec = s.exec ?? 'finished';
  const ended = exec === 'finished' || exec === 'failed' || exec === 'killed';
  const createdAt = unix(s.startedAt) || unix(p.metadata.creationTimestamp);
  const endedAt = ended && s.exec ? readySince(s) : 0;
  const log: [string, string][] = s.lastError ? [[String(endedAt || createdAt), s.lastError]] : [];
  return {
    created_at: createdAt,
    prelude: [],
    log,
    matches: [],
    exit_state: ended && s.exec ? exec : '',
    exited_at: endedAt,
    progress: progressOf(s),
    history: [],
  };
}

/** `GET /api/v3/process[/{id}]`: one process with the parts `filter` asked for. */
export function processOf(p: ProcessObject, parts: ReadonlySet<Part>, nowMs: number): ProcessOut {
  const id = coreIdOf(p);
  const out: ProcessOut = {
    id,
    type: 'ffmpeg',
    reference: specField(p, 'reference', ''),
    created_at: unix(p.metadata.creationTimestamp),
  };
  if (parts.has('config')) out.config = toCoreConfig(id, p.spec);
  if (parts.has('state')) out.state = stateOf(p, nowMs);
  if (parts.has('report')) out.report = reportOf(p);
  if (parts.has('metadata')) out.metadata = metadataOf(p);
  return out;
}

/** A glob of Core's `idpattern`/`refpattern` (`*` any run, `?` one character) as a RegExp. */
export function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/**
 * Core's list selection, by Core id (ids.ts): `id` (comma-separated) wins over `reference`;
 * patterns narrow further. Sorted by Core id.
 */
export function selectProcesses(
  all: readonly ProcessObject[],
  q: { id?: string; reference?: string; idpattern?: string; refpattern?: string },
): ProcessObject[] {
  const ids = (q.id ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const idGlob = q.idpattern ? globRegExp(q.idpattern) : undefined;
  const refGlob = q.refpattern ? globRegExp(q.refpattern) : undefined;
  return all
    .map((p) => ({ p, id: coreIdOf(p) }))
    .filter(({ p, id }) => {
      const ref = specField(p, 'reference', '');
      if (ids.length) return ids.includes(id);
      return !q.reference || ref === q.reference;
    })
    .filter(({ p, id }) => (!idGlob || idGlob.test(id)) && (!refGlob || refGlob.test(specField(p, 'reference', ''))))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(({ p }) => p);
}
