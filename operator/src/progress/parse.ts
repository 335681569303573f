/**
 * FFmpeg's `-progress` block (`key=value` lines ending with `progress=continue|end`) → the
 * figures of `status.progress`. Pure. FFmpeg writes "N/A" (and at the start negative times) where
 * it has nothing yet; those read as 0. Per-stream quantizers (`stream_<output>_<stream>_q`) are
 * the only per-output figures FFmpeg's progress output carries. After the block the wrapper adds
 * FFmpeg's CPU and memory use (`cpu_usage=`, `memory_bytes=`) and, about once per run, FFmpeg's
 * header lines (`log=…`, read by streams.ts).
 */
import type { EndpointProgress, ProcessProgress, StreamProgress } from '@corecast/api';
import type { FileInfo, Headers } from './streams.ts';

/** The figures of one block, without the names of inputs and outputs. */
export type Figures = Omit<ProcessProgress, 'inputs' | 'outputs' | 'updatedAt'> & {
  /** Quantizers by output index, then stream index. */
  readonly streams: ReadonlyMap<number, readonly { stream: number; q: number }[]>;
};

/**
 * Largest report accepted: a block is a few hundred bytes (16 outputs of many streams stay far
 * below 16 KiB), and the header lines the wrapper adds once per run are at most 96 of 256 bytes.
 */
export const MAX_BLOCK_BYTES = 48 * 1024;

const STREAM_Q = /^stream_(\d+)_(\d+)_q$/;

/** A number at the start of a value (" 164.4kbits/s", "0.977x"), 0 for N/A or garbage, never negative unless allowed. */
function num(value: string | undefined, signed = false): number {
  const n = Number.parseFloat((value ?? '').trim());
  if (!Number.isFinite(n)) return 0;
  return signed ? n : Math.max(0, n);
}

const int = (value: string | undefined) => Math.floor(num(value));

/**
 * Parses a block; undefined when it is not one (no `progress=` line: a torn read). With several
 * blocks in the text the last complete one wins.
 */
export function parseProgressBlock(text: string): Figures | undefined {
  const lines = text.split(/\r?\n/);
  let end = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.startsWith('progress=')) {
      end = i;
      break;
    }
  }
  if (end < 0) return undefined;
  let start = end - 1;
  while (start >= 0 && !lines[start]!.startsWith('progress=')) start--;
  const kv = new Map<string, string>();
  const streams = new Map<number, { stream: number; q: number }[]>();
  for (const line of lines.slice(start + 1, end)) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1);
    const m = STREAM_Q.exec(key);
    if (m) {
      const list = streams.get(Number(m[1])) ?? [];
      list.push({ stream: Number(m[2]), q: num(value, true) });
      streams.set(Number(m[1]), list);
    } else kv.set(key, value);
  }
  const firstQ = [...streams.values()][0]?.[0]?.q ?? -1;
  const usage = new Map<string, string>();
  for (const l of lines.slice(end + 1)) {
    const [k = '', v = ''] = l.split('=');
    if (k === 'cpu_usage' || k === 'memory_bytes') usage.set(k, v);
  }
  return {
    ...(usage.has('cpu_usage') ? { cpuUsage: num(usage.get('cpu_usage')) } : {}),
    ...(usage.has('memory_bytes') ? { memoryBytes: int(usage.get('memory_bytes')) } : {}),
    frame: int(kv.get('frame')),
    fps: num(kv.get('fps')),
    q: firstQ,
    sizeBytes: int(kv.get('total_size')),
    timeSeconds: num(kv.get('out_time_us')) / 1e6,
    bitrateKbit: num(kv.get('bitrate')),
    speed: num(kv.get('speed')),
    drop: int(kv.get('drop_frames')),
    dup: int(kv.get('dup_frames')),
    streams,
  };
}

/** The `log=` lines after the report's last block (FFmpeg's header lines), undefined when none. */
export function headerLines(text: string): string[] | undefined {
  const end = text.lastIndexOf('\nprogress=');
  const lines = text
    .slice(end < 0 ? 0 : end + 1)
    .split('\n')
    .filter((l) => l.startsWith('log='));
  return lines.length ? lines : undefined;
}

/** The spec's inputs and outputs, in command order. */
export interface Endpoints {
  readonly input: readonly { readonly id: string; readonly address: string }[];
  readonly output: readonly { readonly id: string; readonly address: string }[];
}

/** One file's streams: the header's description, with the block's quantizers (outputs) added. */
function streamsOf(file: FileInfo | undefined, q: readonly { stream: number; q: number }[] = []): StreamProgress[] {
  const described: StreamProgress[] = (file?.streams ?? []).map((s) => ({ ...s }));
  for (const { stream, q: value } of q) {
    const s = described.find((d) => d.stream === stream);
    if (s) s.q = value;
    else described.push({ stream, q: value });
  }
  return described.sort((a, b) => a.stream - b.stream).slice(0, 64);
}

/**
 * The status figures: one block's numbers with the spec's inputs and outputs named, and what
 * FFmpeg's header says they hold. FFmpeg's `frame` and `fps` are those of the first video output
 * stream (the first in command order), so they go there too. Files past the spec's (the WebRTC
 * legs Corecast adds) are left out.
 */
export function toStatusProgress(f: Figures, endpoints: Endpoints, updatedAt: string, headers?: Headers): ProcessProgress {
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const format = (file: FileInfo | undefined) => (file ? { format: file.format } : {});
  const inputs: EndpointProgress[] = endpoints.input.map((e, index) => {
    const file = headers?.inputs.get(index);
    return { id: e.id, index, address: e.address, ...format(file), ...(file ? { streams: streamsOf(file) } : {}) };
  });
  const outputs: EndpointProgress[] = endpoints.output.map((e, index) => {
    const file = headers?.outputs.get(index);
    return { id: e.id, index, address: e.address, ...format(file), streams: streamsOf(file, f.streams.get(index)) };
  });
  const firstVideo = outputs.flatMap((o) => o.streams ?? []).find((s) => s.type === 'video');
  if (firstVideo && f.frame > 0) Object.assign(firstVideo, { frame: f.frame, fps: round(f.fps, 2) });
  return {
    frame: f.frame,
    fps: round(f.fps, 2),
    q: round(f.q, 1),
    sizeBytes: f.sizeBytes,
    timeSeconds: round(f.timeSeconds, 3),
    bitrateKbit: round(f.bitrateKbit, 1),
    speed: round(f.speed, 3),
    drop: f.drop,
    dup: f.dup,
    inputs,
    outputs,
    ...(f.cpuUsage !== undefined ? { cpuUsage: round(f.cpuUsage, 2) } : {}),
    ...(f.memoryBytes !== undefined ? { memoryBytes: f.memoryBytes } : {}),
    updatedAt,
  };
}
