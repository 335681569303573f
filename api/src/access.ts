/**
 * FFmpeg access: everything an FFmpeg command line makes FFmpeg open — the addresses, and also
 * `-i` and output names hidden in options, options that name files or URLs, files read or
 * written by filters — judged against allow/block rules that see through FFmpeg's wrapping
 * protocols (`async:`, `cache:`, `subfile,,…:`, `concat:a|b`, `crypto:`, `tee:` …).
 *
 * The command line is read the way FFmpeg 5.1's fftools read it (which options take a value,
 * `--`, a bare argument ending an output); filter graphs the way libavfilter parses them (two
 * levels of quoting and escaping, positional filter options); URLs the way libavformat picks a
 * protocol. Pure: no I/O.
 */
import { posix } from 'node:path';
import type { FieldError } from './validate.ts';

/** Core's `ffmpeg.access`: regular expressions what FFmpeg opens must (allow) or must not (block) match. */
export interface AccessRules {
  /** Rules for what FFmpeg reads: input addresses, `-i`, files that options and filters read. */
  readonly input?: { readonly allow?: readonly string[]; readonly block?: readonly string[] };
  /** Rules for what FFmpeg writes: output addresses, output names, files that options and filters write. */
  readonly output?: { readonly allow?: readonly string[]; readonly block?: readonly string[] };
}

/** Network protocols FFmpeg streams over (the `scheme://` of an address). */
const NETWORK = '^(rtmp|rtmpe|rtmps|rtmpt|rtmpte|rtmpts|rtsp|rtsps|srt|rist|http|https|hls\\+https?|udp|rtp|srtp|tcp|tls)://';

/**
 * The operator's default rules: network addresses; lavfi graphs (test patterns) as inputs; the
 * discarding outputs `-`, `pipe:1`/`pipe:2` and `/dev/null`. Local files, devices, file-reading
 * filters and content-driven lists (concat) match no allow rule, so they are refused.
 */
export const DEFAULT_ACCESS_RULES = {
  input: { allow: [NETWORK, '^lavfi:'], block: [] as string[] },
  output: { allow: [NETWORK, '^icecast://', '^-$', '^pipe:[12]?$', '^(file:)?/dev/null$'], block: [] as string[] },
} as const;

/** Which rules a token is judged by. */
export type Direction = 'input' | 'output';

/** One element of the FFmpeg argv and where it came from. */
export interface ArgItem {
  readonly arg: string;
  /** The spec field it came from (e.g. `spec.input[0].options[3]`); undefined for what Corecast adds. */
  readonly field?: string;
  /** For an element Corecast adds: the role it has when FFmpeg reads the argv as intended (then it is not judged). */
  readonly trusted?: 'option' | 'value' | 'output';
}

/** Something FFmpeg opens, and what it is. */
export interface OpenedToken {
  readonly direction: Direction;
  readonly field: string;
  /** The token as written (after placeholders). */
  readonly value: string;
  /** What it is, for messages: "address", "input given with -i in the options", "file of the movie filter" … */
  readonly what: string;
  /** How to read it: a URL, a filter graph (`-f lavfi`), or something no rule can see into (always a leaf). */
  readonly form: 'url' | 'lavfi' | 'opaque';
}

// ---------------------------------------------------------------------------------------------
// Tokens as libavutil reads them.

const WHITESPACE = ' \n\t\r';

/**
 * libavutil's av_get_token: skips leading white space, reads up to a terminator outside quotes,
 * `\x` is x, `'…'` is literal, trailing unquoted white space is dropped. Returns the token and
 * the index where reading stopped (at the terminator, not past it).
 */
export function getToken(s: string, start: number, terms: string): [string, number] {
  let p = start;
  while (p < s.length && WHITESPACE.includes(s[p] as string)) p++;
  let out = '';
  let end = 0;
  while (p < s.length && !terms.includes(s[p] as string)) {
    const c = s[p++] as string;
    if (c === '\\' && p < s.length) {
      out += s[p++];
      end = out.length;
    } else if (c === "'") {
      while (p < s.length && s[p] !== "'") out += s[p++];
      if (p < s.length) {
        p++;
        end = out.length;
      }
    } else out += c;
  }
  let trimmed = out.length;
  while (trimmed > end && WHITESPACE.includes(out[trimmed - 1] as string)) trimmed--;
  return [out.slice(0, trimmed), p];
}

