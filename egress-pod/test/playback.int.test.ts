/**
 * The media path with real parts: FFmpeg (test pattern, libx264 + libopus → RTP) → egress →
 * a werift viewer over loopback. The viewer gets video from a keyframe on, and audio.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** True when a received H.264 payload head starts a keyframe: SPS, STAP-A with SPS, or an IDR start. */
function startsKeyframe(head: Buffer): boolean {
  const type = head[0]! & 0x1f;
  if (type === 7 || type === 5) return true;
  if (type === 24) return (head[1]! & 0x1f) === 7 || (head[1]! & 0x1f) === 0; // STAP-A: first NAL size hi byte, then NAL
  return type === 28 && (head[1]! & 0x80) !== 0 && (head[1]! & 0x1f) === 5;
}

describe('playback through the egress', { timeout: 120000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  before(async () => {
    egress = await startTestEgress();
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 2 });
  });
  after(async () => {
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('answers a POST with 201, Location, ETag and an SDP answer, and the viewer receives video and audio', async (t) => {
    const client = new WhepTestClient();
    t.after(() => client.close());
    const res = await client.post(whepUrl(egress));
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    assert.match(res.headers.get('location') ?? '', /^\/api\/v3\/process\/demo\/whep\/[A-Za-z0-9_-]{22}$/);
    assert.match(res.headers.get('etag') ?? '', /^"[^"]+"$/);
    const answer = await res.text();
    assert.match(answer, /a=sendonly/);
    assert.match(answer, /a=end-of-candidates/);
    assert.doesNotMatch(answer, /a=candidate:\S+ 1 udp \d+ (?!127\.0\.0\.1 )/, 'only the advertised loopback address');
    await client.connected();
    await waitUntil(() => client.received.video.length > 60 && client.received.audio.length > 20, 30000, 'video and audio packets');
    assert.ok(
      startsKeyframe(client.received.video[0]!.head),
      `first video packet starts a keyframe (head ${client.received.video[0]!.head.toString('hex')})`,
    );
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), 1);
    const del = await client.delete();
    assert.equal(del.status, 200);
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), 0);
    assert.equal(await metric(egress, 'corecast_egress_sessions_closed_total', { process: 'demo', reason: 'delete' }), 1);
  });
});
