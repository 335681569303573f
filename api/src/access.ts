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
import { type Unwrapped, unwrap } from './access/urls.ts';
import type { FieldError } from './validate.ts';

export { openedTokens } from './access/argv.ts';
export { FILE_FILTERS } from './access/filters.ts';
export { getToken, type GraphFilter, parseGraph } from './access/tokens.ts';
export { protocolOf, type Unwrapped, unwrap } from './access/urls.ts';

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
