/**
 * What a thread that keeps @peculiar/x509 out (thread-crypto.ts) gets in its place. werift
 * imports that package for one thing, making its DTLS certificate when none was given
 * (`CipherContext.createSelfSignedCertificateWithKey`), and sets its WebCrypto provider when its
 * DTLS module loads; the thread's certificate comes from certificate.ts instead. The names are
 * the ones werift 0.25.2 uses (test/thread-crypto.test.ts holds werift to them); using one
 * means werift went to make a certificate of its own, and says so.
 */

function absent(what: string): never {
  throw new Error(
    `${what}: @peculiar/x509 is kept out of this thread, whose DTLS certificate is made with node:crypto; ` +
      'install it with useOwnDtlsCertificate() before the first werift peer (rtc-fastpath/src/thread-crypto.ts)',
  );
}

/** werift sets Node's WebCrypto here when its DTLS module loads: nothing to do. */
export const cryptoProvider = { set(): void {} };

export const X509CertificateGenerator = {
  createSelfSigned: (): never => absent('X509CertificateGenerator.createSelfSigned'),
};

export const PemConverter = {
  encode: (): never => absent('PemConverter.encode'),
};