const KEY_CHAR = /[A-Za-z0-9_/.-]/;

/** libavutil's av_opt_get_key_value with "=" and ":": one `key=value` or implicit value. */
function keyValue(s: string, start: number): { key?: string; value: string; next: number } {
  let p = start;
  while (p < s.length && WHITESPACE.includes(s[p] as string)) p++;
  const keyStart = p;
  while (p < s.length && KEY_CHAR.test(s[p] as string)) p++;
  const keyEnd = p;
  while (p < s.length && WHITESPACE.includes(s[p] as string)) p++;
  let key: string | undefined;
  let at = start;
  if (p < s.length && s[p] === '=') {
    key = s.slice(keyStart, keyEnd);
    at = p + 1;
  }
  const [value, next] = getToken(s, at, ':');
  return { ...(key !== undefined ? { key } : {}), value, next: next < s.length ? next + 1 : next };
}

/** Options of one filter instance: named ones, and the positional values in order. */
function filterOptions(args: string): { named: [string, string][]; positional: string[] } {
  const named: [string, string][] = [];
  const positional: string[] = [];
  let p = 0;
  let implicit = true;
  while (p < args.length) {
    const kv = keyValue(args, p);
    if (kv.key !== undefined) {
      implicit = false;
      named.push([kv.key, kv.value]);
    } else if (implicit) positional.push(kv.value);
    else named.push(['', kv.value]);
    if (kv.next <= p) break;
    p = kv.next;
  }
  return { named, positional };
}

/** One filter of a graph: its name (without `@instance`) and its argument string (unescaped once). */
export interface GraphFilter {
  readonly name: string;
  readonly args: string;
}

/** libavfilter's graph syntax: chains split by `;`, filters by `,`, `[labels]` around, `name=args`. */
export function parseGraph(graph: string): GraphFilter[] {
  const filters: GraphFilter[] = [];
  let p = 0;
  const skipSpace = () => {
    while (p < graph.length && WHITESPACE.includes(graph[p] as string)) p++;
  };
  const skipLabels = () => {
    skipSpace();
    while (graph[p] === '[') {
      const close = graph.indexOf(']', p);
      p = close < 0 ? graph.length : close + 1;
      skipSpace();
    }
  };
  while (p < graph.length) {
    skipLabels();
    if (p >= graph.length) break;
    const [name, afterName] = getToken(graph, p, '=,;[');
    p = afterName;
    let args = '';
    if (graph[p] === '=') {
      const [a, afterArgs] = getToken(graph, p + 1, '[],;');
      args = a;
      p = afterArgs;
    }
    if (name) filters.push({ name: name.split('@')[0] as string, args });
    skipLabels();
    if (p < graph.length && (graph[p] === ',' || graph[p] === ';')) p++;
    else if (p < graph.length && afterName === p && !name) p++;
  }
  return filters;
}

// ---------------------------------------------------------------------------------------------
// Filters that open files, URLs or libraries (FFmpeg 5.1's `ffmpeg -h filter=<name>`).

interface FilterFiles {
  /** Option names in positional order, up to the last file option (aliases left out). */
  readonly positional: readonly string[];
  /** Option (and alias) names that hold something opened, and which way. */
  readonly files: Readonly<Record<string, Direction | 'url' | 'graph-format'>>;
  /** The filter can open things its options do not show (commands, plug-ins, models): judged as `filter:<name>`. */
  readonly opaque?: boolean;
}

const READ = 'input' as const;
const WRITE = 'output' as const;
const movie: FilterFiles = {
  positional: ['filename', 'format_name'],
  files: { filename: 'url', format_name: 'graph-format', f: 'graph-format' },
};
const subtitles: FilterFiles = {
  positional: ['filename', 'original_size', 'fontsdir'],
  files: { filename: READ, f: READ, fontsdir: READ },
};
const sendcmd: FilterFiles = { positional: ['commands', 'filename'], files: { filename: READ, f: READ }, opaque: true };
const statsFile: FilterFiles = { positional: ['stats_file'], files: { stats_file: WRITE, f: WRITE } };
const opaque: FilterFiles = { positional: [], files: {}, opaque: true };
const metadata: FilterFiles = { positional: ['mode', 'key', 'value', 'function', 'expr', 'file'], files: { file: WRITE } };
const cells: FilterFiles = { positional: ['filename'], files: { filename: READ, f: READ } };

