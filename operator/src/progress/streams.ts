/**
 * FFmpeg's header lines (what it logs at level info before the first frame) → what each input
 * and output file holds: its format and, per stream, the type, codec, coder (decoder or encoder)
 * and the video or audio parameters. Pure. The lines come from the pod's wrapper (`log=` lines
 * of a report, ffmpeg-pod.ts), as FFmpeg 5.1 prints them:
 *
 *   Input #0, lavfi, from 'testsrc2=size=160x120:rate=25':
 *     Stream #0:0: Video: rawvideo (I420 / 0x30323449), yuv420p, 160x120 [SAR 1:1 DAR 4:3], 25 tbr, 25 tbn
 *     Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (libx264))
 *   Output #0, mpegts, to '/dev/null':
 *     Stream #0:0: Video: h264, yuv420p(progressive), 160x120 [SAR 1:1 DAR 4:3], q=2-31, 25 fps, 90k tbn
 *
 * Lines it does not know are skipped; a field it cannot read is left out.
 */
import type { StreamProgress } from '@corecast/api';

/** One stream as the header describes it (StreamProgress without the live figures). */
export type StreamInfo = Omit<StreamProgress, 'q' | 'frame'>;

/** One input or output file. */
export interface FileInfo {
  readonly format: string;
  readonly streams: StreamInfo[];
}

/** Every input and output file FFmpeg named, by file index. */
export interface Headers {
  readonly inputs: ReadonlyMap<number, FileInfo>;
  readonly outputs: ReadonlyMap<number, FileInfo>;
}

/** At most this many streams per file are kept. */
export const MAX_STREAMS = 64;

const FILE = /^(Input|Output) #(\d+), (.+?), (?:from|to) '/;
/** `Stream #0:1: Audio: …`, where an id in brackets (`[0x101]`) and a language in parentheses (`eng`) may follow `#0:1`. */
const STREAM = /^\s+Stream #(\d+):(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): (.*)$/;
/** `Stream #0:0 -> #0:0 (h264 (native) -> h264 (libx264))` or `(copy)`. */
const MAPPING = /^\s+Stream #(\d+):(\d+) -> #(\d+):(\d+) \((.*)\)$/;
/** `h264 (native) -> h264 (libx264)`: decoder and encoder, `native` meaning the codec's own. */
const CODERS = /^(\S+) \((\S+)\) -> (\S+) \((\S+)\)$/;
/** Filter graphs: `Stream #0:0 (h264) -> scale` and `format -> Stream #0:0 (libx264)`. */
const INTO_FILTER = /^\s+Stream #(\d+):(\d+) \((\S+)\) -> /;
const FROM_FILTER = / -> Stream #(\d+):(\d+) \((\S+)\)$/;

/** Channels of FFmpeg's named layouts (libavutil's channel_layout_map); `N channels` is read as N. */
const LAYOUT_CHANNELS: Readonly<Record<string, number>> = {
  mono: 1,
  stereo: 2,
  '2.1': 3,
  '3.0': 3,
  '3.0(back)': 3,
  '4.0': 4,
  quad: 4,
  'quad(side)': 4,
  '3.1': 4,
  '5.0': 5,
  '5.0(side)': 5,
  '4.1': 5,
  '5.1': 6,
  '5.1(side)': 6,
  '6.0': 6,
  '6.0(front)': 6,
  hexagonal: 6,
  '6.1': 7,
  '6.1(back)': 7,
  '6.1(front)': 7,
  '7.0': 7,
  '7.0(front)': 7,
  '7.1': 8,
  '7.1(wide)': 8,
  '7.1(wide-side)': 8,
  octagonal: 8,
  downmix: 2,
};

/** Cuts a name to the status schema's limit (api/src/progress.ts), so a write is never refused for it. */
const cut = (text: string, max: number) => text.slice(0, max);

/** Splits at commas outside parentheses and brackets: `yuv420p(tv, bt709)` stays one part. */
function parts(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(' || ch === '[') depth++;
    else if ((ch === ')' || ch === ']') && depth > 0) depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out.filter(Boolean);
}

/** `25`, `29.97`, `1k` → a number (undefined when it is none). */
function rate(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(k?)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] ? 1000 : 1);
}

