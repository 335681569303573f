import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Message, parseMessage } from 'werift';
import { newCredentials, ownerOf } from '../src/mux/credentials.ts';
import { bindingRequest, localUfragOf, packetKind, readStun, verifyFingerprint, verifyIntegrity } from '../src/mux/stun.ts';

/** A connectivity check as werift's ICE agent builds one (ice/src/ice.ts buildRequest). */
function weriftCheck(username: string, password: string, useCandidate = false): Buffer {
  // werift's enums: method 1 = BINDING, class 0 = REQUEST.
  const m = new Message(1, 0);
  m.setAttribute('USERNAME', username).setAttribute('PRIORITY', 1853824767).setAttribute('ICE-CONTROLLING', 5n);
  if (useCandidate) m.setAttribute('USE-CANDIDATE', null);
  m.addMessageIntegrity(Buffer.from(password, 'utf8')).addFingerprint();
  return m.bytes;
}

describe('STUN reading for the mux (RFC 8489, RFC 8445 §7.2.2)', () => {
  it("reads werift's checks: class, USERNAME, USE-CANDIDATE; integrity and fingerprint verify", () => {
    const bytes = weriftCheck('ab1234567890:remote', 'the-local-password-1234', true);
    const stun = readStun(bytes)!;
    assert.equal(stun.class, 'request');
    assert.equal(stun.method, 1);
    assert.equal(stun.username, 'ab1234567890:remote');
    assert.equal(localUfragOf(stun.username), 'ab1234567890');
    assert.equal(stun.useCandidate, true);
    assert.equal(verifyIntegrity(bytes, stun, 'the-local-password-1234'), true);
    assert.equal(verifyIntegrity(bytes, stun, 'another-password-123456'), false);
    assert.equal(verifyFingerprint(bytes, stun), true);
  });

  it('checks built here are what werift parses and verifies', () => {
    const bytes = bindingRequest('local:remote', 'pw-pw-pw-pw-pw-pw-pw-pw', { useCandidate: true });
    const parsed = parseMessage(bytes, Buffer.from('pw-pw-pw-pw-pw-pw-pw-pw'));
    assert.ok(parsed, 'werift accepts the integrity');
    assert.equal(parsed.getAttributeValue('USERNAME'), 'local:remote');
    assert.equal(parseMessage(bytes, Buffer.from('wrong')), undefined);
  });

  it('a flipped byte anywhere before the integrity fails it; one in the fingerprint fails that', () => {
    const bytes = bindingRequest('local:remote', 'password-password-pass');
    const stun = readStun(bytes)!;
    const tampered = Buffer.from(bytes);
    tampered[25] = tampered[25]! ^ 1;
    assert.equal(verifyIntegrity(tampered, readStun(tampered)!, 'password-password-pass'), false);
    const badFingerprint = Buffer.from(bytes);
    badFingerprint[bytes.length - 1] = badFingerprint[bytes.length - 1]! ^ 1;
    assert.equal(verifyIntegrity(badFingerprint, stun, 'password-password-pass'), false);
  });

  it('refuses what is not a well-formed STUN message', () => {
    const good = bindingRequest('a:b', 'password-password-pass');
    assert.equal(readStun(good.subarray(0, 19)), undefined, 'shorter than a header');
    const noCookie = Buffer.from(good);
    noCookie[4] = 0;
    assert.equal(readStun(noCookie), undefined, 'no magic cookie');
    assert.equal(readStun(Buffer.concat([good, Buffer.alloc(4)])), undefined, 'length field and datagram differ');
    const overrun = Buffer.from(good);
    overrun.writeUInt16BE(0xff, 22);
    assert.equal(readStun(overrun), undefined, 'attribute overruns the message');
    const noIntegrity = new Message(1, 0).setAttribute('USERNAME', 'a:b').bytes;
    const stun = readStun(noIntegrity)!;
    assert.equal(verifyIntegrity(noIntegrity, stun, 'x'), false, 'no MESSAGE-INTEGRITY');
  });

  it('tells the protocols on the port apart by their first byte (RFC 7983 §7)', () => {
    assert.equal(packetKind(Buffer.from([0x00, 1])), 'stun');
    assert.equal(packetKind(Buffer.from([22, 254])), 'dtls');
    assert.equal(packetKind(Buffer.from([0x80, 96])), 'rtp');
    assert.equal(packetKind(Buffer.from([0x90, 200])), 'rtp');
    assert.equal(packetKind(Buffer.from([64])), 'other');
    assert.equal(packetKind(Buffer.alloc(0)), 'other');
  });

  it('local ufrags name their owner thread; others name none', () => {
    for (const owner of [0, 1, 35, 36, 1295]) {
      const { ufrag, password } = newCredentials(owner);
      assert.equal(ownerOf(ufrag), owner);
      assert.match(ufrag, /^[0-9a-z]{2}[A-Za-z0-9+/]{10}$/);
      assert.match(password, /^[A-Za-z0-9+/]{24}$/);
    }
    assert.throws(() => newCredentials(1296), /mux owner must be 0\.\.1295/);
    assert.equal(ownerOf('abcd'), undefined, "werift's own 4-character ufrags");
    assert.equal(ownerOf('ZZ1234567890'), undefined);
  });
});
