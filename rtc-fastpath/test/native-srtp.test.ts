/**
 * SRTP protected in the addon (native/srtp_send.c through src/native-srtp.ts) against the
 * JavaScript writer (src/srtp.ts, itself checked against werift in srtp.test.ts): for both
 * profiles the datagrams that reach real receiving sockets — over IPv4 and IPv6 loopback, two
 * viewers (two SSRCs, two destinations) interleaved in one batch, more than one call's worth,
 * across a rollover-counter wrap and a retransmission from before it, with CSRCs, an empty
 * payload and sizes around the AES block — equal the JavaScript writer's byte for byte and in
 * order, and werift decrypts them. On Linux with the addon built, the native path must be the one
 * in use (unless turned off, when the file checks that it says so).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { batchCounts, flushSends } from '../src/batch-send.ts';
import { NativeSrtp, sendProtected, srtpPath } from '../src/native-srtp.ts';
import { rtpHeaderLength, writeRtpHeader } from '../src/rtp-header.ts';
import { createSrtpWriter, PROFILE } from '../src/srtp.ts';
import { bound as boundSocket, receive } from './udp-sockets.ts';

const bound = (type: 'udp4' | 'udp6', address: string) => boundSocket(type, address, 8 * 2 ** 20);

interface Case {
  seq: number;
  roc: number;
  size: number;
  timestamp: number;
  marker: boolean;
  csrcs: number[];
}

/** One viewer's packets: in order across a wrap, then one retransmitted from before it, CSRCs now and then. */
function cases(start: number): Case[] {
  const out: Case[] = [];
  let seq = start;
  let roc = 0;
  for (let i = 0; i < 90; i++) {
    out.push({
      seq,
      roc,
      size: [1188, 0, 15, 16, 17, 1, 1400, 333][i % 8]!,
      timestamp: (0xfffffff0 + i * 3) >>> 0,
      marker: i % 3 === 0,
      csrcs: i % 11 === 5 ? [0x01020304, 0xfedcba98] : [],
    });
    seq = (seq + 1) & 0xffff;
    if (seq === 0) roc++;
  }
  out.push({ seq: 65534, roc: 0, size: 1188, timestamp: 7, marker: true, csrcs: [] });
  return out;
}

const profiles = [
  ['AES_CM_128_HMAC_SHA1_80', PROFILE.AES_CM_128_HMAC_SHA1_80, 14],
  ['AEAD_AES_128_GCM', PROFILE.AEAD_AES_128_GCM, 12],
] as const;

const native = srtpPath().path === 'native';

