/**
 * Just enough H.264 RTP (RFC 6184) to know where a decoder can start: which packets carry
 * SPS, PPS or the first piece of an IDR picture, for single NAL unit packets, STAP-A and FU-A
 * (the packetizations of `packetization-mode=1`).
 */

/** NAL unit types used here (ITU-T H.264 Table 7-1, RFC 6184 §5.2). */
export const NAL = { IDR: 5, SPS: 7, PPS: 8, STAP_A: 24, FU_A: 28 } as const;

/** What one RTP payload holds that matters for starting a decoder. */
export interface H264Info {
  /** SPS NAL units in the payload (whole units, including their NAL header). */
  readonly sps: Buffer[];
  /** PPS NAL units in the payload. */
  readonly pps: Buffer[];
  /** The payload holds an IDR slice or the first fragment of one. */
  readonly idrStart: boolean;
}

const EMPTY: H264Info = { sps: [], pps: [], idrStart: false };

/** Classifies one H.264 RTP payload. Malformed aggregates are read as far as they are valid. */
export function inspectH264(payload: Buffer): H264Info {
  if (payload.length < 1) return EMPTY;
  const type = payload[0]! & 0x1f;
  if (type === NAL.STAP_A) return inspectStapA(payload);
  if (type === NAL.FU_A) {
    // FU header (RFC 6184 §5.8): S bit 0x80, original NAL type in the low five bits.
    const fu = payload[1];
    return { sps: [], pps: [], idrStart: fu !== undefined && (fu & 0x80) !== 0 && (fu & 0x1f) === NAL.IDR };
  }
  if (type === NAL.SPS) return { sps: [payload], pps: [], idrStart: false };
  if (type === NAL.PPS) return { sps: [], pps: [payload], idrStart: false };
  return type === NAL.IDR ? { sps: [], pps: [], idrStart: true } : EMPTY;
}

/** STAP-A (RFC 6184 §5.7.1): one header byte, then 16-bit size + NAL unit, repeated. */
function inspectStapA(payload: Buffer): H264Info {
  const sps: Buffer[] = [];
  const pps: Buffer[] = [];
  let idrStart = false;
  let offset = 1;
  while (offset + 2 <= payload.length) {
    const size = payload.readUInt16BE(offset);
    offset += 2;
    if (size === 0 || offset + size > payload.length) break;
    const nal = payload.subarray(offset, offset + size);
    const type = nal[0]! & 0x1f;
    if (type === NAL.SPS) sps.push(nal);
    else if (type === NAL.PPS) pps.push(nal);
    else if (type === NAL.IDR) idrStart = true;
    offset += size;
  }
  return { sps, pps, idrStart };
}

/** Builds a STAP-A payload of the given NAL units (NRI is the highest of theirs, RFC 6184 §5.7). */
export function stapA(nals: readonly Buffer[]): Buffer {
  let nri = 0;
  let size = 1;
  for (const nal of nals) {
    nri = Math.max(nri, nal[0]! & 0x60);
    size += 2 + nal.length;
  }
  const out = Buffer.alloc(size);
  out[0] = nri | NAL.STAP_A;
  let offset = 1;
  for (const nal of nals) {
    out.writeUInt16BE(nal.length, offset);
    nal.copy(out, offset + 2);
    offset += 2 + nal.length;
  }
  return out;
}
