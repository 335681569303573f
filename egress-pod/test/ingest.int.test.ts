/**
 * RTP ingest on real sockets: datagrams that are not the stream's RTP are dropped and counted
 * by reason (FFmpeg's own RTCP sender reports among them), a sender outside `sourceAddresses`
 * is refused, and FFmpeg's RTCP BYE on a clean stop takes the source down at once.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { waitUntil } from '@corecast/testkit/whep-client';
import { feed, metric, startTestEgress } from './helpers.ts';

function send(port: number, datagrams: Buffer[]): Promise<void> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    let left = datagrams.length;
    for (const d of datagrams) {
      socket.send(d, port, '127.0.0.1', () => {
        if (--left === 0) socket.close(() => resolve());
      });
    }
  });
}

const rtp = (pt: number, byte0 = 0x80) => Buffer.from([byte0, pt, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0x41, 0x9a]);

describe('RTP ingest', { timeout: 120000 }, () => {
  it('drops and counts what is not the stream: other versions, RTCP, other payload types, short datagrams', async () => {
    const egress = await startTestEgress();
    try {
      const { video } = egress.rtpPorts.get('demo')!;
      await send(video, [rtp(102, 0x40), Buffer.from([0x80, 200, 0, 1, 0, 0, 0, 1]), rtp(96), Buffer.from([0x80]), rtp(102)]);
      const drops = (reason: string) => metric(egress, 'corecast_egress_rtp_dropped_total', { process: 'demo', kind: 'video', reason });
      await waitUntil(
        async () => (await metric(egress, 'corecast_egress_rtp_packets_in_total', { process: 'demo', kind: 'video' })) === 1,
        10000,
        'the good packet',
      );
      assert.deepEqual(
        [await drops('version'), await drops('rtcp'), await drops('payload-type'), await drops('short'), await drops('source')],
        [1, 1, 1, 1, 0],
      );
      assert.equal(egress.streams.get('demo')!.source.state, 'up', 'one good packet brings the source up');
    } finally {
      await egress.stop();
    }
  });

  it('refuses senders outside sourceAddresses', async () => {
    const egress = await startTestEgress({
      streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, sourceAddresses: ['10.0.0.0/8'] }],
    });
    try {
      await send(egress.rtpPorts.get('demo')!.video, [rtp(102), rtp(102)]);
      await waitUntil(
        async () => (await metric(egress, 'corecast_egress_rtp_dropped_total', { process: 'demo', kind: 'video', reason: 'source' })) === 2,
        10000,
        'drops by source',
      );
      assert.equal(egress.streams.get('demo')!.source.state, 'waiting');
    } finally {
      await egress.stop();
    }
  });

  it("drops FFmpeg's sender reports, and its BYE on a clean stop takes the source down at once", async () => {
    // A long timeout: only the BYE can take the source down within the test.
    const egress = await startTestEgress({ source: { timeoutSeconds: 60, graceSeconds: 60 } });
    try {
      const ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10 });
      await waitUntil(
        async () => (await metric(egress, 'corecast_egress_rtp_dropped_total', { process: 'demo', reason: 'rtcp' })) > 0,
        20000,
        'an RTCP sender report from FFmpeg',
      );
      await ffmpeg.kill('SIGTERM');
      await waitUntil(() => egress.streams.get('demo')!.source.state === 'down', 10000, 'source down after the BYE');
    } finally {
      await egress.stop();
    }
  });
});
