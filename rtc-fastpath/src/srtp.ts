/**
 * SRTP protection of outgoing RTP (RFC 3711, RFC 7714) with the session keys werift derived
 * after DTLS, done at a fraction of werift's per-packet cost.
 *
 * This belongs in werift (rtp/src/srtp/cipher/ctr.ts and gcm.ts); it lives here as a small
 * layer until it is upstream. What werift does per packet, and what is done here instead:
 * - it passes raw key Buffers to createCipheriv/createHmac, so Node builds a key object for
 *   every call (most of the cost); here keys are KeyObjects made once;
 * - AES-CM: it creates an AES-CTR cipher and an HMAC object per packet; here the keystream of
 *   the next 16 packets (the sequence numbers a viewer will use) comes from one call on a kept
 *   AES-ECB cipher and is XORed in JS, and HMAC-SHA1 is two one-shot hashes over a buffer laid
 *   out with its inner pad in front (RFC 2104), so no per-packet crypto objects are made;
 * - it serializes the header and concatenates header, payload and tag into new buffers; here
 *   the caller writes the header once into the final buffer and the payload is copied once.
 *
 * Tests check every byte against werift's own ciphers for both profiles.
 */
import { type Cipheriv, createCipheriv, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { endianness } from 'node:os';

/** werift's profile ids (dtls/src/context/srtp.ts): the DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const PROFILE = { AES_CM_128_HMAC_SHA1_80: 0x0001, AEAD_AES_128_GCM: 0x0007 } as const;

/** The session keys of one direction, as werift's SRTP context holds them. */
export interface SrtpKeys {
  /** Protection profile id. */
  readonly profile: number;
  /** Session encryption key (16 bytes). */
  readonly srtpSessionKey: Buffer;
  /** Session salt (14 bytes; AEAD uses the first 12). */
  readonly srtpSessionSalt: Buffer;
  /** Session authentication key (20 bytes, AES-CM profile only). */
  readonly srtpSessionAuthTag?: Buffer;
}

/** Protects RTP packets of one SSRC, written by the caller into a buffer laid out for it. */
export interface SrtpWriter {
  /** Bytes the caller leaves free before the RTP header. */
  readonly prefix: number;
  /** Bytes the caller leaves free after the payload (the authentication tag). */
  readonly tagLength: number;
  /**
   * `buf` holds `prefix` free bytes, the RTP header (`headerLength` bytes, already written),
   * and room for the payload and the tag. Copies `payload` in encrypted, appends the tag and
   * returns the SRTP packet (a view of `buf`).
   */
  protect(buf: Buffer, headerLength: number, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer;
}

/** A writer for the keys' profile; throws on a profile this layer does not know. */
export function createSrtpWriter(keys: SrtpKeys): SrtpWriter {
  if (keys.profile === PROFILE.AES_CM_128_HMAC_SHA1_80 && keys.srtpSessionAuthTag) return new AesCmWriter(keys, keys.srtpSessionAuthTag);
  if (keys.profile === PROFILE.AEAD_AES_128_GCM) return new AesGcmWriter(keys);
  throw new Error(`unsupported SRTP profile ${keys.profile}`);
}

/** The key fields of werift's cipher objects (rtp/src/srtp/cipher/ctr.ts and gcm.ts). */
const CIPHER_KEYS = ['srtpSessionKey', 'srtcpSessionKey', 'srtpSessionAuthTag', 'srtcpSessionAuthTag'] as const;

/**
 * Turns the keys inside a werift SRTP/SRTCP context's cipher into KeyObjects, in place: werift
 * hands them to createCipheriv/createHmac for every RTCP packet (and every packet of its own RTP
 * path), and a raw Buffer key costs a key import each time. They are only ever used as keys.
 */
export function useKeyObjects(context: unknown): void {
  const cipher = (context as { cipher?: Record<string, unknown> } | undefined)?.cipher;
  if (!cipher) return;
  for (const field of CIPHER_KEYS) {
    const key = cipher[field];
    if (Buffer.isBuffer(key)) cipher[field] = createSecretKey(key);
  }
}

/** Packets whose keystream is made in one go. */
const BATCH = 16;
const BLOCK = 16;
const LITTLE_ENDIAN = endianness() === 'LE';
/** The last buffer XORed into as 32-bit words (packets come from a few large slabs, arena.ts). */
let wordsBuffer: ArrayBufferLike | undefined;
let wordsView: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** A view of `buffer` as 32-bit words, kept while packets come from the same buffer. */
function wordsOf(buffer: ArrayBufferLike): Int32Array {
  if (buffer !== wordsBuffer) {
    wordsBuffer = buffer;
    wordsView = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return wordsView;
}

/** Counter blocks of one batch (shared: only used while a batch is made). */
let counters = new Uint32Array(0);

/**
 * AES_CM_128_HMAC_SHA1_80 (RFC 3711 §4.1.1, §4.2.1). Keystream block j of packet index i is
 * AES(k_e, (k_s·2^16) XOR (SSRC·2^64) XOR (i·2^16) + j): everything but the last four bytes is
 * fixed for an SSRC and rollover counter, so a batch of packets is one ECB call.
 */
class AesCmWriter implements SrtpWriter {
  readonly prefix = 64;
  readonly tagLength = 10;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #ecb: Cipheriv;
  readonly #ipad = Buffer.alloc(64, 0x36);
  readonly #outer = Buffer.alloc(64 + 20, 0x5c);
  #keystream: Buffer = Buffer.alloc(0);
  /** The keystream as 32-bit words, when it starts 4-byte aligned. */
  #keystreamWords: Int32Array | undefined;
  /** First packet index (roc·2^16 + seq) of the batch, its SSRC, and blocks per packet. */
  #batchIndex = -1;
  #batchSsrc = -1;
  #blocks = 0;

  constructor(keys: SrtpKeys, authKey: Buffer) {
    this.#key = createSecretKey(keys.srtpSessionKey);
    this.#salt = keys.srtpSessionSalt;
    this.#ecb = createCipheriv('aes-128-ecb', this.#key, null);
    this.#ecb.setAutoPadding(false);
    // HMAC (RFC 2104) with a key shorter than the block: K XOR ipad / K XOR opad, zero-padded.
    for (let i = 0; i < authKey.length; i++) {
      this.#ipad[i]! ^= authKey[i]!;
      this.#outer[i]! ^= authKey[i]!;
    }
  }

  protect(buf: Buffer, headerLength: number, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer {
    const start = this.prefix + headerLength;
    const length = payload.length;
    payload.copy(buf, start);
    this.#encrypt(buf, start, length, ssrc, seq, roc);
    // Authenticated portion: header + encrypted payload, then the rollover counter (§4.2).
    const rocAt = start + length;
    buf.writeUInt32BE(roc, rocAt);
    this.#ipad.copy(buf, 0);
    hash('sha1', buf.subarray(0, rocAt + 4), 'buffer').copy(this.#outer, 64);
    hash('sha1', this.#outer, 'buffer').copy(buf, rocAt, 0, this.tagLength);
    return buf.subarray(this.prefix, rocAt + this.tagLength);
  }

  #encrypt(buf: Buffer, start: number, length: number, ssrc: number, seq: number, roc: number): void {
    const blocks = Math.ceil(length / BLOCK);
    const index = roc * 0x10000 + seq;
    const inBatch = ssrc === this.#batchSsrc && blocks <= this.#blocks && index >= this.#batchIndex && index < this.#batchIndex + BATCH;
    if (!inBatch) {
      if (!LITTLE_ENDIAN) {
        this.#single(buf, start, length, ssrc, seq, roc);
        return;
      }
      this.#makeBatch(ssrc, index, Math.max(blocks, this.#blocks));
    }
    const ks = this.#keystream;
    const from = (index - this.#batchIndex) * this.#blocks * BLOCK;
    let i = 0;
    const at = buf.byteOffset + start;
    const keyWords = this.#keystreamWords;
    if (keyWords && at % 4 === 0) {
      // Word views made once per buffer (not per packet): the packet slab's and the keystream's.
      const out = wordsOf(buf.buffer);
      const words = length >>> 2;
      const o = at >>> 2;
      const k = from >>> 2;
      for (let w = 0; w < words; w++) out[o + w]! ^= keyWords[k + w]!;
      i = words << 2;
    }
    for (; i < length; i++) buf[start + i]! ^= ks[from + i]!;
  }

  /** Keystream of packets `index`..`index + BATCH - 1`, `blocks` blocks each. */
  #makeBatch(ssrc: number, index: number, blocks: number): void {
    const words = BATCH * blocks * 4;
    if (counters.length < words) counters = new Uint32Array(words);
    const iv = Buffer.alloc(16);
    this.#salt.copy(iv, 0, 0, 14);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    const salt12 = iv.readUInt16BE(12);
    let roc = -1;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w = 0;
    for (let p = 0; p < BATCH; p++) {
      const i = index + p;
      const r = Math.floor(i / 0x10000);
      if (r !== roc) {
        roc = r;
        const block = Buffer.from(iv);
        block.writeUInt32BE((block.readUInt32BE(8) ^ roc) >>> 0, 8);
        w0 = block.readUInt32LE(0);
        w1 = block.readUInt32LE(4);
        w2 = block.readUInt32LE(8);
      }
      const s = (salt12 ^ i) & 0xffff;
      const high = (s >>> 8) | ((s & 0xff) << 8);
      for (let j = 0; j < blocks; j++) {
        counters[w++] = w0;
        counters[w++] = w1;
        counters[w++] = w2;
        counters[w++] = (high | ((j >>> 8) << 16) | ((j & 0xff) << 24)) >>> 0;
      }
    }
    const ks = this.#ecb.update(new Uint8Array(counters.buffer, 0, words * 4));
    this.#keystream = ks;
    this.#keystreamWords = ks.byteOffset % 4 === 0 ? new Int32Array(ks.buffer, ks.byteOffset, ks.length >>> 2) : undefined;
    this.#batchIndex = index;
    this.#batchSsrc = ssrc;
    this.#blocks = blocks;
  }

  /** One packet's keystream the plain way (big-endian hosts). */
  #single(buf: Buffer, start: number, length: number, ssrc: number, seq: number, roc: number): void {
    const iv = Buffer.alloc(16);
    this.#salt.copy(iv, 0, 0, 14);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    createCipheriv('aes-128-ctr', this.#key, iv)
      .update(buf.subarray(start, start + length))
      .copy(buf, start);
  }
}

/** AEAD_AES_128_GCM (RFC 7714 §8): IV = salt XOR (0² ‖ SSRC ‖ ROC ‖ SEQ), header as AAD, 16-byte tag. */
class AesGcmWriter implements SrtpWriter {
  readonly prefix = 0;
  readonly tagLength = 16;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #iv = Buffer.alloc(12);

  constructor(keys: SrtpKeys) {
    this.#key = createSecretKey(keys.srtpSessionKey);
    this.#salt = keys.srtpSessionSalt.subarray(0, 12);
  }

  protect(buf: Buffer, headerLength: number, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer {
    const iv = this.#iv;
    iv.writeUInt16BE(0, 0);
    iv.writeUInt32BE(ssrc, 2);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.#salt[i]!;
    const cipher = createCipheriv('aes-128-gcm', this.#key, iv);
    cipher.setAAD(buf.subarray(0, headerLength));
    const end = headerLength + cipher.update(payload).copy(buf, headerLength);
    cipher.final();
    cipher.getAuthTag().copy(buf, end);
    return buf.subarray(0, end + this.tagLength);
  }
}