/** Every filter of FFmpeg 5.1 with an option naming a file, URL, model, plug-in or command source. */
export const FILE_FILTERS: Readonly<Record<string, FilterFiles>> = {
  movie,
  amovie: movie,
  subtitles,
  ass: subtitles,
  sendcmd,
  asendcmd: sendcmd,
  zmq: opaque,
  azmq: opaque,
  ladspa: opaque,
  lv2: opaque,
  frei0r: opaque,
  frei0r_src: opaque,
  arnndn: opaque,
  dnn_classify: opaque,
  dnn_detect: opaque,
  dnn_processing: opaque,
  sr: opaque,
  derain: opaque,
  ocr: opaque,
  asr: opaque,
  libvmaf: opaque,
  openclsrc: opaque,
  program_opencl: opaque,
  lut1d: { positional: ['file'], files: { file: READ } },
  lut3d: { positional: ['file'], files: { file: READ } },
  sofalizer: { positional: ['sofa'], files: { sofa: READ } },
  signature: { positional: ['detectmode', 'nb_inputs', 'filename'], files: { filename: WRITE } },
  psnr: statsFile,
  ssim: statsFile,
  vmafmotion: statsFile,
  vidstabdetect: { positional: ['result'], files: { result: WRITE } },
  vidstabtransform: { positional: ['input'], files: { input: READ } },
  deshake: {
    positional: ['x', 'y', 'w', 'h', 'rx', 'ry', 'edge', 'blocksize', 'contrast', 'search', 'filename'],
    files: { filename: WRITE },
  },
  firequalizer: {
    positional: ['gain', 'gain_entry', 'delay', 'accuracy', 'wfunc', 'fixed', 'multi', 'zero_phase', 'scale', 'dumpfile'],
    files: { dumpfile: WRITE },
  },
  metadata,
  ametadata: metadata,
  removelogo: cells,
  cellauto: cells,
  life: cells,
  cover_rect: { positional: ['cover'], files: { cover: READ } },
  find_rect: { positional: ['object'], files: { object: READ } },
  libplacebo: { positional: [], files: { custom_shader_path: READ } },
  drawtext: { positional: ['fontfile', 'text', 'textfile'], files: { fontfile: READ, textfile: READ } },
  curves: { positional: ['preset', 'master', 'red', 'green', 'blue', 'all', 'psfile', 'plot'], files: { psfile: READ, plot: WRITE } },
  fieldhint: { positional: ['hint'], files: { hint: READ } },
  flite: { positional: ['list_voices', 'nb_samples', 'text', 'textfile'], files: { textfile: READ } },
  nnedi: { positional: ['weights'], files: { weights: READ } },
  paletteuse: {
    positional: ['dither', 'bayer_scale', 'diff_mode', 'new', 'alpha_threshold', 'use_alpha', 'debug_kdtree'],
    files: { debug_kdtree: WRITE },
  },
  selectivecolor: {
    positional: ['correction_method', 'reds', 'yellows', 'greens', 'cyans', 'blues', 'magentas', 'whites', 'neutrals', 'blacks', 'psfile'],
    files: { psfile: READ },
  },
  showcqt: {
    positional: [
      'size',
      'fps',
      'bar_h',
      'axis_h',
      'sono_h',
      'fullhd',
      'sono_v',
      'bar_v',
      'sono_g',
      'bar_g',
      'bar_t',
      'timeclamp',
      'attack',
      'basefreq',
      'endfreq',
      'coeffclamp',
      'tlength',
      'count',
      'fcount',
      'fontfile',
      'font',
      'fontcolor',
      'axisfile',
    ],
    files: { fontfile: READ, axisfile: READ },
  },
  xfade_opencl: opaque,
};

// ---------------------------------------------------------------------------------------------
// The ffmpeg command line (FFmpeg 5.1 fftools).

