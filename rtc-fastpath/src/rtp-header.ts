/**
 * Writes an RTP fixed header (RFC 3550 §5.1) straight into an outgoing buffer: the fan-out
 * sends each shared packet with a viewer's own SSRC, payload type, sequence number and
 * timestamp, so only these twelve bytes (and any CSRCs) differ per viewer.
 */
import type { RtpHeader } from 'werift';

/** Header bytes for `source` (fixed header plus its CSRCs; extensions are not written). */
export function rtpHeaderLength(source: RtpHeader): number {
  return 12 + source.csrcLength * 4;
}

/**
 * Writes the header of `source` at `offset` with the given fields; returns its length.
 * Version 2, no padding (the payload never carries any), no extension, marker kept.
 */
export function writeRtpHeader(
  buf: Buffer,
  offset: number,
  source: RtpHeader,
  payloadType: number,
  seq: number,
  timestamp: number,
  ssrc: number,
): number {
  const csrcs = source.csrcLength;
  buf[offset] = 0x80 | csrcs;
  buf[offset + 1] = (source.marker ? 0x80 : 0) | payloadType;
  buf[offset + 2] = seq >>> 8;
  buf[offset + 3] = seq & 0xff;
  buf.writeUInt32BE(timestamp >>> 0, offset + 4);
  buf.writeUInt32BE(ssrc >>> 0, offset + 8);
  for (let i = 0; i < csrcs; i++) buf.writeUInt32BE(source.csrc[i]! >>> 0, offset + 12 + i * 4);
  return 12 + csrcs * 4;
}
