/**
 * FFmpeg's `-progress` block (`key=value` lines ending with `progress=continue|end`) → the
 * figures of `status.progress`. Pure. FFmpeg writes "N/A" (and at the start negative times) where
 * it has nothing yet; those read as 0. Per-stream quantizers (`stream_<output>_<stream>_q`) are
 * the only per-output figures FFmpeg's progress output carries.
 */
import type { EndpointProgress, ProcessProgress } from '@corecast/api';

/** The figures of one block, without the names of inputs and outputs. */
export type Figures = Omit<ProcessProgress, 'inputs' | 'outputs' | 'updatedAt'> & {
  /** Quantizers by output index, then stream index. */
  readonly streams: ReadonlyMap<number, readonly { stream: number; q: number }[]>;
};

/** Largest block accepted (a block is a few hundred bytes; 16 outputs of many streams stay far below). */
export const MAX_BLOCK_BYTES = 16 * 1024;

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
  return {
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

/** The spec's inputs and outputs, in command order. */
export interface Endpoints {
  readonly input: readonly { readonly id: string; readonly address: string }[];
  readonly output: readonly { readonly id: string; readonly address: string }[];
}

/** The status figures: one block's numbers with the spec's inputs and outputs named. */
export function toStatusProgress(f: Figures, endpoints: Endpoints, updatedAt: string): ProcessProgress {
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const inputs: EndpointProgress[] = endpoints.input.map((e, index) => ({ id: e.id, index, address: e.address }));
  const outputs: EndpointProgress[] = endpoints.output.map((e, index) => ({
    id: e.id,
    index,
    address: e.address,
    streams: [...(f.streams.get(index) ?? [])].slice(0, 64),
  }));
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
    updatedAt,
  };
}