/** fftools options that take no value (checked against `ffmpeg -v debug`); any other option takes one. */
const NO_VALUE = new Set([
  'accurate_seek',
  'an',
  'auto_conversion_filters',
  'benchmark',
  'benchmark_all',
  'bitexact',
  'copy_unknown',
  'copyinkf',
  'copyts',
  'debug_ts',
  'dn',
  'dump',
  'find_stream_info',
  'fix_sub_duration',
  'force_fps',
  'hex',
  'hide_banner',
  'ignore_unknown',
  'n',
  'psnr',
  'qphist',
  're',
  'recast_media',
  'report',
  'shortest',
  'sn',
  'start_at_zero',
  'stats',
  'stdin',
  'vn',
  'vstats',
  'xerror',
  'y',
]);
/** Boolean options that also have a `-no<name>` form without a value. */
const NEGATABLE = new Set([...[...NO_VALUE].filter((o) => o !== 'report' && o !== 'vstats'), 'autorotate', 'autoscale']);

/** Options whose value FFmpeg opens: fftools' own and the format, protocol and codec options that name files or URLs. */
export const FILE_OPTIONS: Readonly<Record<string, readonly Direction[]>> = {
  // fftools
  attach: [READ],
  filter_script: [READ],
  filter_complex_script: [READ],
  fpre: [READ],
  pre: [READ],
  vpre: [READ],
  apre: [READ],
  spre: [READ],
  init_hw_device: [READ],
  hwaccel_device: [READ],
  vaapi_device: [READ],
  qsv_device: [READ],
  progress: [WRITE],
  vstats_file: [WRITE],
  sdp_file: [WRITE],
  dump_attachment: [WRITE],
  passlogfile: [READ, WRITE],
  // fftools of later FFmpeg releases (the image may be newer than the rules were written for)
  stats_enc_pre: [WRITE],
  stats_enc_post: [WRITE],
  stats_mux_pre: [WRITE],
  stats_file: [WRITE],
  // protocols
  ca_file: [READ],
  cafile: [READ],
  cert_file: [READ],
  key_file: [READ],
  private_key: [READ],
  rtmp_swfverify: [READ],
  // codecs: OpenMAX loads the shared library these name
  omx_libname: [READ],
  omx_libprefix: [READ],
  // demuxers and devices
  graph_file: [READ],
  ifo_palette: [READ],
  assetmaps: [READ],
  sub_name: [READ],
  // muxers
  hls_segment_filename: [WRITE],
  hls_key_info_file: [READ],
  hls_subtitle_path: [WRITE],
  segment_list: [WRITE],
  segment_header_filename: [WRITE],
};

/** Muxer options that name a file next to the output: a relative name stays where the output is. */
const RELATIVE_TO_OUTPUT: Readonly<Record<string, Direction>> = {
  hls_fmp4_init_filename: WRITE,
  master_pl_name: WRITE,
  init_seg_name: WRITE,
  media_seg_name: WRITE,
  single_file_name: WRITE,
};

/** Encoder parameter strings (`-x264-params a=b:c=d`) and their keys that name files. */
const PARAM_OPTIONS = new Set(['x264-params', 'x264opts', 'x265-params']);
const PARAM_FILES = new Set([
  'stats',
  'qpfile',
  'cqmfile',
  'csv',
  'dump-yuv',
  'recon',
  'analysis-save',
  'analysis-load',
  'analysis-reuse-file',
  'lambda-file',
  'zonefile',
  'dolby-vision-rpu',
]);

/**
 * Protocol lists: FFmpeg lets a file fetched over the network (a playlist, a concat list) name
 * only network protocols, unless the command widens the list. Each protocol listed is judged as
 * `<protocol>://`, so network protocols pass the default rules and `file`, `concatf` … do not.
 */
const PROTOCOL_LISTS = new Set(['protocol_whitelist']);

/** Options whose value is a filter graph (`-graph`: the lavfi device's graph, used instead of its address). */
const GRAPH_OPTIONS = new Set(['vf', 'af', 'filter', 'filter_complex', 'lavfi', 'graph']);

