/**
 * The DTLS certificate is the fan-out thread's, not each viewer's: werift makes one per thread
 * and every peer of that thread answers with its fingerprint (egress-pod/README.md, "Where a
 * viewer's memory goes"). Real parts: FFmpeg → egress (one worker) → werift viewers on loopback,
 * each completing DTLS against that certificate and receiving media.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, startTestEgress, whepUrl } from './helpers.ts';

const fingerprintOf = (sdp: string): string | undefined => /^a=fingerprint:sha-256 (\S+)/m.exec(sdp)?.[1];

describe('DTLS certificate of a fan-out thread', { timeout: 90000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startTestEgress({ media: { workers: 1 } });
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 1 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('is shared by the viewers of one thread, each of which completes DTLS and plays', async (t) => {
    const clients = [new WhepTestClient(), new WhepTestClient(), new WhepTestClient()];
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const fingerprints: (string | undefined)[] = [];
    for (const c of clients) {
      const res = await c.post(whepUrl(egress));
      assert.equal(res.status, 201, await res.clone().text());
      fingerprints.push(fingerprintOf(await res.text()));
    }
    assert.ok(fingerprints[0], 'the answer carries a sha-256 fingerprint');
    assert.deepEqual(fingerprints, [fingerprints[0], fingerprints[0], fingerprints[0]], 'one certificate for the thread');
    for (const c of clients) {
      // Connected means DTLS completed: the viewer checked the certificate against that fingerprint.
      await c.connected();
      await waitUntil(() => c.received.video.length > 10, 20000, 'the viewer receiving video');
    }
  });
});
