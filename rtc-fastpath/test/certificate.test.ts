/**
 * The DTLS certificate writer (src/certificate.ts) read back by node:crypto's X509Certificate
 * (OpenSSL's parser), field by field and byte by byte, and by @fidm/x509, the parser werift
 * itself runs on it.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { derTime, makeDtlsCertificate } from '../src/certificate.ts';

const require = createRequire(import.meta.url);

/** The DER of a PEM certificate. */
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

/** Tag, header length and content length of the DER element at `at`. */
function element(buf: Buffer, at: number): { tag: number; header: number; length: number } {
  const first = buf[at + 1]!;
  if (first < 0x80) return { tag: buf[at]!, header: 2, length: first };
  const n = first & 0x7f;
  return { tag: buf[at]!, header: 2 + n, length: buf.subarray(at + 2, at + 2 + n).reduce((v, b) => v * 256 + b, 0) };
}

/** The top-level elements inside the constructed element at `at`. */
function children(buf: Buffer, at: number): Buffer[] {
  const outer = element(buf, at);
  const out: Buffer[] = [];
  for (let i = at + outer.header; i < at + outer.header + outer.length;) {
    const e = element(buf, i);
    out.push(buf.subarray(i, i + e.header + e.length));
    i += e.header + e.length;
  }
  return out;
}

