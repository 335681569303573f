/**
 * The SRTP layer against werift's own ciphers: for both DTLS-SRTP profiles, every protected
 * packet must equal werift's byte for byte (across a rollover-counter wrap, SSRC changes,
 * out-of-order indexes and odd payload sizes), and werift must decrypt it back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket, SrtcpSession, SrtpSession } from 'werift';
import { rtpHeaderLength, writeRtpHeader } from '../src/rtp-header.ts';
import { createSrtpWriter, PROFILE, useKeyObjects } from '../src/srtp.ts';

const profiles = [
  ['AES_CM_128_HMAC_SHA1_80', PROFILE.AES_CM_128_HMAC_SHA1_80, 14],
  ['AEAD_AES_128_GCM', PROFILE.AEAD_AES_128_GCM, 12],
] as const;

/** (ssrc, seq, roc, payload size) cases: in order across a wrap, a new SSRC, a step back, sizes around block edges. */
function cases(): { ssrc: number; seq: number; roc: number; size: number }[] {
  const out: { ssrc: number; seq: number; roc: number; size: number }[] = [];
  let seq = 65525;
  let roc = 0;
  for (let i = 0; i < 40; i++) {
    out.push({ ssrc: 0x11223344, seq, roc, size: [1188, 15, 16, 17, 1, 1400, 333][i % 7]! });
    seq = (seq + 1) & 0xffff;
    if (seq === 0) roc++;
  }
  out.push({ ssrc: 0x11223344, seq: 65530, roc: 0, size: 1188 }); // a retransmission from before the wrap
  out.push({ ssrc: 0xfedcba98, seq: 7, roc: 0, size: 1188 });
  out.push({ ssrc: 0xfedcba98, seq: 8, roc: 0, size: 200 });
  out.push({ ssrc: 0x11223344, seq: (seq + 1) & 0xffff, roc, size: 1188 });
  return out;
}

describe('SRTP writer', () => {
  for (const [name, profile, masterSaltLength] of profiles) {
    it(`protects like werift, byte for byte, and werift decrypts it (${name})`, () => {
      const masterKey = randomBytes(16);
      const masterSalt = randomBytes(masterSaltLength);
      // werift's SRTP context of one direction (what its DTLS transport holds after the handshake).
      const context = () =>
        new SrtpSession({
          keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
          profile,
        }).localContext;
      const writer = createSrtpWriter(context());
      const receiver = context();
      for (const c of cases()) {
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: c.seq,
          timestamp: 0xdeadbeef,
          ssrc: c.ssrc,
          marker: c.seq % 3 === 0,
        });
        const payload = randomBytes(c.size);
        // werift tracks the rollover counter per SSRC by itself; give its state ours.
        const expectedContext = context();
        expectedContext.srtpSSRCStates[c.ssrc] = { ssrc: c.ssrc, rolloverCounter: c.roc, lastSequenceNumber: c.seq };
        const expected = expectedContext.encryptRtp(payload, header);

        const headerLength = rtpHeaderLength(header);
        const buf = Buffer.alloc(writer.prefix + headerLength + payload.length + writer.tagLength);
        writeRtpHeader(buf, writer.prefix, header, 96, c.seq, 0xdeadbeef, c.ssrc);
        const packet = writer.protect(buf, headerLength, payload, c.ssrc, c.seq, c.roc);
        assert.deepEqual(packet, expected, `seq ${c.seq} roc ${c.roc} size ${c.size}`);

        receiver.srtpSSRCStates[c.ssrc] = { ssrc: c.ssrc, rolloverCounter: c.roc, lastSequenceNumber: c.seq };
        const [plain] = receiver.decryptRtp(packet);
        assert.deepEqual(RtpPacket.deSerialize(plain).payload, payload);
      }
    });
  }

  it("leaves werift's own ciphers working (RTP and RTCP) after their keys become KeyObjects", () => {
    for (const [, profile, saltLength] of profiles) {
      const keys = () => ({ masterKey: Buffer.alloc(16, 7), masterSalt: Buffer.alloc(saltLength, 9) });
      const make = () => {
        const { masterKey, masterSalt } = keys();
        const config = {
          keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
          profile,
        };
        return { rtp: new SrtpSession(config), rtcp: new SrtcpSession(config) };
      };
      const plain = make();
      const fast = make();
      for (const s of [fast.rtp, fast.rtcp]) {
        useKeyObjects(s.localContext);
        useKeyObjects(s.remoteContext);
      }
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: 5, timestamp: 1, ssrc: 42 });
      const payload = randomBytes(500);
      assert.deepEqual(fast.rtp.encrypt(payload, header), plain.rtp.encrypt(payload, header));
      const rtcp = Buffer.concat([Buffer.from([0x81, 201, 0, 7]), randomBytes(28)]);
      const protectedRtcp = fast.rtcp.encrypt(rtcp);
      assert.deepEqual(protectedRtcp, plain.rtcp.encrypt(rtcp));
      assert.deepEqual(fast.rtcp.decrypt(protectedRtcp), rtcp);
    }
  });

  it('refuses a profile it does not implement', () => {
    assert.throws(
      () => createSrtpWriter({ profile: 2, srtpSessionKey: randomBytes(16), srtpSessionSalt: randomBytes(14) }),
      /unsupported SRTP profile 2/,
    );
  });
});
