/**
 * Local ICE credentials made by the mux instead of werift, so that a STUN check names the
 * thread that owns its session: the ufrag starts with the owner's index (two base-36 digits),
 * then 10 random ice-chars (60 bits; RFC 8445 §5.3 asks for at least 24). The password is 24
 * random ice-chars (144 bits; at least 128 asked). Any thread that receives a check on the
 * shared port can route it to the owner from the ufrag alone, with no table shared between
 * threads.
 */
import { randomBytes } from 'node:crypto';

/** RFC 8839 §5.4 ice-char: ALPHA / DIGIT / "+" / "/". */
const ICE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Most owners a ufrag can name (two base-36 digits). */
export const MAX_OWNERS = 36 * 36;

/** `n` random ice-chars (64 symbols, so 6 uniform bits from each byte). */
export function iceChars(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (const b of bytes) out += ICE_CHARS[b & 63];
  return out;
}

/** A fresh local ufrag and password for a session owned by thread `owner`. */
export function newCredentials(owner: number): { ufrag: string; password: string } {
  if (!Number.isInteger(owner) || owner < 0 || owner >= MAX_OWNERS) throw new RangeError(`mux owner must be 0..${MAX_OWNERS - 1}, got ${owner}`);
  return { ufrag: owner.toString(36).padStart(2, '0') + iceChars(10), password: iceChars(24) };
}

/** The owner named by a local ufrag, or undefined when it is not one of ours. */
export function ownerOf(ufrag: string): number | undefined {
  if (ufrag.length !== 12) return undefined;
  const owner = Number.parseInt(ufrag.slice(0, 2), 36);
  return /^[0-9a-z]{2}$/.test(ufrag.slice(0, 2)) && Number.isInteger(owner) ? owner : undefined;
}
