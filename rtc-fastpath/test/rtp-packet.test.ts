/**
 * werift's RTP classes as the main thread takes them (src/rtp-packet.ts, werift's CommonJS rtp
 * module) against werift's own: the same parse of every kind of packet, the same bytes back, and
 * packets made here accepted by werift's functions; and the SRTP profile ids the load client
 * uses without werift's values are werift's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import * as werift from 'werift';
import { SRTP_PROFILE_IDS } from '../src/load-client.ts';
import { RtpHeader, RtpPacket } from '../src/rtp-packet.ts';

/** RTP packets with and without CSRCs, a header extension, padding and the marker. */
function samples(): Buffer[] {
  const out: Buffer[] = [];
  const kinds: Partial<werift.RtpHeader>[] = [
    { payloadType: 102, marker: true },
    { payloadType: 111, csrc: [1, 2, 3], csrcLength: 3 },
    { payloadType: 102, extension: true, extensions: [{ id: 1, payload: Buffer.from([0xab]) }], extensionProfile: werift.ExtensionProfiles.OneByte },
    { payloadType: 96, padding: true, paddingSize: 4 },
  ];
  for (const [i, props] of kinds.entries()) {
    const header = new werift.RtpHeader({ sequenceNumber: (65534 + i) & 0xffff, timestamp: 0xfffffff0 + i, ssrc: 0x12345678, ...props });
    out.push(new werift.RtpPacket(header, randomBytes(1 + i * 300)).serialize());
  }
  return out;
}

describe("werift's RTP classes without the rest of werift", () => {
  test('parse every packet as werift does and give the same bytes back', () => {
    for (const bytes of samples()) {
      const ours = RtpPacket.deSerialize(bytes);
      const theirs = werift.RtpPacket.deSerialize(bytes);
      assert.deepEqual({ ...ours.header }, { ...theirs.header });
      assert.deepEqual(ours.payload, theirs.payload);
      assert.deepEqual(ours.serialize(), bytes);
      assert.deepEqual(ours.clone().serialize(), bytes);
    }
  });

  test('packets made here are werift packets to werift', () => {
    const header = new RtpHeader({ sequenceNumber: 7, timestamp: 9000, ssrc: 42, payloadType: 102, marker: true });
    const packet = new RtpPacket(header, Buffer.from('payload'));
    const back = werift.RtpPacket.deSerialize(packet.serialize());
    assert.equal(back.header.sequenceNumber, 7);
    assert.equal(back.header.timestamp, 9000);
    assert.equal(back.header.marker, true);
    assert.deepEqual(back.payload, Buffer.from('payload'));
  });

  test("the load client's SRTP profile ids are werift's", () => {
    assert.equal(SRTP_PROFILE_IDS.ctr, werift.ProtectionProfileAes128CmHmacSha1_80);
    assert.equal(SRTP_PROFILE_IDS.gcm, werift.ProtectionProfileAeadAes128Gcm);
  });
});
