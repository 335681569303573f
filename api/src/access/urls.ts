/** FFmpeg access: URLs as libavformat opens them, seen through its wrapping protocols. Pure. */
import { posix } from 'node:path';
import { filterOptions, getToken } from './tokens.ts';

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

/** A tee slave: `[key=value:…]url`. */
export function teeSlave(slave: string): { options: [string, string][]; url: string } {
  if (!slave.startsWith('[')) return { options: [], url: slave };
  const close = slave.indexOf(']');
  if (close < 0) return { options: [], url: slave };
  const { named } = filterOptions(slave.slice(1, close));
  return { options: named, url: slave.slice(close + 1) };
}