describe('makeDtlsCertificate', () => {
  const notBefore = new Date('2026-01-02T03:04:05Z');
  const notAfter = new Date('2036-01-02T03:04:05Z');
  const keys = makeDtlsCertificate({ commonName: 'egress-test', notBefore, notAfter });
  const x509 = new X509Certificate(keys.certPem);
  const der = derOf(keys.certPem);

  it('is a self-signed X.509 certificate OpenSSL reads, for the key given with it', () => {
    assert.equal(x509.subject, 'CN=egress-test');
    assert.equal(x509.issuer, 'CN=egress-test');
    assert.ok(x509.checkIssued(x509), 'issued by itself');
    assert.ok(x509.verify(x509.publicKey), 'its signature checks with its own key');
    const key = createPrivateKey(keys.keyPem);
    assert.ok(x509.checkPrivateKey(key), 'the private key is the certificate’s');
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(!x509.ca);
    assert.deepEqual(keys.signatureHash, { hash: 4, signature: 3 });
    // What werift signs the handshake's key exchange with checks with the certificate.
    const signed = sign('sha256', Buffer.from('server key exchange'), key);
    assert.ok(verify('sha256', Buffer.from('server key exchange'), x509.publicKey, signed));
  });

  it('has the validity asked for, to the second, and a positive 64-bit serial', () => {
    assert.equal(new Date(x509.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(x509.validTo).toISOString(), notAfter.toISOString());
    assert.match(x509.serialNumber, /^[0-9A-F]{16}$/);
    assert.ok(Number.parseInt(x509.serialNumber[0]!, 16) < 8, 'the high bit is clear (positive)');
  });

  it('is laid out as RFC 5280 says, byte for byte', () => {
    assert.deepEqual(x509.raw, der, 'OpenSSL reads back the same bytes');
    const top = element(der, 0);
    assert.equal(top.tag, 0x30);
    assert.equal(top.header + top.length, der.length, 'nothing after the certificate');
    const [tbs, algorithm, signature] = children(der, 0);
    assert.ok(tbs && algorithm && signature);
    const ecdsaSha256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
    assert.deepEqual(algorithm, ecdsaSha256);
    const fields = children(tbs, 0);
    assert.equal(fields.length, 7, 'version, serial, signature, issuer, validity, subject, key; no extensions');
    assert.deepEqual(fields[0], Buffer.from('a003020102', 'hex'), '[0] EXPLICIT INTEGER 2: v3');
    assert.equal(fields[1]![0], 0x02);
    assert.deepEqual(fields[2], ecdsaSha256);
    const cn = Buffer.concat([Buffer.from('3016311430120603550403', 'hex'), Buffer.from([0x0c, 11]), Buffer.from('egress-test')]);
    assert.deepEqual(fields[3], cn, 'issuer: one RDN, commonName as a UTF8String');
    assert.deepEqual(fields[5], cn, 'subject the same');
    assert.deepEqual(fields[4], Buffer.concat([Buffer.from([0x30, 30]), derTime(notBefore), derTime(notAfter)]));
    assert.deepEqual(fields[6], x509.publicKey.export({ type: 'spki', format: 'der' }));
    // BIT STRING, no unused bits, over the DER ECDSA-Sig-Value that verifies the TBS bytes.
    const bits = element(signature, 0);
    assert.equal(bits.tag, 0x03);
    assert.equal(signature[bits.header], 0);
    assert.ok(verify('sha256', tbs, x509.publicKey, signature.subarray(bits.header + 1)));
  });

  it('is what werift reads: @fidm/x509 parses it to the same DER and key', () => {
    const { Certificate, PrivateKey } = require('@fidm/x509') as typeof import('@fidm/x509');
    const parsed = Certificate.fromPEM(Buffer.from(keys.certPem));
    assert.deepEqual(parsed.raw, der);
    const fromFidm = createPublicKey(parsed.publicKey.toPEM());
    assert.deepEqual(fromFidm.export({ type: 'spki', format: 'der' }), x509.publicKey.export({ type: 'spki', format: 'der' }));
    const key = PrivateKey.fromPEM(Buffer.from(keys.keyPem));
    // werift's ServerKeyExchange signature (generateKeySignature) goes through this call.
    const signed = key.sign(Buffer.from('params'), 'sha256');
    assert.ok(verify('sha256', Buffer.from('params'), x509.publicKey, signed));
    assert.equal(
      createHash('sha256').update(parsed.raw).digest('hex').toUpperCase().match(/../g)!.join(':'),
      x509.fingerprint256,
      'the fingerprint a peer checks is the DER’s hash',
    );
  });

  it('makes a new key and serial each time, valid from yesterday for ten years by default', () => {
    const a = makeDtlsCertificate();
    const b = makeDtlsCertificate();
    assert.notEqual(a.keyPem, b.keyPem);
    const ax = new X509Certificate(a.certPem);
    assert.notEqual(ax.serialNumber, new X509Certificate(b.certPem).serialNumber);
    const from = new Date(ax.validFrom).getTime();
    const to = new Date(ax.validTo).getTime();
    assert.ok(from < Date.now() - 23 * 3600_000 && from > Date.now() - 49 * 3600_000, ax.validFrom);
    assert.ok(to - from > 3650 * 86400_000 && to - from < 3653 * 86400_000, ax.validTo);
    assert.equal(ax.subject, 'CN=corecast');
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050', () => {
    assert.deepEqual(derTime(new Date('2049-12-31T23:59:59Z')), Buffer.concat([Buffer.from([0x17, 13]), Buffer.from('491231235959Z')]));
    assert.deepEqual(derTime(new Date('1999-01-01T00:00:00Z')), Buffer.concat([Buffer.from([0x17, 13]), Buffer.from('990101000000Z')]));
    assert.deepEqual(derTime(new Date('2050-01-01T00:00:00Z')), Buffer.concat([Buffer.from([0x18, 15]), Buffer.from('20500101000000Z')]));
    const late = makeDtlsCertificate({ notBefore: new Date('2045-06-01T00:00:00Z'), notAfter: new Date('2055-06-01T00:00:00Z') });
    assert.equal(new Date(new X509Certificate(late.certPem).validTo).toISOString(), '2055-06-01T00:00:00.000Z');
  });

  it('refuses times it cannot write', () => {
    assert.throws(() => derTime(new Date(Number.NaN)), /valid date/);
    assert.throws(() => derTime(new Date('1949-12-31T00:00:00Z')), /1950–9999/);
    assert.throws(() => makeDtlsCertificate({ notBefore: notAfter, notAfter: notBefore }), /end after it starts/);
  });
});