/** The rest of a stream line after its type: codec, then the video or audio parameters. */
function describe(stream: number, type: string, rest: string): StreamInfo {
  const [first = '', ...more] = parts(rest);
  const info: StreamInfo = { stream, type: cut(type, 32), codec: cut(first.split(' ')[0] ?? '', 64) };
  if (type === 'video') {
    let tbr: number | undefined;
    for (const [i, p] of more.entries()) {
      const size = /^(\d+)x(\d+)/.exec(p);
      const fps = /^(\S+) (fps|tbr)$/.exec(p);
      if (size) Object.assign(info, { width: Number(size[1]), height: Number(size[2]) });
      else if (fps?.[2] === 'fps') info.fps = rate(fps[1]!);
      else if (fps) tbr = rate(fps[1]!);
      else if (i === 0 && /^[a-z0-9_]+/.test(p)) info.pixFmt = cut(/^[a-z0-9_]+/.exec(p)![0], 64);
    }
    if (info.fps === undefined && tbr !== undefined) info.fps = tbr;
    if (info.fps === undefined) delete info.fps;
  } else if (type === 'audio') {
    const hz = more.findIndex((p) => /^\d+ Hz$/.test(p));
    if (hz >= 0) {
      info.samplingHz = Number.parseInt(more[hz]!, 10);
      const layout = more[hz + 1];
      if (layout) {
        info.layout = cut(layout, 64);
        const n = /^(\d+) channels/.exec(layout);
        const channels = n ? Number(n[1]) : LAYOUT_CHANNELS[layout];
        if (channels) info.channels = channels;
      }
    }
  }
  return info;
}

/** Reads FFmpeg's header lines (with or without the `log=` prefix the wrapper adds). */
export function parseHeaders(lines: readonly string[]): Headers {
  const inputs = new Map<number, FileInfo>();
  const outputs = new Map<number, FileInfo>();
  let current: FileInfo | undefined;
  const coders: { side: 'in' | 'out'; file: number; stream: number; coder: string }[] = [];
  for (const raw of lines) {
    const line = raw.startsWith('log=') ? raw.slice(4) : raw;
    const file = FILE.exec(line);
    if (file) {
      current = { format: cut(file[3]!, 128), streams: [] };
      (file[1] === 'Input' ? inputs : outputs).set(Number(file[2]), current);
      continue;
    }
    const mapping = MAPPING.exec(line);
    if (mapping) {
      const c = CODERS.exec(mapping[5]!);
      const [inFile, inStream, outFile, outStream] = mapping.slice(1, 5).map(Number) as [number, number, number, number];
      const decoder = c ? (c[2] === 'native' ? c[1]! : c[2]!) : mapping[5]!;
      const encoder = c ? (c[4] === 'native' ? c[3]! : c[4]!) : mapping[5]!;
      if (c) coders.push({ side: 'in', file: inFile, stream: inStream, coder: decoder });
      coders.push({ side: 'out', file: outFile, stream: outStream, coder: encoder });
      current = undefined;
      continue;
    }
    const into = INTO_FILTER.exec(line);
    const from = FROM_FILTER.exec(line);
    if (into || from) {
      if (into) coders.push({ side: 'in', file: Number(into[1]), stream: Number(into[2]), coder: into[3]! });
      if (from) coders.push({ side: 'out', file: Number(from[1]), stream: Number(from[2]), coder: from[3]! });
      current = undefined;
      continue;
    }
    const stream = STREAM.exec(line);
    if (stream && current && current.streams.length < MAX_STREAMS) {
      current.streams.push(describe(Number(stream[2]), stream[3]!.toLowerCase(), stream[4]!));
    }
  }
  for (const c of coders) {
    const info = (c.side === 'in' ? inputs : outputs).get(c.file)?.streams.find((s) => s.stream === c.stream);
    if (info) info.coder = cut(c.coder, 64);
  }
  // A stream no mapping names (not used, or an input read as is): its coder is its codec's own.
  for (const files of [inputs, outputs]) for (const f of files.values()) for (const s of f.streams) s.coder ??= s.codec;
  return { inputs, outputs };
}
