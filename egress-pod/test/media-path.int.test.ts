/**
 * The per-viewer send path with real parts (FFmpeg → egress → werift viewer on loopback): a
 * packet the viewer lost comes back when it NACKs it, and keyframe requests (PLI and FIR) are
 * answered from the GOP cache, never waited for from the source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { type Received, WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { SrtpAuthenticationError } from 'werift';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** True when a received payload head starts a keyframe (SPS, or STAP-A beginning with one). */
const startsKeyframe = (r: Received) => (r.head[0]! & 0x1f) === 7 || (r.head[0]! & 0x1f) === 24;

/** A FIR (RFC 5104 §4.3.1.1) for `mediaSsrc`, as werift's RTCP sender takes it. */
function fir(senderSsrc: number, mediaSsrc: number, sequenceNumber: number) {
  return {
    serialize: () => {
      const b = Buffer.alloc(20);
      b[0] = 0x80 | 4; // V=2, FMT=4
      b[1] = 206; // PSFB
      b.writeUInt16BE(4, 2);
      b.writeUInt32BE(senderSsrc, 4);
      b.writeUInt32BE(0, 8); // media source: unused for FIR
      b.writeUInt32BE(mediaSsrc, 12);
      b[16] = sequenceNumber;
      return b;
    },
  };
}

describe('media path', { timeout: 120000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startTestEgress();
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 4 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  const viewer = async () => {
    const client = new WhepTestClient();
    const res = await client.post(whepUrl(egress));
    assert.equal(res.status, 201, await res.clone().text());
    await client.connected();
    await waitUntil(() => client.received.video.length > 50, 30000, 'video');
    return client;
  };

  it('retransmits a packet the viewer lost when it NACKs it', async (t) => {
    const client = await viewer();
    t.after(() => client.close());
    const dtls = client.pc.dtlsTransports[0]!;
    const videoSsrc = client.received.video[0]!.ssrc;
    const target = (client.received.video.at(-1)!.seq + 20) & 0xffff;
    let dropped = 0;
    // Lose one video packet on arrival, once: werift's receiver sees the gap and NACKs it.
    const decrypt = dtls.srtp.decrypt;
    dtls.srtp.decrypt = (data: Buffer) => {
      if (dropped === 0 && data.readUInt32BE(8) === videoSsrc && data.readUInt16BE(2) === target) {
        dropped++;
        throw new SrtpAuthenticationError('dropped by the test');
      }
      return decrypt(data);
    };
    await waitUntil(() => client.received.video.some((r) => r.seq === target), 20000, `packet ${target} retransmitted`);
    assert.equal(dropped, 1, 'the packet was lost the first time');
  });

  it('answers a PLI and a FIR from the GOP cache: the viewer gets a keyframe again, with no sequence gap', async (t) => {
    const client = await viewer();
    t.after(() => client.close());
    // Past the hold-off after the viewer's first keyframe.
    await new Promise((r) => setTimeout(r, 1200));
    const receiver = client.pc.getTransceivers()[0]!.receiver;
    const ssrc = client.received.video[0]!.ssrc;

    for (const request of ['pli', 'fir'] as const) {
      const answered = await metric(egress, 'corecast_egress_keyframe_requests_total', { process: 'demo', result: 'answered' });
      const from = client.received.video.length;
      if (request === 'pli') await receiver.sendRtcpPLI(ssrc);
      else await client.pc.dtlsTransports[0]!.sendRtcp([fir(0x1234, ssrc, 1)] as never);
      await waitUntil(
        async () =>
          (await metric(egress, 'corecast_egress_keyframe_requests_total', { process: 'demo', result: 'answered' })) === answered + 1,
        10000,
        `${request} answered`,
      );
      await waitUntil(() => client.received.video.slice(from).some(startsKeyframe), 10000, `a keyframe after the ${request}`);
      await new Promise((r) => setTimeout(r, 1200));
    }
    const video = client.received.video;
    for (let i = 1; i < video.length; i++) assert.equal(video[i]!.seq, (video[i - 1]!.seq + 1) & 0xffff, `no gap at ${i}`);
    assert.equal(await metric(egress, 'corecast_egress_pli_received_total', { process: 'demo' }), 2, 'both requests reached the egress');
  });
});
