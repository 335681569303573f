/**
 * The GOP cache with real parts: FFmpeg sends a 4 s-GOP test pattern, a werift viewer joins in
 * the middle of a GOP, and it must start at the cached keyframe (first video packet = SPS/IDR),
 * and what it received must decode to a picture — checked by FFmpeg decoding it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { RtpPacket } from 'werift';
import type { Egress } from '../src/index.ts';
import { Fanout } from '../src/fanout.ts';
import { inspectH264 } from '../src/rtp/h264.ts';
import { toAnnexB } from './h264-annexb.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** Decodes an Annex B H.264 stream with FFmpeg; resolves with the number of decoded frames and their size. */
function decode(annexB: Buffer): Promise<{ frames: number; size: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const ff = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'h264',
        '-i',
        '-',
        '-fps_mode',
        'passthrough',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'gray',
        '-',
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let bytes = 0;
    let stderr = '';
    ff.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    ff.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    ff.on('error', reject);
    ff.on('exit', () => resolve({ frames: bytes / (640 * 360), size: '640x360', stderr }));
    ff.stdin.end(annexB);
  });
}

for (const workers of [0, 2]) {
  describe(`late joiner (${workers === 0 ? 'fan-out on the main thread' : `${workers} fan-out workers`})`, { timeout: 120000 }, () => {
    let egress: Egress;
    let ffmpeg: FfmpegRun;
    before(async () => {
      egress = await startTestEgress({ media: { workers } });
      ffmpeg = await feed(egress, 'demo', { gopSeconds: 4 });
    });
    after(async () => {
      await ffmpeg?.kill();
      await egress?.stop();
    });

    it('joining mid-GOP of a 4 s-GOP source starts at the cached keyframe, decodes a picture, and counts as a cache hit', async (t) => {
      const fanout = egress.streams.get('demo')!.fanout;
      if (fanout instanceof Fanout) {
        const cache = fanout.cache;
        await waitUntil(() => cache.valid && cache.picture(cache.length - 1) >= 15, 30000, 'a GOP half a second old');
      } else {
        // The workers' caches are not visible from here: the FFmpeg keyframe at t=0 is 1.5 s old.
        await new Promise((r) => setTimeout(r, 1500));
      }
      const client = new WhepTestClient();
      t.after(() => client.close());
      const video: RtpPacket[] = [];
      client.pc
        .getTransceivers()[0]!
        .onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp: RtpPacket) => video.push(rtp.clone())));
      const res = await client.post(whepUrl(egress));
      assert.equal(res.status, 201, await res.clone().text());
      await client.connected();
      // Far fewer pictures than a GOP (120): only the cache can have started it this soon.
      await waitUntil(() => video.filter((p) => p.header.marker).length >= 30, 30000, '30 pictures');

      const first = inspectH264(video[0]!.payload);
      assert.ok(first.sps.length > 0 || first.idrStart, `the first video packet starts a keyframe (NAL ${video[0]!.payload[0]! & 0x1f})`);
      for (let i = 1; i < video.length; i++) {
        assert.equal(video[i]!.header.sequenceNumber, (video[i - 1]!.header.sequenceNumber + 1) & 0xffff, 'no sequence gap');
      }
      // Cached pictures come with timestamps one tick apart (fanout.ts, 'compress'): proof it joined mid-GOP.
      const stamps = [...new Set(video.map((p) => p.header.timestamp))];
      const compressed = stamps.filter((ts, i) => i > 0 && ts - stamps[i - 1]! === 1).length;
      assert.ok(compressed >= 10, `at least 10 cached pictures before live ones (got ${compressed})`);
      await waitUntil(
        async () => (await metric(egress, 'corecast_egress_gop_cache_hits_total', { process: 'demo' })) === 1,
        5000,
        'a cache hit',
      );
      assert.equal(await metric(egress, 'corecast_egress_keyframe_waits_total', { process: 'demo' }), 0, 'it did not wait for a keyframe');

      const decoded = await decode(toAnnexB(video));
      assert.ok(decoded.frames >= 30, `FFmpeg decoded ${decoded.frames} pictures of ${decoded.size}: ${decoded.stderr}`);
      assert.equal(decoded.stderr, '', 'FFmpeg saw no decoding error');
    });
  });
}
