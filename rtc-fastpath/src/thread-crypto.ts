/**
 * A thread's werift peers on node:crypto: their DTLS certificate made with it (certificate.ts),
 * their key exchanges done by it, and werift's JavaScript crypto libraries never loaded there.
 *
 * - `keepCryptoLibrariesOut()` resolves three of werift's imports to stand-ins in this folder,
 *   through Node's synchronous module hooks (`module.registerHooks`, which act on the thread that
 *   registers them; only imports made by werift's own files are redirected):
 *   `@peculiar/x509` (with tsyringe, reflect-metadata and the @peculiar/asn1-* schemas it brings,
 *   ~200 modules, used only to make a certificate) → x509-absent.ts; `@noble/curves/p256`
 *   (P-256 ECDHE in BigInt arithmetic) → p256-native.ts; `tweetnacl` (X25519 ECDHE) →
 *   x25519-native.ts. It must run before werift is imported in the thread: werift's ES module
 *   entry is one bundle that imports them all when it loads. @fidm/x509 stays: werift parses
 *   PEM and signs the key exchange with it (a quarter of a MiB); the tweetnacl it requires for
 *   Ed25519 keys is loaded only if one is used (tweetnacl-on-demand.ts, ~0.7 MiB).
 * - `useOwnDtlsCertificate()` gives werift the thread's certificate where it keeps the one it
 *   would otherwise make on a peer's first offer or answer: `RTCDtlsTransport.localCertificate`
 *   (static, shared by every peer of the thread, as werift's own is). Peers given
 *   `certificates` or `dtls.keys` in their PeerConfig keep using those.
 */
import type { RTCCertificate } from 'werift';
import { type DtlsKeys, makeDtlsCertificate } from './certificate.ts';
import { here, redirectImports, type StandIn, WERIFT_FILES as WERIFT } from './stand-ins.ts';

/** Where werift's PEM parser is (it requires tweetnacl when it loads). */
const FIDM = /\/node_modules\/@fidm\/x509\//;

/** Imports that are redirected: by whom, and what stands in. */
const STAND_INS: readonly StandIn[] = [
  { specifier: '@peculiar/x509', parent: WERIFT, url: here('x509-absent') },
  { specifier: '@noble/curves/p256', parent: WERIFT, url: here('p256-native') },
  { specifier: 'tweetnacl', parent: WERIFT, url: here('x25519-native') },
  // tweetnacl itself, but only once something of it is used (tweetnacl-on-demand.ts).
  { specifier: 'tweetnacl', parent: FIDM, url: here('tweetnacl-on-demand') },
];

let hooked = false;

/** Resolves werift's crypto libraries to node:crypto stand-ins in this thread, from now on (idempotent). */
export function keepCryptoLibrariesOut(): void {
  if (hooked) return;
  hooked = true;
  redirectImports(STAND_INS);
}

/** The packages `keepCryptoLibrariesOut` redirects (for tests). */
export const STAND_IN_PACKAGES: readonly string[] = [...new Set(STAND_INS.map((s) => s.specifier))];

/**
 * The module paths that must never load in a thread after `keepCryptoLibrariesOut` (for tests):
 * the redirected packages and what only they bring (tsyringe, reflect-metadata, the ASN.1 code).
 */
export const KEPT_OUT_MODULES = /node_modules\/(@peculiar\/|tsyringe\/|reflect-metadata\/|asn1js\/|pvtsutils\/|pvutils\/|@noble\/)/;

/**
 * The module paths a thread with `keepCryptoLibrariesOut` and `leanWeriftSource` loads only when
 * they are used (for tests): tweetnacl (for an Ed25519 key, tweetnacl-on-demand.ts) and
 * multicast-dns with dns-packet (for a `.local` candidate, mdns-on-demand.ts). A werift peer
 * that plays with neither loads none of them.
 */
export const ON_DEMAND_MODULES = /node_modules\/(tweetnacl|multicast-dns|dns-packet|thunky|@leichtgewicht\/ip-codec)\//;

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
