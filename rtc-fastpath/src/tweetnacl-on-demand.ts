/**
 * What @fidm/x509 gets for `require('tweetnacl')` in a thread that keeps werift's crypto
 * libraries out (thread-crypto.ts): tweetnacl itself, loaded on the first use of any of its
 * members. @fidm/x509 (werift's PEM parser) needs it only for Ed25519 keys, which werift's DTLS
 * never uses, yet requires it when it loads: ~0.7 MiB of heap per thread (tweetnacl's tables).
 * The object below answers every read as tweetnacl would, from the moment of the first one.
 */
import { createRequire } from 'node:module';

type TweetNacl = typeof import('tweetnacl');

// Resolved from @fidm/x509's own place, as its require would be.
const fromFidm = createRequire(createRequire(import.meta.url).resolve('@fidm/x509'));
let real: TweetNacl | undefined;
const load = (): TweetNacl => (real ??= fromFidm('tweetnacl') as TweetNacl);

const onDemand = new Proxy({} as TweetNacl, {
  get: (_target, key) => Reflect.get(load(), key),
  has: (_target, key) => Reflect.has(load(), key),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_target, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});

/** Whether tweetnacl has been loaded through this module (for tests). */
export const tweetnaclLoaded = (): boolean => real !== undefined;

// `require()` of this module returns this object, as it would return tweetnacl's exports.
export { onDemand as 'module.exports' };
