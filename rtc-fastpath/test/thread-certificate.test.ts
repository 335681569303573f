/**
 * A thread that keeps werift's certificate library out (src/thread-certificate.ts): it loads
 * none of @peculiar/x509's graph, and its werift peer completes ICE and DTLS with a werift viewer
 * that made its certificate werift's own way, checking the fingerprint of ours. And werift still
 * looks the way the stand-in (src/x509-absent.ts) assumes: a changed layout fails here.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RTCPeerConnection, useH264, useOPUS } from 'werift';
import { KEPT_OUT_PACKAGES, loopbackOnly, loopbackPeerConfig, removeDefaultStun } from '../src/index.ts';
import * as standIn from '../src/x509-absent.ts';

const require = createRequire(import.meta.url);
const THREAD = new URL('./certificate-thread.ts', import.meta.url);
/** Module paths of @peculiar/x509 and what it brings. */
const CERTIFICATE_LIBRARIES = /node_modules\/(@peculiar\/|tsyringe\/|reflect-metadata\/|asn1js\/|pvtsutils\/|pvutils\/)/;

type Message = { waiting?: true; answer?: string; connected?: true; certPem?: string; error?: string; loaded?: string[] };

/** Starts the thread; `next()` resolves with each message it posts, in order. */
function thread(mode: 'serve' | 'no-certificate') {
  const worker = new Worker(THREAD, { workerData: { mode } });
  const inbox: Message[] = [];
  const waiters: ((m: Message) => void)[] = [];
  let failure: Error | undefined;
  worker.on('message', (m: Message) => (waiters.shift() ?? ((x) => inbox.push(x)))(m));
  worker.on('error', (err) => (failure = err));
  return {
    worker,
    next: () =>
      new Promise<Message>((resolve, reject) => {
        if (failure) return reject(failure);
        const queued = inbox.shift();
        if (queued) resolve(queued);
        else waiters.push(resolve);
        worker.once('exit', () => reject(failure ?? new Error('the thread ended')));
      }),
  };
}

describe('a thread with its own DTLS certificate', () => {
  it('connects to a werift viewer with it and never loads the certificate libraries', async () => {
    const { worker, next } = thread('serve');
    const viewer = new RTCPeerConnection(loopbackPeerConfig({ video: [useH264()], audio: [useOPUS()] }));
    try {
      assert.deepEqual(await next(), { waiting: true });
      viewer.addTransceiver('video', { direction: 'recvonly' });
      const offer = await viewer.createOffer();
      removeDefaultStun(viewer);
      await viewer.setLocalDescription(offer);
      const viewerConnected = new Promise<void>((resolve) =>
        viewer.connectionStateChange.subscribe((state) => state === 'connected' && resolve()),
      );
      worker.postMessage(loopbackOnly(viewer.localDescription!.sdp));
      const { answer } = await next();
      assert.ok(answer);
      await viewer.setRemoteDescription({ type: 'answer', sdp: answer });
      const done = await next();
      await viewerConnected;
      assert.equal(done.connected, true);
      // werift checked the certificate the thread sent against this fingerprint in the answer.
      const fingerprint = /a=fingerprint:sha-256 (\S+)/.exec(answer)?.[1];
      assert.equal(fingerprint?.toUpperCase(), new X509Certificate(done.certPem!).fingerprint256);
      // The viewer (this thread) made its certificate werift's way: the other is not werift's default.
      const ownViewer = /a=fingerprint:sha-256 (\S+)/.exec(viewer.localDescription!.sdp)?.[1];
      assert.notEqual(ownViewer, fingerprint);

      const loaded = done.loaded!;
      assert.ok(
        loaded.some((url) => url.includes('/werift/lib/index.mjs')),
        'the load log saw werift itself',
      );
      assert.ok(
        loaded.some((url) => url.includes('/@fidm/x509/')),
        'werift still parses PEM with @fidm/x509',
      );
      assert.ok(
        loaded.some((url) => /\/x509-absent\.(ts|js)$/.test(url)),
        'the stand-in was loaded in its place',
      );
      assert.deepEqual(
        loaded.filter((url) => CERTIFICATE_LIBRARIES.test(url)),
        [],
      );
    } finally {
      await viewer.close();
      await worker.terminate();
    }
  });

  it('says what to do when werift goes to make a certificate of its own', async () => {
    const { worker, next } = thread('no-certificate');
    try {
      const { error, loaded } = await next();
      assert.match(error!, /X509CertificateGenerator\.createSelfSigned: @peculiar\/x509 is kept out of this thread/);
      assert.match(error!, /useOwnDtlsCertificate/);
      assert.deepEqual(
        loaded!.filter((url) => CERTIFICATE_LIBRARIES.test(url)),
        [],
      );
    } finally {
      await worker.terminate();
    }
  });
});

describe('werift as the stand-in for @peculiar/x509 assumes it', () => {
  const bundle = readFileSync(join(dirname(require.resolve('werift')), '..', '..', 'index.mjs'), 'utf8');

  it('imports the package in one place, as a namespace, and uses only what the stand-in has', () => {
    assert.deepEqual(KEPT_OUT_PACKAGES, ['@peculiar/x509']);
    const imports = [...bundle.matchAll(/^import (.+) from "@peculiar\/x509";$/gm)].map((m) => m[1]);
    assert.deepEqual(imports, ['* as x509']);
    assert.equal(bundle.match(/@peculiar\/x509/g)?.length, 1, 'no other import or require of it');
    const used = new Set([...bundle.matchAll(/\bx509\.(\w+)/g)].map((m) => m[1]));
    assert.deepEqual([...used].sort(), ['PemConverter', 'X509CertificateGenerator', 'cryptoProvider']);
    assert.deepEqual(Object.keys(standIn).sort(), [...used].sort());
    // At load, only cryptoProvider.set runs; the rest only when werift makes a certificate itself.
    assert.match(bundle, /^x509\.cryptoProvider\.set\(crypto\);$/m);
    assert.doesNotThrow(() => standIn.cryptoProvider.set());
  });

  it('makes its default certificate only when RTCDtlsTransport has none', () => {
    // SetupCertificate returns the static one when set (thread-certificate.ts sets it).
    const setup = /static async SetupCertificate\(\) \{\s+if \(this\.localCertificate\) \{\s+return this\.localCertificate;/;
    assert.match(bundle, setup);
    assert.match(bundle, /this\.certificate = await RTCDtlsTransport\.SetupCertificate\(\);/);
  });
});