/** Reads the argv as FFmpeg does and lists everything it opens (Corecast's own trusted parts left out). */
export function openedTokens(items: readonly ArgItem[]): OpenedToken[] {
  const out: OpenedToken[] = [];
  let format: string | undefined;
  /** `-safe` set in this group: a concat list FFmpeg finds by probing (no `-f concat`) may then name any file. */
  let unsafeConcat = false;
  let dashdash = -2;
  const where = (item: ArgItem) => item.field ?? 'the command Corecast adds';
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as ArgItem;
    const a = item.arg;
    if (a === '--' && !(dashdash === i - 1)) {
      dashdash = i;
      continue;
    }
    if (!a.startsWith('-') || a === '-' || dashdash === i - 1) {
      // A bare argument ends an output group: it is an output.
      if (item.trusted !== 'output') {
        const address = item.field?.endsWith('.address');
        const what = address ? 'address' : 'output (a bare argument in options is one more output)';
        out.push(...tokensOfOutput(a, item, where(item), what, format));
      }
      format = undefined;
      unsafeConcat = false;
      continue;
    }
    const name = a.slice(1);
    const base = name.split(':')[0] as string;
    if (NO_VALUE.has(base) || (base.startsWith('no') && NEGATABLE.has(base.slice(2)))) continue;
    const valueItem = items[i + 1];
    i++;
    if (!valueItem) break; // "Missing argument": FFmpeg stops before opening anything.
    const value = valueItem.arg;
    if (base === 'f') {
      format = value;
      continue;
    }
    if (base === 'safe' && value.trim() !== '1') unsafeConcat = true;
    if (item.trusted === 'option' && valueItem.trusted === 'value') continue;
    const field = where(valueItem);
    if (base === 'i') {
      const address = valueItem.field?.endsWith('.address');
      const what = address ? 'address' : 'input (-i in options)';
      if (format === 'lavfi') {
        out.push({ direction: READ, field, value, what, form: 'lavfi' });
        out.push(...graphTokens(value, field, `a filter of ${address ? 'the lavfi graph' : 'a lavfi graph given with -i'}`));
      } else {
        out.push({ direction: READ, field, value, what, form: 'url' });
        if (format === 'concat' || unsafeConcat) {
          out.push({ direction: READ, field, value: `concat-list:${value}`, what: 'concat list (-f concat or -safe)', form: 'opaque' });
        }
      }
      format = undefined;
      unsafeConcat = false;
    } else if (base.startsWith('/')) {
      out.push({ direction: READ, field, value, what: `file of -${name}`, form: 'url' });
    } else if (GRAPH_OPTIONS.has(base)) {
      out.push(...graphTokens(value, field, `a filter of -${name}`));
    } else if (FILE_OPTIONS[base]) {
      for (const direction of FILE_OPTIONS[base]) out.push({ direction, field, value, what: `file of -${name}`, form: 'url' });
    } else if (RELATIVE_TO_OUTPUT[base]) {
      if (value.startsWith('/') || /^[A-Za-z0-9+.-]*:/.test(value)) {
        out.push({ direction: RELATIVE_TO_OUTPUT[base], field, value, what: `file of -${name}`, form: 'url' });
      }
    } else if (PROTOCOL_LISTS.has(base)) {
      for (const protocol of value.split(',').map((x) => x.trim())) {
        out.push({ direction: READ, field, value: `${protocol}://`, what: `protocol in -${name}`, form: 'url' });
      }
    } else if (PARAM_OPTIONS.has(base)) {
      for (const [key, file] of paramPairs(value)) {
        if (PARAM_FILES.has(key)) {
          for (const direction of [READ, WRITE])
            out.push({ direction, field, value: file, what: `file of ${key} in -${name}`, form: 'url' });
        }
      }
    }
  }
  return out;
}

function paramPairs(value: string): [string, string][] {
  const pairs: [string, string][] = [];
  let p = 0;
  while (p < value.length) {
    const [pair, next] = getToken(value, p, ':');
    const eq = pair.indexOf('=');
    if (eq > 0) pairs.push([pair.slice(0, eq), pair.slice(eq + 1)]);
    p = next + 1;
  }
  return pairs;
}

