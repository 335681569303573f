import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePin } from '../src/ingest.ts';
import { checkRtp, rtcpByeSsrcs, rtcpHasBye } from '../src/rtp/check.ts';
import { inspectH264, NAL, stapA } from '../src/rtp/h264.ts';
import { seqAfter, Timeline } from '../src/rtp/timeline.ts';

/** An RTP packet: version 2, payload type `pt`, 4 payload bytes unless given. */
function rtp(pt: number, options: { byte0?: number; payload?: Buffer; marker?: boolean } = {}): Buffer {
  const header = Buffer.alloc(12);
  header[0] = options.byte0 ?? 0x80;
  header[1] = (options.marker ? 0x80 : 0) | pt;
  return Buffer.concat([header, options.payload ?? Buffer.from([1, 2, 3, 4])]);
}

describe('checkRtp', () => {
  const cases: [string, Buffer, string | undefined][] = [
    ['a good packet', rtp(102), undefined],
    ['a good packet with the marker bit', rtp(102, { marker: true }), undefined],
    ['one byte', Buffer.from([0x80]), 'short'],
    ['version 1', rtp(102, { byte0: 0x40 }), 'version'],
    ['version 0 (a STUN packet)', Buffer.from([0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0]), 'version'],
    ['an RTCP sender report (200)', Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 1]), 'rtcp'],
    ['an RTCP BYE (203)', Buffer.from([0x81, 203, 0, 1, 0, 0, 0, 1]), 'rtcp'],
    ['RTCP type 192 (RFC 5761 range)', Buffer.from([0x80, 192, 0, 1, 0, 0, 0, 1]), 'rtcp'],
    ['a header shorter than 12 bytes', Buffer.from([0x80, 102, 0, 1, 0, 0]), 'short'],
    ['another payload type', rtp(111), 'payload-type'],
    ['no payload', rtp(102, { payload: Buffer.alloc(0) }), 'malformed'],
    ['an extension bit without the extension', rtp(102, { byte0: 0x90, payload: Buffer.from([1]) }), 'malformed'],
    ['padding eating the whole payload', rtp(102, { byte0: 0xa0, payload: Buffer.from([0, 0, 0, 4]) }), 'malformed'],
  ];
  for (const [name, packet, expected] of cases) {
    it(`${name} → ${expected ?? 'accepted'}`, () => assert.equal(checkRtp(packet, 102), expected));
  }

  it('finds a BYE anywhere in an RTCP compound packet', () => {
    const sr = Buffer.from([0x80, 200, 0, 1, 0, 0, 0, 1]);
    const bye = Buffer.from([0x81, 203, 0, 1, 0, 0, 0, 1]);
    assert.equal(rtcpHasBye(Buffer.concat([sr, bye])), true);
    assert.equal(rtcpHasBye(sr), false);
  });

  it('pinned ingest: reads the SSRCs a BYE says goodbye for (a BYE counts only for the SSRC it names)', () => {
    const sr = Buffer.from([0x80, 200, 0, 1, 0, 0, 0, 1]);
    const bye = Buffer.from([0x82, 203, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xfe]);
    assert.deepEqual(rtcpByeSsrcs(Buffer.concat([sr, bye])), [7, 0xfffffffe]);
    assert.deepEqual(rtcpByeSsrcs(sr), []);
    assert.deepEqual(rtcpByeSsrcs(Buffer.from([0x83, 203, 0, 3, 0, 0, 0, 9])), [9], 'a count past the end reads what is there');
  });
});

describe('parsePin (pinned ingest: the pin file)', () => {
  it('reads addresses separated by commas or white space; empty is no pin', () => {
    assert.deepEqual(parsePin('10.0.0.7'), { addresses: ['10.0.0.7'] });
    assert.deepEqual(parsePin(' 10.0.0.7,fd00::7\n'), { addresses: ['10.0.0.7', 'fd00::7'] });
    assert.deepEqual(parsePin(''), { addresses: [] });
  });
  it('refuses anything that is not an address', () => {
    assert.deepEqual(parsePin('10.0.0.0/8'), { error: '"10.0.0.0/8" is not an IP address' });
    assert.deepEqual(parsePin('ffmpeg.local'), { error: '"ffmpeg.local" is not an IP address' });
  });
});

