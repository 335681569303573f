/**
 * The little of STUN (RFC 8489) a demultiplexer needs, read straight from the datagram without
 * building a message object: the class and transaction id, the USERNAME (whose first part is
 * our local ufrag, RFC 8445 §7.2.2), USE-CANDIDATE, and checks of MESSAGE-INTEGRITY (HMAC-SHA1
 * with the short-term password, RFC 8489 §14.5) and FINGERPRINT (CRC-32 xor 0x5354554e, §14.7).
 * Which protocol a datagram on the shared port carries is told by its first byte (RFC 7983 §7).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** What a datagram on an ICE port carries, by its first byte (RFC 7983 §7). */
export type PacketKind = 'stun' | 'dtls' | 'rtp' | 'other';

/** RFC 7983 §7: 0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP; anything else is dropped. */
export function packetKind(data: Uint8Array): PacketKind {
  const b = data[0];
  if (b === undefined) return 'other';
  if (b <= 3) return 'stun';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 128 && b <= 191) return 'rtp';
  return 'other';
}

const HEADER = 20;
const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;

/** STUN attribute types used here (RFC 8489 §18.3, RFC 8445 §16.1). */
export const ATTR = { USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, FINGERPRINT: 0x8028, USE_CANDIDATE: 0x0025 } as const;

/** STUN message classes (RFC 8489 §5). */
export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

/** What the mux reads of a STUN message. */
export interface StunView {
  readonly class: StunClass;
  /** The method (1 = Binding). */
  readonly method: number;
  /** The 12-byte transaction id, hex. */
  readonly transactionId: string;
  /** USERNAME as text, if present. */
  readonly username: string | undefined;
  /** USE-CANDIDATE is present. */
  readonly useCandidate: boolean;
  /** Offset of the MESSAGE-INTEGRITY attribute's header, or -1. */
  readonly integrityAt: number;
  /** Offset of the FINGERPRINT attribute's header, or -1. */
  readonly fingerprintAt: number;
}

/**
 * Reads a STUN message, or returns undefined when `data` is not one: wrong leading bits,
 * no magic cookie, a length that does not match the datagram, or attributes that overrun it.
 * Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 8489 §14.5), and
 * nothing may follow FINGERPRINT.
 */
export function readStun(data: Uint8Array): StunView | undefined {
  if (data.length < HEADER || (data[0]! & 0xc0) !== 0) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = view.getUint16(0);
  const length = view.getUint16(2);
  if (view.getUint32(4) !== MAGIC_COOKIE || length % 4 !== 0 || HEADER + length !== data.length) return undefined;
  const cls = CLASSES[((type & 0x0100) >> 7) | ((type & 0x0010) >> 4)]!;
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  let username: string | undefined;
  let useCandidate = false;
  let integrityAt = -1;
  let fingerprintAt = -1;
  for (let at = HEADER; at < data.length; ) {
    if (at + 4 > data.length || fingerprintAt >= 0) return undefined;
    const attr = view.getUint16(at);
    const len = view.getUint16(at + 2);
    const end = at + 4 + len;
    if (end > data.length) return undefined;
    if (attr === ATTR.FINGERPRINT) {
      if (len !== 4) return undefined;
      fingerprintAt = at;
    } else if (integrityAt < 0) {
      if (attr === ATTR.USERNAME) username = Buffer.from(data.buffer, data.byteOffset + at + 4, len).toString('utf8');
      else if (attr === ATTR.USE_CANDIDATE) useCandidate = true;
      else if (attr === ATTR.MESSAGE_INTEGRITY) {
        if (len !== 20) return undefined;
        integrityAt = at;
      }
    }
    at = end + ((4 - (len % 4)) % 4);
  }
  const transactionId = Buffer.from(data.buffer, data.byteOffset + 8, 12).toString('hex');
  return { class: cls, method, transactionId, username, useCandidate, integrityAt, fingerprintAt };
}

/** The local ufrag of a check's USERNAME (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2). */
export function localUfragOf(username: string | undefined): string | undefined {
  if (username === undefined) return undefined;
  const colon = username.indexOf(':');
  return colon > 0 ? username.slice(0, colon) : undefined;
}

/** A copy of the first `end` bytes with the header's length field set to `length`. */
function prefixWithLength(data: Uint8Array, end: number, length: number): Buffer {
  const copy = Buffer.from(data.subarray(0, end));
  copy.writeUInt16BE(length, 2);
  return copy;
}

/**
 * True when the message carries a MESSAGE-INTEGRITY that `password` made (short-term
 * credentials: the key is the password itself, RFC 8489 §9.1.1) and, when present, a correct
 * FINGERPRINT. RFC 8445 §7.3 requires both on every connectivity check.
 */
export function verifyIntegrity(data: Uint8Array, stun: StunView, password: string | Buffer): boolean {
  if (stun.integrityAt < 0) return false;
  const at = stun.integrityAt;
  // The HMAC covers the message up to the attribute, with the length counting up to its end.
  const signed = prefixWithLength(data, at, at + 24 - HEADER);
  const mac = createHmac('sha1', password).update(signed).digest();
  if (!timingSafeEqual(mac, data.subarray(at + 4, at + 24))) return false;
  return stun.fingerprintAt < 0 || verifyFingerprint(data, stun);
}

/** True when the message has a FINGERPRINT and it is right. */
export function verifyFingerprint(data: Uint8Array, stun: StunView): boolean {
  if (stun.fingerprintAt < 0) return false;
  const at = stun.fingerprintAt;
  const crc = (crc32(prefixWithLength(data, at, at + 8 - HEADER)) ^ FINGERPRINT_XOR) >>> 0;
  return Buffer.from(data.buffer, data.byteOffset + at + 4, 4).readUInt32BE(0) === crc;
}

/**
 * A connectivity check as RFC 8445 §7.2.2 sends it, for tests and tools: a Binding request
 * with USERNAME, optional USE-CANDIDATE, MESSAGE-INTEGRITY keyed with `password`, FINGERPRINT.
 */
export function bindingRequest(username: string, password: string, options: { useCandidate?: boolean; transactionId?: Buffer } = {}): Buffer {
  const attrs: Buffer[] = [];
  const attr = (type: number, value: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(value.length, 2);
    attrs.push(head, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  };
  attr(ATTR.USERNAME, Buffer.from(username, 'utf8'));
  if (options.useCandidate) attr(ATTR.USE_CANDIDATE, Buffer.alloc(0));
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  (options.transactionId ?? Buffer.from(crypto.getRandomValues(new Uint8Array(12)))).copy(header, 8);
  let body = Buffer.concat(attrs);
  header.writeUInt16BE(body.length + 24, 2);
  const mac = createHmac('sha1', password).update(Buffer.concat([header, body])).digest();
  attr(ATTR.MESSAGE_INTEGRITY, mac);
  body = Buffer.concat(attrs);
  header.writeUInt16BE(body.length + 8, 2);
  const crc = (crc32(Buffer.concat([header, body])) ^ FINGERPRINT_XOR) >>> 0;
  const fp = Buffer.alloc(4);
  fp.writeUInt32BE(crc, 0);
  attr(ATTR.FINGERPRINT, fp);
  return Buffer.concat([header, ...attrs]);
}
