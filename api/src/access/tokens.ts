/** FFmpeg access: tokens and filter graphs as libavutil and libavfilter read them. Pure. */

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
export function filterOptions(args: string): { named: [string, string][]; positional: string[] } {
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