describe('SRTP in the addon', () => {
  it('is the path on Linux with the addon built, unless turned off', () => {
    const { path, why } = srtpPath();
    if (process.env.CORECAST_NATIVE_SRTP === 'off') assert.equal(path, 'js');
    else if (process.platform === 'linux' && process.env.CORECAST_BATCH_SEND !== 'off') assert.equal(path, 'native', why);
    if (path === 'js')
      assert.equal(
        NativeSrtp.create(
          { profile: 1, srtpSessionKey: randomBytes(16), srtpSessionSalt: randomBytes(14), srtpSessionAuthTag: randomBytes(20) },
          1,
        ),
        undefined,
      );
  });

  for (const [name, profile, saltLength] of profiles) {
    for (const [family, address] of [
      ['udp4', '127.0.0.1'],
      ['udp6', '::1'],
    ] as const) {
      it(`equals the JavaScript writer byte for byte, and werift decrypts it (${name}, ${family})`, { skip: !native }, async () => {
        const masterKey = randomBytes(16);
        const masterSalt = randomBytes(saltLength);
        const context = () =>
          new SrtpSession({
            keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
            profile,
          }).localContext;
        const keys = context();
        const writer = createSrtpWriter(keys);
        const sender = await bound(family, address);
        const viewers = [
          { ssrc: 0x11223344, socket: await bound(family, address), cases: cases(65500) },
          { ssrc: 0x99aabbcc, socket: await bound(family, address), cases: cases(40000) },
        ];
        const before = { ...batchCounts() };
        const expected: Buffer[][] = [[], []];
        const payloads: Buffer[] = [];
        const arrived = viewers.map((v) => receive(v.socket, v.cases.length));
        const contexts = viewers.map((v) => {
          const c = NativeSrtp.create(keys, v.ssrc)!;
          c.target(address, v.socket.address().port);
          return c;
        });
        // Interleaved like a fan-out: each packet to both viewers, the same source packet shared.
        for (let i = 0; i < viewers[0]!.cases.length; i++) {
          const c = viewers[0]!.cases[i]!;
          const header = new RtpHeader({
            payloadType: 100,
            sequenceNumber: 1,
            timestamp: 2,
            ssrc: 3,
            marker: c.marker,
            csrc: c.csrcs,
            csrcLength: c.csrcs.length,
          });
          const packet = new RtpPacket(header, randomBytes(c.size));
          payloads.push(packet.payload);
          for (const [v, viewer] of viewers.entries()) {
            const own = viewer.cases[i]!;
            const length = sendProtected(sender, contexts[v]!, packet, 96, own.seq, c.timestamp, own.roc, writer.tagLength);
            const headerLength = rtpHeaderLength(header);
            const buf = Buffer.alloc(writer.prefix + headerLength + c.size + writer.tagLength);
            writeRtpHeader(buf, writer.prefix, header, 96, own.seq, c.timestamp, viewer.ssrc);
            const js = Buffer.from(writer.protect(buf, headerLength, packet.payload, viewer.ssrc, own.seq, own.roc));
            assert.equal(length, js.length);
            expected[v]!.push(js);
          }
        }
        flushSends();
        const got = await Promise.all(arrived);
        for (const [v, viewer] of viewers.entries()) {
          assert.equal(got[v]!.length, expected[v]!.length);
          const receiver = context();
          for (const [i, datagram] of got[v]!.entries()) {
            const c = viewer.cases[i]!;
            assert.deepEqual(datagram, expected[v]![i], `viewer ${v} packet ${i}: seq ${c.seq} roc ${c.roc} size ${c.size}`);
            receiver.srtpSSRCStates[viewer.ssrc] = { ssrc: viewer.ssrc, rolloverCounter: c.roc, lastSequenceNumber: c.seq };
            const plain = RtpPacket.deSerialize(receiver.decryptRtp(datagram)[0]);
            assert.equal(plain.header.sequenceNumber, c.seq);
            assert.equal(plain.header.ssrc, viewer.ssrc);
            assert.deepEqual(plain.header.csrc, viewers[0]!.cases[i]!.csrcs);
            assert.deepEqual(plain.payload, payloads[i]);
          }
        }
        for (const c of contexts) c.release();
        const after = batchCounts();
        const datagrams = expected[0]!.length * 2;
        // 182 jobs: more than one call's worth (64 a call).
        assert.ok(after.calls - before.calls >= Math.ceil(datagrams / 64), `${after.calls - before.calls} calls`);
        assert.equal(after.datagrams + after.fallbacks - before.datagrams - before.fallbacks, datagrams);
      });
    }
  }

  it('sends nothing for a released context, and refuses bad keys and non-literal hosts', { skip: !native }, async () => {
    const keys = {
      profile: PROFILE.AES_CM_128_HMAC_SHA1_80,
      srtpSessionKey: randomBytes(16),
      srtpSessionSalt: randomBytes(14),
      srtpSessionAuthTag: randomBytes(20),
    };
    assert.throws(() => NativeSrtp.create({ ...keys, srtpSessionKey: randomBytes(15) }, 1), /16-byte/);
    assert.throws(() => NativeSrtp.create({ ...keys, srtpSessionAuthTag: randomBytes(10) }, 1), /20-byte/);
    assert.equal(NativeSrtp.create({ ...keys, profile: 2 }, 1), undefined);
    const context = NativeSrtp.create(keys, 1)!;
    assert.throws(() => context.target('localhost', 9), /not an IP address literal/);
    const sender = await bound('udp4', '127.0.0.1');
    const receiver = await bound('udp4', '127.0.0.1');
    const seqs: number[] = [];
    const sentinel = new Promise<void>((resolve) =>
      receiver.on('message', (m) => {
        seqs.push(m.readUInt16BE(2));
        if (m.readUInt16BE(2) === 3) resolve();
      }),
    );
    context.target('127.0.0.1', receiver.address().port);
    const packet = new RtpPacket(new RtpHeader({ payloadType: 96 }), randomBytes(100));
    context.release();
    const before = batchCounts().dropped;
    // Queued after release but flushed before the id is freed: it still goes out; the next one has no context.
    sendProtected(sender, context, packet, 96, 1, 1, 0, 10);
    flushSends();
    sendProtected(sender, context, packet, 96, 2, 1, 0, 10);
    flushSends();
    assert.equal(batchCounts().dropped - before, 1);
    // A live context's datagram after them: once it arrived, the one before it would have too.
    const live = NativeSrtp.create(keys, 1)!;
    live.target('127.0.0.1', receiver.address().port);
    sendProtected(sender, live, packet, 96, 3, 1, 0, 10);
    flushSends();
    await sentinel;
    live.release();
    assert.deepEqual(seqs, [1, 3]);
  });
});
