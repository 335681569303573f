/**
 * The DTLS certificate of a thread's werift peers, made with node:crypto alone.
 *
 * werift makes its certificate (once per thread, `RTCDtlsTransport.SetupCertificate`) with
 * @peculiar/x509, which brings tsyringe, reflect-metadata and a dozen ASN.1 schema packages —
 * ~200 modules and ~3 MiB of heap in every thread that loads werift, for one certificate.
 * WebRTC peers check a certificate only against the fingerprint in the SDP (RFC 8122), so a
 * minimal self-signed one will do: an ECDSA P-256 key from `generateKeyPairSync`, and an X.509 v3
 * certificate with a subject and no extensions, written here in DER (RFC 5280 §4.1) and signed
 * with ECDSA-SHA256 — what werift's own is, less its made-up address in the subject.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** What werift takes as a certificate (`PeerConfig.dtls.keys`, `new RTCCertificate(keyPem, certPem, signatureHash)`). */
export interface DtlsKeys {
  readonly certPem: string;
  readonly keyPem: string;
  /** TLS SignatureAndHashAlgorithm (RFC 5246 §7.4.1.4.1): SHA-256 (4) with ECDSA (3). */
  readonly signatureHash: { readonly hash: 4; readonly signature: 3 };
}

export interface CertificateOptions {
  /** The subject's (and issuer's) common name. */
  readonly commonName?: string;
  /** Start of validity (default: a day ago, for peers whose clock is behind). */
  readonly notBefore?: Date;
  /** End of validity (default: ten years after `notBefore`'s day, as werift's own). */
  readonly notAfter?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** ecdsa-with-SHA256 (RFC 5758 §3.2): 1.2.840.10045.4.3.2. */
const ECDSA_WITH_SHA256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/** id-at-commonName: 2.5.4.3. */
const COMMON_NAME = [0x55, 0x04, 0x03];

/** One DER element: tag, definite length, contents (X.690 §8.1). */
function der(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: number[];
  if (n < 0x80) length = [n];
  else if (n < 0x100) length = [0x81, n];
  else if (n < 0x10000) length = [0x82, n >> 8, n & 0xff];
  else throw new Error(`a DER element of ${n} bytes is more than a certificate needs`);
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const sequence = (...items: Uint8Array[]) => der(0x30, ...items);
const oid = (bytes: readonly number[]) => der(0x06, Buffer.from(bytes));

/**
 * A validity time (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` through 2049, GeneralizedTime
 * `YYYYMMDDHHMMSSZ` from 2050, whole seconds in UTC.
 */
export function derTime(date: Date): Buffer {
  if (Number.isNaN(date.getTime())) throw new Error('a certificate time must be a valid date');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new Error(`a certificate time must be in 1950–9999, not ${year}`);
  const two = (n: number) => String(n).padStart(2, '0');
  const rest = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map(two)
    .join('');
  return year < 2050 ? der(0x17, Buffer.from(`${two(year % 100)}${rest}Z`, 'latin1')) : der(0x18, Buffer.from(`${year}${rest}Z`, 'latin1'));
}

/** A Name of one RDN, the common name as a UTF8String (RFC 5280 §4.1.2.4). */
function name(commonName: string): Buffer {
  return sequence(der(0x31, sequence(oid(COMMON_NAME), der(0x0c, Buffer.from(commonName, 'utf8')))));
}

/** A positive 64-bit serial number (RFC 5280 §4.1.2.2: positive, at most 20 bytes). */
function serialNumber(): Buffer {
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to strip
  return der(0x02, bytes);
}

/** A fresh ECDSA P-256 key and a self-signed X.509 v3 certificate for it, as PEM. */
export function makeDtlsCertificate(options: CertificateOptions = {}): DtlsKeys {
  const commonName = options.commonName ?? 'corecast';
  const notBefore = options.notBefore ?? new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 3652 * DAY_MS);
  if (!(notAfter.getTime() > notBefore.getTime())) throw new Error('a certificate must end after it starts');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const subject = name(commonName);
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))), // [0] EXPLICIT version: v3
    serialNumber(),
    algorithm,
    subject, // issuer: self-signed
    sequence(derTime(notBefore), derTime(notAfter)),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }), // SubjectPublicKeyInfo as node:crypto writes it
  );
  // ECDSA-Sig-Value in DER (node:crypto's default encoding), in a BIT STRING with no unused bits.
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(tbs, algorithm, der(0x03, Buffer.from([0]), signature));
  return {
    certPem: pem('CERTIFICATE', certificate),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    signatureHash: { hash: 4, signature: 3 },
  };
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
