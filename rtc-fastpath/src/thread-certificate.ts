/**
 * A thread's werift peers on a certificate made with node:crypto (certificate.ts), and werift's
 * certificate library never loaded in that thread.
 *
 * - `keepCertificateLibrariesOut()` resolves `@peculiar/x509` — with tsyringe, reflect-metadata
 *   and the @peculiar/asn1-* schemas it brings, ~200 modules — to x509-absent.ts, through Node's
 *   synchronous module hooks (`module.registerHooks`, which act on the thread that registers
 *   them). It must run before werift is imported in the thread: werift's ES module entry is one
 *   bundle that imports the package when it loads. @fidm/x509 stays: werift parses the PEM with
 *   it and signs the handshake's key exchange with it (a quarter of a MiB).
 * - `useOwnDtlsCertificate()` gives werift the thread's certificate where it keeps the one it
 *   would otherwise make on a peer's first offer or answer: `RTCDtlsTransport.localCertificate`
 *   (static, shared by every peer of the thread, as werift's own is). Peers given
 *   `certificates` or `dtls.keys` in their PeerConfig keep using those.
 */
import { registerHooks } from 'node:module';
import type { RTCCertificate } from 'werift';
import { type DtlsKeys, makeDtlsCertificate } from './certificate.ts';

/** The packages kept out, and what stands in for them (as written, or compiled to dist/). */
const KEPT_OUT = new Map([
  ['@peculiar/x509', new URL(import.meta.url.endsWith('.ts') ? './x509-absent.ts' : './x509-absent.js', import.meta.url).href],
]);

let hooked = false;

/** Resolves werift's certificate library to a stand-in in this thread, from now on (idempotent). */
export function keepCertificateLibrariesOut(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const standIn = KEPT_OUT.get(specifier);
      return standIn ? { url: standIn, shortCircuit: true } : nextResolve(specifier, context);
    },
  });
}

/** The packages `keepCertificateLibrariesOut` keeps out (for tests and the pod's checks). */
export const KEPT_OUT_PACKAGES: readonly string[] = [...KEPT_OUT.keys()];

/**
 * Makes `keys` (default: a fresh certificate) the one werift's peers in this thread use when
 * their config names none, and returns it as werift holds it. Loads werift.
 */
export async function useOwnDtlsCertificate(keys: DtlsKeys = makeDtlsCertificate()): Promise<RTCCertificate> {
  const { RTCCertificate: Certificate, RTCDtlsTransport } = await import('werift');
  if (typeof RTCDtlsTransport?.SetupCertificate !== 'function' || typeof Certificate !== 'function')
    throw new Error('werift no longer makes its certificate in RTCDtlsTransport.SetupCertificate (see rtc-fastpath/README.md)');
  const certificate = new Certificate(keys.keyPem, keys.certPem, keys.signatureHash);
  RTCDtlsTransport.localCertificate = certificate;
  RTCDtlsTransport.localCertificatePromise = Promise.resolve(certificate);
  return certificate;
}