/** An output name: with `-f tee`, every slave (and the files its options name). */
function tokensOfOutput(value: string, item: ArgItem, field: string, what: string, format: string | undefined): OpenedToken[] {
  void item;
  if (format !== 'tee') return [{ direction: WRITE, field, value, what, form: 'url' }];
  const tokens: OpenedToken[] = [];
  let p = 0;
  while (p < value.length) {
    const [slave, next] = getToken(value, p, '|');
    const { options, url } = teeSlave(slave);
    tokens.push({ direction: WRITE, field, value: url, what: `${what}: a slave of the tee muxer`, form: 'url' });
    for (const [key, v] of options) {
      if (FILE_OPTIONS[key])
        for (const direction of FILE_OPTIONS[key])
          tokens.push({ direction, field, value: v, what: `file of ${key} in a tee slave`, form: 'url' });
    }
    p = next + 1;
  }
  return tokens;
}

/** A tee slave: `[key=value:…]url`. */
function teeSlave(slave: string): { options: [string, string][]; url: string } {
  if (!slave.startsWith('[')) return { options: [], url: slave };
  const close = slave.indexOf(']');
  if (close < 0) return { options: [], url: slave };
  const { named } = filterOptions(slave.slice(1, close));
  return { options: named, url: slave.slice(close + 1) };
}

