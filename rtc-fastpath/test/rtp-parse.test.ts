/**
 * The RTP parser (src/rtp-parse.ts) against werift's `RtpPacket.deSerialize`, for both builds of
 * werift's classes (its bundle, as a fan-out thread has them; its CommonJS rtp module, as the
 * main thread has them): every field of the header, the payload (a view of the same bytes), the
 * class, and the bytes `serialize` gives back — over packets with and without CSRCs (up to 15),
 * padding, marker, every payload type, sequence and timestamp edges, empty payloads; packets with
 * a header extension and short ones go to werift's parser and come back as werift's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as werift from 'werift';
import { RtpHeader as CjsHeader, RtpPacket as CjsPacket } from '../src/rtp-packet.ts';
import { rtpParser } from '../src/rtp-parse.ts';

/** A deterministic generator (xorshift32), so a failure names a packet that can be made again. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Wire bytes of varied packets without a header extension. */
function plain(count: number): Buffer[] {
  const next = random(20261207);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const cc = i % 7 === 0 ? next() % 16 : 0;
    const padding = i % 5 === 0;
    const header = new werift.RtpHeader({
      payloadType: next() % 128,
      marker: next() % 2 === 0,
      sequenceNumber: [0, 65535, next() % 65536][i % 3]!,
      timestamp: [0, 0xffffffff, next()][i % 3]!,
      ssrc: next(),
      csrc: Array.from({ length: cc }, () => next()),
      csrcLength: cc,
      padding,
      paddingSize: padding ? 1 + (next() % 16) : 0,
    });
    const size = [0, 1, 1200, next() % 1400][i % 4]!;
    out.push(new werift.RtpPacket(header, Buffer.from(Array.from({ length: size }, () => next() & 0xff))).serialize());
  }
  return out;
}

/** Wire bytes with header extensions (one- and two-byte forms, RFC 8285). */
function withExtensions(): Buffer[] {
  return [werift.ExtensionProfiles.OneByte, werift.ExtensionProfiles.TwoByte].map((extensionProfile, i) =>
    new werift.RtpPacket(
      new werift.RtpHeader({
        payloadType: 102,
        sequenceNumber: 10 + i,
        timestamp: 90_000,
        ssrc: 7,
        extension: true,
        extensionProfile,
        extensions: [
          { id: 1, payload: Buffer.from([0xab]) },
          { id: 3, payload: Buffer.from([1, 2, 3]) },
        ],
      }),
      Buffer.from('payload'),
    ).serialize(),
  );
}

/** Each field of the header, as werift's parser sets them. */
const fields = (h: werift.RtpHeader) => ({ ...h });

for (const [build, classes] of [
  ['werift’s bundle', { RtpHeader: werift.RtpHeader, RtpPacket: werift.RtpPacket }],
  ['werift’s CommonJS rtp module', { RtpHeader: CjsHeader, RtpPacket: CjsPacket }],
] as const) {
  describe(`RTP parser (${build})`, () => {
    const parse = rtpParser(classes);

    it('gives every field werift’s parser gives, the payload as a view of the same bytes, and the same bytes back', () => {
      for (const [i, bytes] of plain(400).entries()) {
        const ours = parse(bytes);
        const theirs = classes.RtpPacket.deSerialize(bytes);
        assert.ok(ours instanceof classes.RtpPacket, `packet ${i}: werift's class`);
        assert.ok(ours.header instanceof classes.RtpHeader);
        assert.deepEqual(fields(ours.header), fields(theirs.header), `packet ${i}: header`);
        assert.deepEqual(Object.keys(ours.header), Object.keys(theirs.header), `packet ${i}: the same fields in the same order`);
        assert.deepEqual(ours.payload, theirs.payload, `packet ${i}: payload`);
        assert.equal(ours.payload.buffer, bytes.buffer);
        assert.equal(ours.payload.byteOffset, theirs.payload.byteOffset);
        assert.deepEqual(ours.serialize(), bytes, `packet ${i}: serialize`);
      }
    });

    it('leaves packets with a header extension to werift’s parser', () => {
      for (const bytes of withExtensions()) {
        const ours = parse(bytes);
        assert.deepEqual(fields(ours.header), fields(classes.RtpPacket.deSerialize(bytes).header));
        assert.equal(ours.header.extensions.length, 2);
        assert.deepEqual(ours.serialize(), bytes);
      }
    });

    it('fails on a packet shorter than its header as werift’s parser does', () => {
      for (const bytes of [Buffer.from([0x80, 96, 0, 1]), Buffer.from([0x82, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2])]) {
        const theirs = (() => {
          try {
            return { ok: classes.RtpPacket.deSerialize(bytes) };
          } catch (error) {
            return { error: (error as Error).name };
          }
        })();
        const ours = (() => {
          try {
            return { ok: parse(bytes) };
          } catch (error) {
            return { error: (error as Error).name };
          }
        })();
        assert.deepEqual(ours, theirs);
      }
    });
  });
}
