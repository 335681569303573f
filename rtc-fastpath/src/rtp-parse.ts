/**
 * RTP packets (RFC 3550 §5.1) parsed into werift's own `RtpHeader` and `RtpPacket`, with the same
 * fields werift's `RtpPacket.deSerialize` gives them, at a fraction of its cost: werift reads each
 * of the header's bit fields through a helper that writes the byte out as a string of binary
 * digits, splits it, pads, slices and joins it again and parses the result — four of those per
 * packet. In a fan-out thread that was more than half of everything it allocated while idle
 * (~50 of 96 MB a minute for one 2.5 Mbps stream), and every one of its packets is parsed again
 * in each thread and on the main thread.
 *
 * The common packet — no header extension — is read here: version, padding (its size from the
 * last byte), marker, payload type, sequence number, timestamp, SSRC, CSRCs, and the payload as
 * a view of the same bytes between the header and the padding, as werift's parser leaves them.
 * A packet with a header extension, or too short for its header, goes to werift's own parser (its
 * extension reading, its errors). `test/rtp-parse.test.ts` compares the two field by field and
 * byte for byte, for both builds of werift's classes.
 */
import type { RtpHeader, RtpPacket } from 'werift';

/** werift's two RTP classes (its bundle's, or its CommonJS build's: `rtp-packet.ts`). */
export interface RtpClasses {
  readonly RtpHeader: typeof RtpHeader;
  readonly RtpPacket: typeof RtpPacket;
}

/** A parser making packets of `classes`, field for field what werift's `RtpPacket.deSerialize` makes. */
export function rtpParser(classes: RtpClasses): (buf: Buffer) => RtpPacket {
  const Header = classes.RtpHeader;
  const Packet = classes.RtpPacket;
  return (buf: Buffer): RtpPacket => {
    const b0 = buf[0]!;
    const cc = b0 & 0x0f;
    const payloadOffset = 12 + 4 * cc;
    // A header extension (X), or fewer bytes than the fixed header and CSRCs: werift's own parser.
    if ((b0 & 0x10) !== 0 || buf.length < payloadOffset) return Packet.deSerialize(buf);
    const h = new Header();
    const b1 = buf[1]!;
    h.version = b0 >> 6;
    h.padding = (b0 & 0x20) !== 0;
    h.marker = (b1 & 0x80) !== 0;
    h.payloadType = b1 & 0x7f;
    h.sequenceNumber = buf.readUInt16BE(2);
    h.timestamp = buf.readUInt32BE(4);
    h.ssrc = buf.readUInt32BE(8);
    h.csrcLength = cc;
    if (cc > 0) {
      const csrc: number[] = [];
      for (let i = 0; i < cc; i++) csrc.push(buf.readUInt32BE(12 + 4 * i));
      h.csrc = csrc;
    }
    h.payloadOffset = payloadOffset;
    if (h.padding) h.paddingSize = buf[buf.length - 1]!;
    return new Packet(h, buf.subarray(payloadOffset, buf.length - h.paddingSize));
  };
}
