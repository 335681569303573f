/**
 * A thread that keeps werift's certificate library out (src/thread-crypto.ts): it loads
 * none of @peculiar/x509's graph, and its werift peer completes ICE and DTLS with a werift viewer
 * that made its certificate werift's own way, checking the fingerprint of ours. And werift still
 * looks the way the stand-in (src/x509-absent.ts) assumes: a changed layout fails here.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RTCPeerConnection, useH264, useOPUS } from 'werift';
import {
  KEPT_OUT_MODULES,
  loopbackOnly,
  loopbackPeerConfig,
  ON_DEMAND_MODULES,
  removeDefaultStun,
  STAND_IN_PACKAGES,
} from '../src/index.ts';
import mdnsOnDemand, { mdnsLoaded } from '../src/mdns-on-demand.ts';
import { tweetnaclLoaded } from '../src/tweetnacl-on-demand.ts';
import { p256 as p256StandIn } from '../src/p256-native.ts';
import * as standIn from '../src/x509-absent.ts';
import x25519StandIn from '../src/x25519-native.ts';

const require = createRequire(import.meta.url);
const THREAD = new URL('./crypto-thread.ts', import.meta.url);
/** Module paths of @peculiar/x509 and what it brings, and of noble's curves. */

type Message = { waiting?: true; answer?: string; connected?: true; certPem?: string; error?: string; loaded?: string[]; wide?: string[] };

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
  it('connects to a werift viewer with it and never loads werift’s certificate library or noble’s curves', async () => {
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
        loaded.filter((url) => KEPT_OUT_MODULES.test(url)),
        [],
      );
      // werift's bundle reached V8 one byte per character (werift-source.ts), and played as above.
      assert.deepEqual(done.wide, []);
      // tweetnacl (for @fidm/x509) and multicast-dns wait for a use that this session did not have.
      assert.ok(
        loaded.some((url) => /\/tweetnacl-on-demand\.(ts|js)$/.test(url)) && loaded.some((url) => /\/mdns-on-demand\.(ts|js)$/.test(url)),
        'the on-demand stand-ins were loaded in their place',
      );
      assert.deepEqual(
        loaded.filter((url) => ON_DEMAND_MODULES.test(url)),
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
        loaded!.filter((url) => KEPT_OUT_MODULES.test(url)),
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
    assert.deepEqual(STAND_IN_PACKAGES, ['@peculiar/x509', '@noble/curves/p256', 'tweetnacl']);
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
    // SetupCertificate returns the static one when set (thread-crypto.ts sets it).
    const setup = /static async SetupCertificate\(\) \{\s+if \(this\.localCertificate\) \{\s+return this\.localCertificate;/;
    assert.match(bundle, setup);
    assert.match(bundle, /this\.certificate = await RTCDtlsTransport\.SetupCertificate\(\);/);
  });
});

describe('the key-exchange stand-ins', () => {
  const { p256 } = require('@noble/curves/p256') as typeof import('@noble/curves/p256');
  const nacl = require('tweetnacl') as typeof import('tweetnacl');

  it('P-256: public keys and shared x coordinates as noble computes them', () => {
    for (let i = 0; i < 20; i++) {
      const a = p256StandIn.utils.randomPrivateKey();
      const b = p256.utils.randomPrivateKey();
      assert.equal(a.length, 32);
      assert.ok(p256.utils.isValidPrivateKey(a));
      assert.deepEqual(p256StandIn.getPublicKey(b, false), p256.getPublicKey(b, false));
      assert.deepEqual(p256StandIn.getPublicKey(b), p256.getPublicKey(b));
      const ours = p256StandIn.getSharedSecret(a, p256.getPublicKey(b, false));
      const nobles = p256.getSharedSecret(a, p256.getPublicKey(b, false));
      assert.equal(ours.length, 33);
      assert.deepEqual(ours.subarray(1), nobles.subarray(1), 'the x coordinate werift keeps');
      assert.deepEqual(p256StandIn.getSharedSecret(b, p256StandIn.getPublicKey(a, false)).subarray(1), ours.subarray(1));
    }
    // A scalar with a leading zero byte (OpenSSL leaves it out; the stand-in pads it back).
    const small = new Uint8Array(32);
    small[31] = 7;
    assert.deepEqual(p256StandIn.getPublicKey(small, false), p256.getPublicKey(small, false));
    assert.throws(() => p256StandIn.getPublicKey(new Uint8Array(31), false), /32 bytes/);
    assert.throws(() => p256StandIn.getSharedSecret(small, p256.getPublicKey(small, false), false), /compressed only/);
  });

  it('X25519: scalar multiplication as tweetnacl computes it, key pairs it agrees with', () => {
    for (let i = 0; i < 20; i++) {
      const n = new Uint8Array(randomBytes(32));
      const peer = nacl.box.keyPair();
      assert.deepEqual(x25519StandIn.scalarMult(n, peer.publicKey), nacl.scalarMult(n, peer.publicKey));
      const ours = x25519StandIn.box.keyPair();
      assert.equal(ours.secretKey.buffer.byteLength, 32, 'werift reads the keys through .buffer');
      assert.equal(ours.publicKey.buffer.byteLength, 32);
      assert.deepEqual(ours.publicKey, nacl.scalarMult.base(ours.secretKey));
      assert.deepEqual(x25519StandIn.scalarMult(ours.secretKey, peer.publicKey), nacl.scalarMult(peer.secretKey, ours.publicKey));
    }
    // A small-order point (all zeros) gives tweetnacl an all-zero secret; OpenSSL refuses it.
    assert.throws(() => x25519StandIn.scalarMult(new Uint8Array(32).fill(1), new Uint8Array(32)));
    assert.throws(() => x25519StandIn.scalarMult(new Uint8Array(31), new Uint8Array(32)), /32 bytes/);
  });
});

