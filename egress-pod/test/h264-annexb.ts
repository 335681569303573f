/**
 * Test helper: turns received H.264 RTP packets (RFC 6184 packetization-mode 1: single NAL
 * units, STAP-A, FU-A) back into an Annex B byte stream a decoder (FFmpeg) can read.
 */
import type { RtpPacket } from 'werift';

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** Annex B stream of the packets, in the order given. An FU-A whose start was not seen is skipped. */
export function toAnnexB(packets: readonly RtpPacket[]): Buffer {
  const out: Buffer[] = [];
  let fragment: Buffer[] | undefined;
  for (const { payload } of packets) {
    const type = payload[0]! & 0x1f;
    if (type === 24) {
      // STAP-A (§5.7.1): 16-bit size + NAL unit, repeated.
      for (let offset = 1; offset + 2 <= payload.length;) {
        const size = payload.readUInt16BE(offset);
        out.push(START_CODE, payload.subarray(offset + 2, offset + 2 + size));
        offset += 2 + size;
      }
    } else if (type === 28) {
      // FU-A (§5.8): rebuild the NAL header from the FU indicator's F/NRI and the FU header's type.
      const fu = payload[1]!;
      if (fu & 0x80) fragment = [Buffer.from([(payload[0]! & 0xe0) | (fu & 0x1f)])];
      if (!fragment) continue;
      fragment.push(payload.subarray(2));
      if (fu & 0x40) {
        out.push(START_CODE, ...fragment);
        fragment = undefined;
      }
    } else {
      out.push(START_CODE, payload);
    }
  }
  return Buffer.concat(out);
}
