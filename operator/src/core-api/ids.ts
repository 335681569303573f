/**
 * Core process ids ↔ Process names, with no I/O.
 *
 * Core takes any non-blank string as a process id, and its UI makes ids such as
 * `restreamer-ui:ingest:<uuid>`; a Process name must be a DNS-1035 label of at most 56
 * characters. An id that already is such a name is its own name. Any other id gets a name made
 * from it: a readable slug of the id and a hash of the whole id (so ids that slug alike get
 * different names), and the Process keeps the id in the `corecast.dev/core-id` annotation,
 * which is what every answer shows and every lookup matches. A Process made with kubectl under
 * any name joins the API under the id its annotation holds.
 */
import { createHash } from 'node:crypto';
import { PROCESS_NAME_MAX } from '@corecast/api';

/** Annotation holding the Core id of a Process whose name is not that id. */
export const CORE_ID_ANNOTATION = 'corecast.dev/core-id';

/** Longest Core id accepted (Core has no limit; the id lives in an annotation and in URLs). */
export const CORE_ID_MAX = 1024;

/** Characters of the hash in a mapped name: base32, 50 bits. */
const HASH_CHARS = 10;

/** A DNS-1035 label: a lower-case letter, then letters, digits and "-", not ending in "-". */
const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** True when `id` can be a Process name as it is. */
export function isProcessName(id: string): boolean {
  return id.length <= PROCESS_NAME_MAX && NAME.test(id);
}

/**
 * Why Core (or Corecast) would refuse `id`, or undefined when it is a usable id. Core refuses
 * an id that is empty after trimming; Corecast also refuses one longer than CORE_ID_MAX.
 */
export function coreIdProblem(id: string): string | undefined {
  if (id.trim() === '') return 'an empty (or blank) id is not allowed';
  if (id.length > CORE_ID_MAX) return `at most ${CORE_ID_MAX} characters`;
  return undefined;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** The first HASH_CHARS base32 characters of the id's SHA-256. */
function hashOf(id: string): string {
  const digest = createHash('sha256').update(id, 'utf8').digest();
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < HASH_CHARS) {
      bits -= 5;
      out += BASE32[(value >>> bits) & 31];
    }
    value &= (1 << bits) - 1;
    if (out.length === HASH_CHARS) break;
  }
  return out;
}

/**
 * The Process name of a Core id: the id itself when it is a name, else `<slug>-<hash>`: the id
 * in lower case with every run of other characters as one "-", starting with a letter ("p-" in
 * front otherwise), cut to fit, then the hash of the exact id.
 */
export function processNameFor(id: string): string {
  if (isProcessName(id)) return id;
  let slug = id
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(slug)) slug = slug ? `p-${slug}` : 'p';
  slug = slug.slice(0, PROCESS_NAME_MAX - HASH_CHARS - 1).replace(/-+$/, '');
  return `${slug}-${hashOf(id)}`;
}

/** The parts of a Process whose Core id is asked. */
interface Named {
  readonly metadata: { readonly name: string; readonly annotations?: Readonly<Record<string, string>> };
}

/** A Process's Core id: its annotation when that holds a usable id, else its name. */
export function coreIdOf(p: Named): string {
  const annotated = p.metadata.annotations?.[CORE_ID_ANNOTATION];
  return annotated !== undefined && coreIdProblem(annotated) === undefined ? annotated : p.metadata.name;
}

/** The annotations a Process with this Core id and name carries for the mapping (none when they are equal). */
export function idAnnotations(id: string, name: string): Record<string, string> | undefined {
  return id === name ? undefined : { [CORE_ID_ANNOTATION]: id };
}

/** An id in a message: JSON-quoted and cut to 100 characters. */
export function quote(id: string): string {
  return JSON.stringify(id.length > 100 ? `${id.slice(0, 100)}…` : id);
}
