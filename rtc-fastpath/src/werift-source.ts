/**
 * werift's ES module entry is one 0.7 MB bundle whose comments hold ~2,000 characters above
 * U+00FF (Japanese). V8 keeps a module's source for as long as its functions live, and a source
 * with any such character is stored two bytes per character: 1.4 MiB of heap in every thread
 * that loads werift instead of 0.7. `leanWeriftSource()` writes each such character of
 * werift's files as a `\uXXXX` escape when the file is loaded, so the source is Latin-1 and kept
 * one byte per character. Every one of them is in a comment (werift-source.test.ts parses the
 * bundle werift installs and fails when that stops being true), where an escape changes nothing;
 * in a string or regular expression literal it would mean the same character too.
 *
 * The same hook replaces werift's two `localeCompare` calls (sorting network interface names when
 * it gathers candidates, and the keys of codec parameters it compares) with a comparison of
 * UTF-16 code units. Both only need a consistent order of ASCII names; `localeCompare` made V8
 * build ICU's root collator in the thread, paging in ~1.9 MiB of ICU's collation data from the
 * Node binary (RSS) for that alone. werift-source.test.ts fails when werift's calls change.
 *
 * The file's UTF-8 bytes are rewritten as bytes (`weriftSource`): decoding them first would
 * leave a 1.4 MiB two-byte string behind as garbage, which only a full collection frees.
 */
import { registerHooks } from 'node:module';
import { here, redirectImports, WERIFT_FILES as WERIFT } from './stand-ins.ts';
/** A character that keeps a string from being stored one byte per character. */
const WIDE = /[\u0100-\uffff]/g;

const escape = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;

/** `text` with every character above U+00FF written as a `\uXXXX` escape (surrogates one by one). */
export function escapeWide(text: string): string {
  return text.replace(WIDE, (c) => escape(c.charCodeAt(0)));
}

/**
 * `escapeWide` of the UTF-8 text in `utf8`, made from the bytes without decoding them to a
 * string first; undefined when the text has no character above U+00FF (V8 then keeps it one
 * byte per character as it is). The bytes are taken to be valid UTF-8, as Node's loader does.
 */
export function oneByteSource(utf8: Uint8Array): string | undefined {
  const n = utf8.length;
  // Pass 1: the length of the result (an escape is 6 characters; a surrogate pair 12).
  let length = 0;
  let wide = false;
  for (let i = 0; i < n;) {
    const b = utf8[i]!;
    if (b < 0x80) {
      length += 1;
      i += 1;
    } else if (b < 0xe0) {
      const latin1 = ((b & 0x1f) << 6) + (utf8[i + 1]! & 0x3f) <= 0xff;
      wide ||= !latin1;
      length += latin1 ? 1 : 6;
      i += 2;
    } else if (b < 0xf0) {
      wide = true;
      length += 6;
      i += 3;
    } else {
      wide = true;
      length += 12;
      i += 4;
    }
  }
  if (!wide) return undefined;
  // Pass 2: Latin-1 bytes, escapes for the rest.
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  const put = (unit: number) => (o += out.write(escape(unit), o, 'latin1'));
  for (let i = 0; i < n;) {
    const b = utf8[i]!;
    if (b < 0x80) {
      out[o++] = b;
      i += 1;
    } else if (b < 0xe0) {
      const cp = ((b & 0x1f) << 6) | (utf8[i + 1]! & 0x3f);
      if (cp <= 0xff) out[o++] = cp;
      else put(cp);
      i += 2;
    } else if (b < 0xf0) {
      put(((b & 0x0f) << 12) | ((utf8[i + 1]! & 0x3f) << 6) | (utf8[i + 2]! & 0x3f));
      i += 3;
    } else {
      const cp = ((b & 0x07) << 18) | ((utf8[i + 1]! & 0x3f) << 12) | ((utf8[i + 2]! & 0x3f) << 6) | (utf8[i + 3]! & 0x3f);
      put(0xd800 + ((cp - 0x10000) >> 10));
      put(0xdc00 + ((cp - 0x10000) & 0x3ff));
      i += 4;
    }
  }
  return out.toString('latin1');
}

/** werift's `localeCompare` calls, as its bundle writes them, and what each becomes. */
export const LOCALE_COMPARES: readonly (readonly [string, string])[] = [
  ['a.nic.localeCompare(b.nic)', '(a.nic < b.nic ? -1 : a.nic > b.nic ? 1 : 0)'],
  ['left.localeCompare(right)', '(left < right ? -1 : left > right ? 1 : 0)'],
];

/** `utf8` with each of LOCALE_COMPARES replaced (every occurrence). */
function withoutLocaleCompare(utf8: Buffer): Buffer {
  let out = utf8;
  for (const [from, to] of LOCALE_COMPARES) {
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = out.indexOf(from, 0, 'latin1'); i >= 0; i = out.indexOf(from, at, 'latin1')) {
      parts.push(out.subarray(at, i), Buffer.from(to, 'latin1'));
      at = i + from.length;
    }
    if (parts.length > 0) out = Buffer.concat([...parts, out.subarray(at)]);
  }
  return out;
}

/**
 * One of werift's files as this thread loads it: LOCALE_COMPARES replaced, every character
 * above U+00FF escaped; undefined when neither changes anything.
 */
export function weriftSource(utf8: Uint8Array): string | undefined {
  const bytes = Buffer.from(utf8.buffer, utf8.byteOffset, utf8.byteLength);
  const patched = withoutLocaleCompare(bytes);
  return oneByteSource(patched) ?? (patched !== bytes ? patched.toString('utf8') : undefined);
}

let hooked = false;

/**
 * Loads werift's files in this thread as one-byte sources without localeCompare, and its
 * multicast-dns only when werift first makes an mDNS client (mdns-on-demand.ts), from now on
 * (idempotent).
 */
export function leanWeriftSource(): void {
  if (hooked) return;
  hooked = true;
  redirectImports([{ specifier: 'multicast-dns', parent: WERIFT, url: here('mdns-on-demand') }]);
  registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      const { source } = loaded;
      if (!WERIFT.test(url) || source === undefined || source === null) return loaded;
      const bytes =
        typeof source === 'string'
          ? Buffer.from(source, 'utf8')
          : source instanceof ArrayBuffer
            ? new Uint8Array(source)
            : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
      const rewritten = weriftSource(bytes);
      return rewritten === undefined ? loaded : { ...loaded, source: rewritten };
    },
  });
}
