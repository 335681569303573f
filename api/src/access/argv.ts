/** FFmpeg access: the ffmpeg command line read as FFmpeg 5.1's fftools read it, listing what it opens. Pure. */
import type { ArgItem, Direction, OpenedToken } from '../access.ts';
import { FILE_FILTERS, READ, WRITE } from './filters.ts';
import { filterOptions, getToken, parseGraph } from './tokens.ts';
import { teeSlave } from './urls.ts';

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
