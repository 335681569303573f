/**
 * Per-packet cost of SRTP protection, werift's ciphers against this workspace's writer
 * (src/srtp.ts), for a 1188-byte video payload: µs per packet, best of five runs, one JSON
 * line per figure.
 *
 *   node rtc-fastpath/bench/srtp-bench.ts
 */
import { randomBytes } from 'node:crypto';
import { RtpHeader, SrtpSession } from 'werift';
import { writeRtpHeader } from '../src/rtp-header.ts';
import { createSrtpWriter, PROFILE } from '../src/srtp.ts';

const N = 20000;

function emit(name: string, value: number, unit: string): void {
  console.log(JSON.stringify({ name, value: Math.round(value * 1000) / 1000, unit }));
}
const payload = randomBytes(1188);

function best(fn: (i: number) => void): number {
  let min = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 5; run++) {
    for (let i = 0; i < 1000; i++) fn(i);
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(i);
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e3 / N);
  }
  return min;
}

for (const [name, profile, saltLength] of [
  ['aes_cm_hmac_sha1_80', PROFILE.AES_CM_128_HMAC_SHA1_80, 14],
  ['aead_aes_128_gcm', PROFILE.AEAD_AES_128_GCM, 12],
] as const) {
  const key = randomBytes(16);
  const salt = randomBytes(saltLength);
  const context = new SrtpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
    profile,
  }).localContext;
  const header = new RtpHeader({ payloadType: 96, ssrc: 1234, timestamp: 0 });
  const werift = best((i) => {
    header.sequenceNumber = i & 0xffff;
    context.encryptRtp(payload, header);
  });
  const writer = createSrtpWriter(context);
  const ours = best((i) => {
    const buf = Buffer.allocUnsafe(writer.prefix + 12 + payload.length + writer.tagLength);
    writeRtpHeader(buf, writer.prefix, header, 96, i & 0xffff, 0, 1234);
    writer.protect(buf, 12, payload, 1234, i & 0xffff, i >>> 16);
  });
  emit(`srtp.${name}.werift`, werift, 'us/packet');
  emit(`srtp.${name}.fastpath`, ours, 'us/packet');
}
