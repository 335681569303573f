/**
 * What werift's DTLS gets for `tweetnacl` in a thread that keeps werift's crypto libraries out
 * (thread-crypto.ts): the two calls werift makes for an ECDHE key exchange on X25519 — the curve
 * browsers offer first (dtls/src/cipher/namedCurve.ts, prf.ts) — done by node:crypto (OpenSSL)
 * instead of tweetnacl's JavaScript: ~0.1 ms instead of ~5 ms of CPU per handshake. Only werift's
 * own imports are sent here; @fidm/x509 keeps the real tweetnacl (for Ed25519 keys). Compared
 * with tweetnacl byte for byte in test/thread-crypto.test.ts.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';

const KEY_BYTES = 32;
/** DER of a PKCS#8 X25519 private key and of an X25519 SubjectPublicKeyInfo, before the 32 key bytes (RFC 8410 §7, §4). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function bytes(key: Uint8Array, what: string): Buffer {
  if (key.length !== KEY_BYTES) throw new Error(`an X25519 ${what} is ${KEY_BYTES} bytes, not ${key.length}`);
  return Buffer.from(key.buffer, key.byteOffset, key.length);
}

const privateKeyOf = (key: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes(key, 'private key')]), format: 'der', type: 'pkcs8' });
const publicKeyOf = (key: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes(key, 'public key')]), format: 'der', type: 'spki' });

/** The last 32 bytes of a DER key: the raw key. Copied into an ArrayBuffer of its own (werift reads `.buffer`). */
const rawOf = (der: Buffer): Uint8Array => new Uint8Array(der.subarray(der.length - KEY_BYTES));

/**
 * X25519(n, p) (RFC 7748 §5), as tweetnacl's `scalarMult`. A small-order `p` makes OpenSSL
 * throw where tweetnacl would return zeros: a handshake with such a peer fails instead of
 * going on with a known secret.
 */
function scalarMult(n: Uint8Array, p: Uint8Array): Uint8Array {
  return new Uint8Array(diffieHellman({ privateKey: privateKeyOf(n), publicKey: publicKeyOf(p) }));
}

/** A fresh X25519 key pair as tweetnacl's `box.keyPair()` gives it: raw 32-byte keys. */
function keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    publicKey: rawOf(publicKey.export({ format: 'der', type: 'spki' })),
    secretKey: rawOf(privateKey.export({ format: 'der', type: 'pkcs8' })),
  };
}

export default { scalarMult, box: { keyPair } };