describe('werift as the key-exchange stand-ins assume it', () => {
  const bundle = readFileSync(join(dirname(require.resolve('werift')), '..', '..', 'index.mjs'), 'utf8');

  it('imports noble’s P-256 once and calls only what p256-native.ts has, keeping the x coordinate', () => {
    assert.deepEqual(
      [...bundle.matchAll(/^import (.+) from "@noble\/curves\/p256";$/gm)].map((m) => m[1]),
      ['{ p256 }'],
    );
    assert.equal(bundle.match(/@noble\//g)?.length, 1);
    const calls = new Set([...bundle.matchAll(/\bp256\.([\w.]+)\(/g)].map((m) => m[1]));
    assert.deepEqual([...calls].sort(), ['getPublicKey', 'getSharedSecret', 'utils.randomPrivateKey']);
    assert.match(bundle, /p256\.getPublicKey\(priv, false\)/);
    assert.match(
      bundle,
      /const res = p256\.getSharedSecret\(privateKey, publicKey\);\s+const secret = Buffer\.from\(res\)\.subarray\(1\);/,
    );
  });

  it('imports tweetnacl as a default and calls only scalarMult and box.keyPair', () => {
    const names = [...bundle.matchAll(/^import (\w+) from "tweetnacl";$/gm)].map((m) => m[1]!);
    assert.deepEqual(names, ['nacl', 'nacl2']);
    assert.equal(bundle.match(/"tweetnacl"/g)?.length, 2);
    const calls = new Set(names.flatMap((n) => [...bundle.matchAll(new RegExp(`\\b${n}\\.([\\w.]+)\\(`, 'g'))].map((m) => m[1])));
    assert.deepEqual([...calls].sort(), ['box.keyPair', 'scalarMult']);
    assert.match(bundle, /privateKey: Buffer\.from\(keys\.secretKey\.buffer\)/);
  });
});

describe('loaded on demand', () => {
  it("tweetnacl for @fidm/x509: loaded at the first use of a member, then tweetnacl's own", () => {
    const nacl = require('tweetnacl') as typeof import('tweetnacl');
    assert.equal(tweetnaclLoaded(), false);
    // What @fidm/x509's require('tweetnacl') returns in a hooked thread.
    const onDemand = require('../src/tweetnacl-on-demand.ts') as typeof import('tweetnacl');
    assert.equal(tweetnaclLoaded(), false, 'requiring it loads nothing');
    const seed = new Uint8Array(32).fill(7);
    const pair = onDemand.sign.keyPair.fromSeed(seed);
    assert.equal(tweetnaclLoaded(), true);
    assert.deepEqual(pair.publicKey, nacl.sign.keyPair.fromSeed(seed).publicKey);
    const signature = onDemand.sign.detached(new Uint8Array([1, 2, 3]), pair.secretKey);
    assert.ok(nacl.sign.detached.verify(new Uint8Array([1, 2, 3]), signature, pair.publicKey));
    assert.deepEqual(Object.keys(onDemand).sort(), Object.keys(nacl).sort());
    assert.equal('sign' in onDemand, true);
  });

  it('@fidm/x509 requires tweetnacl once, and uses it only for Ed25519 keys', () => {
    const pki = readFileSync(join(dirname(require.resolve('@fidm/x509')), 'pki.js'), 'utf8');
    assert.deepEqual([...pki.matchAll(/require\("tweetnacl"\)/g)].length, 1);
    assert.deepEqual([...new Set([...pki.matchAll(/tweetnacl_1\.([\w.]+)/g)].map((m) => m[1]))].sort(), [
      'sign.detached',
      'sign.detached.verify',
      'sign.keyPair.fromSeed',
    ]);
  });

  it('multicast-dns for werift: a factory that loads it when werift first makes an mDNS client', () => {
    assert.equal(typeof mdnsOnDemand, 'function');
    assert.equal(mdnsLoaded(), false);
    const bundle = readFileSync(join(dirname(require.resolve('werift')), '..', '..', 'index.mjs'), 'utf8');
    // werift imports it as a default, once, and calls it only in its mDNS lookup's constructor.
    assert.deepEqual(
      [...bundle.matchAll(/^import (\w+) from "multicast-dns";$/gm)].map((m) => m[1]),
      ['mdns'],
    );
    assert.equal(bundle.match(/"multicast-dns"/g)?.length, 1);
    assert.deepEqual(bundle.match(/\bmdns\(/g), ['mdns(']);
    assert.match(bundle, /var MdnsLookup = class \{\s+cache = [^;]+;\s+mdnsInstance = mdns\(\);/);
  });
});
