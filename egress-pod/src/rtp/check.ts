/**
 * First look at a datagram on an RTP port: is it an RTP packet of the expected stream?
 * Pure and allocation-free, so it can run before anything is parsed.
 */

/** Why an ingest datagram was dropped (the `reason` label of the drop counter). */
export type DropReason = 'short' | 'version' | 'rtcp' | 'payload-type' | 'source' | 'ssrc' | 'malformed';

/** Every drop reason, for metric initialisation. */
export const DROP_REASONS: readonly DropReason[] = ['short', 'version', 'rtcp', 'payload-type', 'source', 'ssrc', 'malformed'];

/** RTP fixed header length (RFC 3550 §5.1). */
const RTP_HEADER = 12;

/**
 * RTCP packet types occupy 192–223 in the second octet (RFC 5761 §4): FFmpeg sends its sender
 * reports (200) and BYE (203) on the RTP port, and they must not be forwarded as media.
 */
export function isRtcp(datagram: Buffer): boolean {
  const b = datagram[1];
  return b !== undefined && b >= 192 && b <= 223;
}

/** Returns why the datagram is not an RTP packet with `payloadType`, or undefined when it is. */
export function checkRtp(datagram: Buffer, payloadType: number): DropReason | undefined {
  if (datagram.length < 2) return 'short';
  // RFC 3550 §5.1: version is the top two bits and must be 2.
  if (datagram[0]! >> 6 !== 2) return 'version';
  if (isRtcp(datagram)) return 'rtcp';
  if (datagram.length < RTP_HEADER) return 'short';
  if ((datagram[1]! & 0x7f) !== payloadType) return 'payload-type';
  const csrcBytes = (datagram[0]! & 0x0f) * 4;
  let offset = RTP_HEADER + csrcBytes;
  if (datagram[0]! & 0x10) {
    // Header extension (RFC 3550 §5.3.1): 4-byte header then `length` 32-bit words.
    if (datagram.length < offset + 4) return 'malformed';
    offset += 4 + datagram.readUInt16BE(offset + 2) * 4;
  }
  const padding = datagram[0]! & 0x20 ? datagram[datagram.length - 1]! : 0;
  if (datagram.length - padding <= offset) return 'malformed';
  return undefined;
}

/** True when an RTCP compound packet carries a BYE (PT 203, RFC 3550 §6.6): the sender stopped. */
export function rtcpHasBye(datagram: Buffer): boolean {
  let offset = 0;
  while (offset + 4 <= datagram.length) {
    if (datagram[offset + 1] === 203) return true;
    offset += (datagram.readUInt16BE(offset + 2) + 1) * 4;
  }
  return false;
}

/**
 * The SSRCs an RTCP compound packet says goodbye for: every BYE's source list (RFC 3550 §6.6:
 * the count is the low five bits of the first octet, the SSRCs follow the 4-byte header).
 * Entries past the end of the datagram are ignored.
 */
export function rtcpByeSsrcs(datagram: Buffer): number[] {
  const ssrcs: number[] = [];
  let offset = 0;
  while (offset + 4 <= datagram.length) {
    if (datagram[offset + 1] === 203) {
      const count = datagram[offset]! & 0x1f;
      for (let i = 0; i < count && offset + 8 + i * 4 <= datagram.length; i++) ssrcs.push(datagram.readUInt32BE(offset + 4 + i * 4));
    }
    offset += (datagram.readUInt16BE(offset + 2) + 1) * 4;
  }
  return ssrcs;
}