describe('inspectH264', () => {
  const sps = Buffer.from([0x67, 0x42, 0xc0, 0x1f]);
  const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
  it('single NAL units: SPS, PPS, IDR, P-slice', () => {
    assert.deepEqual(inspectH264(sps).sps, [sps]);
    assert.deepEqual(inspectH264(pps).pps, [pps]);
    assert.equal(inspectH264(Buffer.from([0x65, 0x88])).idrStart, true);
    assert.equal(inspectH264(Buffer.from([0x41, 0x9a])).idrStart, false);
  });
  it('STAP-A with SPS, PPS and an IDR', () => {
    const info = inspectH264(stapA([sps, pps, Buffer.from([0x65, 0x88, 0x80])]));
    assert.deepEqual(info.sps, [sps]);
    assert.deepEqual(info.pps, [pps]);
    assert.equal(info.idrStart, true);
  });
  it('FU-A: only the start fragment of an IDR starts it', () => {
    assert.equal(inspectH264(Buffer.from([0x7c, 0x85, 0])).idrStart, true);
    assert.equal(inspectH264(Buffer.from([0x7c, 0x05, 0])).idrStart, false, 'middle fragment');
    assert.equal(inspectH264(Buffer.from([0x7c, 0x81, 0])).idrStart, false, 'P-slice start');
  });
  it('a truncated STAP-A is read as far as it is valid', () => {
    const info = inspectH264(Buffer.concat([stapA([sps]), Buffer.from([0, 50, 0x65])]));
    assert.deepEqual(info.sps, [sps]);
    assert.equal(info.idrStart, false);
  });
  it('stapA puts the highest NRI in its header', () => {
    assert.equal(stapA([Buffer.from([0x06, 1]), sps])[0], 0x60 | NAL.STAP_A);
  });
});

describe('Timeline', () => {
  it('passes the first source through and continues across a new SSRC by elapsed time', () => {
    let now = 1000;
    const t = new Timeline(90000, () => now);
    assert.deepEqual(t.map(1, 100, 5000), { seq: 100, timestamp: 5000, restarted: false });
    now += 33;
    assert.deepEqual(t.map(1, 101, 8000), { seq: 101, timestamp: 8000, restarted: false });
    now += 2000; // the source was gone for two seconds and came back with new bases
    const m = t.map(2, 40000, 123456);
    assert.deepEqual(m, { seq: 102, timestamp: 8000 + 180000, restarted: true });
    now += 33;
    assert.deepEqual(t.map(2, 40001, 126456), { seq: 103, timestamp: 8000 + 180000 + 3000, restarted: false });
  });
  it('wraps sequence numbers and timestamps', () => {
    const t = new Timeline(48000, () => 0);
    t.map(1, 65535, 0xffffffff);
    const m = t.map(2, 7, 7);
    assert.equal(m.seq, 0);
    assert.equal(m.timestamp, 0);
  });
  it('insertBefore gives the inserted packet the number and shifts the rest by one', () => {
    const t = new Timeline(90000, () => 0);
    t.map(1, 10, 0);
    const m = t.map(1, 11, 3000);
    assert.equal(t.insertBefore(m), 11);
    assert.equal(m.seq, 12);
    assert.equal(t.map(1, 12, 3000).seq, 13);
  });
  it('seqAfter follows RFC 1982 serial arithmetic', () => {
    assert.equal(seqAfter(1, 65535), true);
    assert.equal(seqAfter(65535, 1), false);
    assert.equal(seqAfter(5, 5), false);
  });
});