/** What the filters of a graph open. */
function graphTokens(graph: string, field: string, what: string, depth = 0): OpenedToken[] {
  const tokens: OpenedToken[] = [];
  for (const f of parseGraph(graph)) {
    const spec = FILE_FILTERS[f.name];
    if (!spec) continue;
    const label = what.replace('a filter', `the ${f.name} filter`);
    if (spec.opaque) tokens.push({ direction: READ, field, value: `filter:${f.name}`, what: label, form: 'opaque' });
    const { named, positional } = filterOptions(f.args);
    const values: [string, string][] = [...positional.map((v, i) => [spec.positional[i] ?? '', v] as [string, string]), ...named];
    const nested = values.some(([k, v]) => spec.files[k] === 'graph-format' && v === 'lavfi');
    for (const [key, v] of values) {
      const kind = spec.files[key];
      if (!kind || kind === 'graph-format') continue;
      if (kind === 'url' && nested) {
        if (depth < 8) tokens.push(...graphTokens(v, field, what, depth + 1));
        continue;
      }
      tokens.push({ direction: kind === 'url' ? READ : kind, field, value: v, what: `${key} of ${label}`, form: 'url' });
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// URLs as libavformat opens them.

const SCHEME = /^[A-Za-z0-9+.-]*/;

/** The protocol FFmpeg picks for a URL (avio's url_find_protocol): "file" without a scheme. */
export function protocolOf(url: string): string {
  const scheme = (SCHEME.exec(url) as RegExpExecArray)[0];
  if (url[scheme.length] === ':') return scheme;
  if (url.startsWith('subfile,') && url.slice(scheme.length + 1).includes(':')) return 'subfile';
  return 'file';
}

/** Protocols that open another URL inside their own. */
const WRAPPERS = new Set(['async', 'cache', 'crypto', 'subfile', 'concat', 'concatf', 'tee', 'hls', 'md5', 'bluray']);

/** What one URL makes FFmpeg open: every layer (the URL, each URL inside it …) and the innermost ones. */
export interface Unwrapped {
  /** Every string a block rule is matched against: each layer as written, and local files as `file:<path>` and `<path>`. */
  readonly layers: readonly string[];
  /** The innermost things opened, each with the forms an allow rule may match. */
  readonly leaves: readonly { readonly value: string; readonly forms: readonly string[] }[];
}

const MAX_DEPTH = 16;

/** Sees through FFmpeg's wrapping protocols, recursively. */
export function unwrap(url: string, depth = 0): Unwrapped {
  const layers: string[] = [url];
  const leaves: { value: string; forms: string[] }[] = [];
  const add = (inner: Unwrapped) => {
    layers.push(...inner.layers);
    leaves.push(...inner.leaves.map((l) => ({ value: l.value, forms: [...l.forms] })));
  };
  let proto = protocolOf(url);
  const nested = proto.indexOf('+');
  if (nested > 0 && !WRAPPERS.has(proto)) proto = proto.slice(0, nested);
  if (url === '-') return { layers: [url, 'pipe:'], leaves: [{ value: url, forms: [url, 'pipe:'] }] };
  if (proto === 'file') {
    const path = url.startsWith('file:') ? url.slice('file:'.length) : url;
    const normal = path === '' ? '.' : posix.normalize(path);
    const forms = [`file:${normal}`, normal];
    return { layers: [url, ...forms], leaves: [{ value: url, forms }] };
  }
  if (!WRAPPERS.has(proto) || depth >= MAX_DEPTH) return { layers, leaves: [{ value: url, forms: [url] }] };
  const rest = url.slice(proto.length + 1);
  switch (proto) {
    case 'subfile': {
      const inner = url.startsWith('subfile,') ? subfileInner(url) : rest;
      if (inner === undefined) return { layers, leaves: [{ value: url, forms: [] }] };
      add(unwrap(inner, depth + 1));
      break;
    }
    case 'concat':
      for (const part of rest.split('|')) add(unwrap(part, depth + 1));
      break;
    case 'tee': {
      let p = 0;
      while (p < rest.length) {
        const [slave, next] = getToken(rest, p, '|');
        add(unwrap(teeSlave(slave).url, depth + 1));
        p = next + 1;
      }
      break;
    }
    case 'concatf':
      // The list's content decides what is opened: no rule can see it.
      add(unwrap(rest, depth + 1));
      leaves.push({ value: url, forms: [url] });
      break;
    default:
      add(unwrap(rest, depth + 1));
  }
  return { layers, leaves };
}

/** `subfile,<sep>key<sep>value<sep>…<sep>:url` as avio reads it; undefined when FFmpeg refuses it. */
function subfileInner(url: string): string | undefined {
  const start = 'subfile'.length;
  const sep = url[start + 1];
  if (sep === undefined) return undefined;
  let p = start + 2;
  let key = url.indexOf(sep, p);
  while (key > p) {
    const val = url.indexOf(sep, key + 1);
    if (val < 0) break;
    p = val + 1;
    key = url.indexOf(sep, p);
  }
  if (key !== p) return undefined;
  const rest = url.slice(key + 1);
  return rest.startsWith(':') ? rest.slice(1) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Judging.

/** The leaves and layers of a token (lavfi graphs are `lavfi:<graph>`, opaque things themselves). */
function unwrapToken(t: OpenedToken): Unwrapped {
  if (t.form === 'lavfi')
    return { layers: [t.value, `lavfi:${t.value}`], leaves: [{ value: `lavfi:${t.value}`, forms: [t.value, `lavfi:${t.value}`] }] };
  if (t.form === 'opaque') return { layers: [t.value], leaves: [{ value: t.value, forms: [t.value] }] };
  return unwrap(t.value);
}

const slashes = (pattern: string) => `/${pattern}/`;

/** Field errors for every token the rules refuse; empty when everything may be opened. */
export function judge(tokens: readonly OpenedToken[], access: AccessRules | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const compiled = new Map<string, RegExp>();
  const re = (p: string) => {
    let r = compiled.get(p);
    if (!r) compiled.set(p, (r = new RegExp(p)));
    return r;
  };
  for (const t of tokens) {
    const rules = access?.[t.direction];
    if (!rules) continue;
    const { layers, leaves } = unwrapToken(t);
    const head = `${t.direction} ${t.what} "${t.value}"`;
    const opens = (s: string) => (s === t.value ? head : `${head} opens "${s}", which`);
    let refused = false;
    for (const pattern of rules.block ?? []) {
      const hit = layers.find((l) => re(pattern).test(l));
      if (hit !== undefined) {
        errors.push({ path: t.field, message: `${opens(hit)} is blocked by the rule ${slashes(pattern)}` });
        refused = true;
        break;
      }
    }
    const allow = rules.allow ?? [];
    if (refused || allow.length === 0) continue;
    for (const leaf of leaves) {
      if (!leaf.forms.some((f) => allow.some((p) => re(p).test(f)))) {
        errors.push({
          path: t.field,
          message: `${opens(leaf.value)} matches none of the allowed patterns ${allow.map(slashes).join(', ')}`,
        });
        break;
      }
    }
  }
  return errors;
}
