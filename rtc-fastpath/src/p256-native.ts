/**
 * What werift's DTLS gets for `@noble/curves/p256` in a thread that keeps werift's crypto
 * libraries out (thread-crypto.ts): the three calls werift makes for an ECDHE key exchange on
 * P-256 (dtls/src/cipher/ec.ts), done by node:crypto's ECDH (OpenSSL) instead of noble's
 * JavaScript BigInt arithmetic — ~0.3 ms instead of ~6 ms of CPU per handshake, and none of
 * the ~2 MiB of heap noble's module and point tables take. test/thread-crypto.test.ts compares
 * each call with noble's, byte for byte.
 */
import { createECDH } from 'node:crypto';

const CURVE = 'prime256v1';
const SCALAR_BYTES = 32;

/** A private scalar as 32 big-endian bytes (OpenSSL leaves out leading zero bytes). */
function padded(key: Buffer): Uint8Array {
  const out = new Uint8Array(SCALAR_BYTES);
  out.set(key, SCALAR_BYTES - key.length);
  return out;
}

function ecdh(privateKey: Uint8Array) {
  if (privateKey.length !== SCALAR_BYTES) throw new Error(`a P-256 private key is ${SCALAR_BYTES} bytes, not ${privateKey.length}`);
  const e = createECDH(CURVE);
  e.setPrivateKey(privateKey);
  return e;
}

export const p256 = {
  utils: {
    /** A random valid private scalar (1 ≤ k < n), as OpenSSL generates it. */
    randomPrivateKey(): Uint8Array {
      const e = createECDH(CURVE);
      e.generateKeys();
      return padded(e.getPrivateKey());
    },
  },
  /** The public point of `privateKey`: 65 bytes uncompressed (`04‖x‖y`), or 33 compressed. */
  getPublicKey(privateKey: Uint8Array, isCompressed = true): Uint8Array {
    return new Uint8Array(ecdh(privateKey).getPublicKey(null, isCompressed ? 'compressed' : 'uncompressed'));
  },
  /**
   * The ECDH shared point as noble returns it compressed: a parity byte then x. werift keeps the
   * x coordinate (`.subarray(1)`, the TLS premaster secret, RFC 8422 §5.10); OpenSSL gives x only,
   * so the first byte is 0x02 whatever y's parity — the one byte that can differ from noble's.
   */
  getSharedSecret(privateKey: Uint8Array, publicKey: Uint8Array, isCompressed = true): Uint8Array {
    if (!isCompressed) throw new Error('this stand-in for @noble/curves/p256 returns the shared point compressed only (as werift asks)');
    const x = ecdh(privateKey).computeSecret(publicKey);
    const out = new Uint8Array(1 + x.length);
    out[0] = 0x02;
    out.set(x, 1);
    return out;
  },
};
