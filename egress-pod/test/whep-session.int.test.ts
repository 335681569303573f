/**
 * Every row of egress-pod/README.md's "WHEP behaviour" tables for session URLs (trickle, ICE restart, preconditions, DELETE),
 * and the session lifecycle: a session that dies leaves every index and counter; a source that
 * stops (past its grace period) or a pod that stops closes every session. Real FFmpeg, real
 * werift viewers on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

const FRAG = 'application/trickle-ice-sdpfrag';

/** A trickle fragment with the session's ufrag and the given candidate lines. */
function trickle(ufrag: string, candidates: string[]): string {
  return [`a=ice-ufrag:${ufrag}`, 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'a=mid:0', ...candidates, ''].join(
    '\r\n',
  );
}

function ufragOf(client: WhepTestClient): string {
  return /a=ice-ufrag:(\S+)/.exec(client.pc.localDescription!.sdp)![1]!;
}

describe('WHEP sessions', { timeout: 240000 }, () => {
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  const clients: WhepTestClient[] = [];
  /** A connected viewer. */
  const connectedViewer = async (target: Egress = egress) => {
    const c = new WhepTestClient();
    clients.push(c);
    const res = await c.post(whepUrl(target));
    assert.equal(res.status, 201, await res.clone().text());
    await c.connected();
    return c;
  };
  const closed = (reason: string, target: Egress = egress) =>
    metric(target, 'corecast_egress_sessions_closed_total', { process: 'demo', reason });

  before(async () => {
    egress = await startTestEgress({
      session: { livenessTimeoutSeconds: 4, connectTimeoutSeconds: 6 },
      source: { timeoutSeconds: 0.5, graceSeconds: 30 },
    });
    ffmpeg = await feed(egress);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await egress?.stop();
  });

  it('PATCH with trickled candidates: 204, no body, no ETag; unsupported candidates dropped silently', async () => {
    const c = await connectedViewer();
    const res = await c.patch(
      trickle(ufragOf(c), [
        'a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host',
        'a=candidate:2 1 udp 2122260223 a1b2c3.local 50000 typ host',
        'a=candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active',
        'a=end-of-candidates',
      ]),
      c.etag,
    );
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('etag'), null);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });

  it('PATCH without If-Match: trickle 204, an ICE restart 428; with a stale ETag: 412; another content type: 415; a broken fragment: 400', async () => {
    const c = await connectedViewer();
    const body = trickle(ufragOf(c), ['a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host']);
    // Trickle without If-Match (the whip-whep npm client sends none): taken for the current ICE session.
    assert.equal((await c.patch(body, undefined)).status, 204);
    const restart = 'a=ice-ufrag:brandnew\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n';
    assert.equal((await c.patch(restart, undefined)).status, 428);
    assert.equal((await c.patch(body, '"stale"')).status, 412);
    assert.equal((await c.patch(body, c.etag, 'application/sdp')).status, 415);
    assert.equal((await c.patch('a=ice-ufrag:only\r\n', c.etag)).status, 400);
  });

  it('PATCH with an ICE restart: 200 with a fragment and a new ETag; media flows on; the old ETag is stale', async () => {
    const c = await connectedViewer();
    await waitUntil(() => c.received.video.length > 10, 20000, 'video before the restart');
    const oldEtag = c.etag!;
    const res = await c.restartIce('*');
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), FRAG);
    const frag = await res.text();
    assert.match(frag, /^a=ice-ufrag:\S+\r\na=ice-pwd:\S+\r\n/);
    assert.match(frag, /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);
    assert.match(frag, /a=end-of-candidates/);
    assert.notEqual(c.etag, oldEtag);
    const before = c.received.video.length;
    await waitUntil(() => c.received.video.length > before + 60, 20000, 'video after the restart');
    const stale = await c.patch(trickle(ufragOf(c), ['a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host']), oldEtag);
    assert.equal(stale.status, 412);
    // A second restart naming the current ETag works too.
    assert.equal((await c.restartIce(c.etag)).status, 200);
    const after2 = c.received.video.length;
    await waitUntil(() => c.received.video.length > after2 + 30, 20000, 'video after the second restart');
  });

  it('a refused ICE restart (400) keeps the session, its ETag and its media; a later restart works', async () => {
    const c = await connectedViewer();
    await waitUntil(() => c.received.video.length > 10 && c.received.audio.length > 10, 20000, 'media before the refused restart');
    const id = new URL(c.location!).pathname.split('/').at(-1)!;
    const etag = c.etag!;
    const viewerUfrag = ufragOf(c);
    const pwd = /a=ice-pwd:(\S+)/.exec(c.pc.localDescription!.sdp)![1]!;
    const failedBefore = await closed('restart-failed');

    // A new ufrag with the old pwd is not an ICE restart (RFC 8839 §4.4.1.1.1): refused before werift sees it.
    const samePwd = [
      'a=ice-ufrag:fresh1',
      `a=ice-pwd:${pwd}`,
      'm=audio 9 UDP/TLS/RTP/SAVPF 0',
      'a=mid:0',
      'a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host',
      'a=end-of-candidates',
      '',
    ].join('\r\n');
    const res = await c.patch(samePwd, etag);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { detail: string }).detail, /a=ice-pwd is unchanged/);
    assert.equal(res.headers.get('etag'), null);

    // An offer werift itself refuses (here a fragment no HTTP request can carry, handed to the
    // session directly): werift rejects it before applying anything.
    const session = egress.sessions.get('demo', id)!;
    await assert.rejects(
      session.restartIce({ ufrag: 'fresh2\r\nm=broken', pwd: 'x'.repeat(24), candidates: [], endOfCandidates: true }),
      (err: Error & { kind?: string }) => err.kind === 'bad-request' && /the offer was refused/.test(err.message),
    );

    // Same session, same ICE session, same ETag; media goes on.
    assert.equal(egress.sessions.get('demo', id), session);
    assert.equal(session.remoteUfrag, viewerUfrag);
    assert.equal(session.etag, etag);
    const video = c.received.video.length;
    const audio = c.received.audio.length;
    await waitUntil(
      () => c.received.video.length > video + 60 && c.received.audio.length > audio + 50,
      20000,
      'media after the refused restarts',
    );
    assert.equal(c.pc.connectionState, 'connected');
    assert.equal(await closed('restart-failed'), failedBefore);
    // The unchanged ETag still names the ICE session: a trickle PATCH with it is taken.
    assert.equal((await c.patch(trickle(viewerUfrag, ['a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host']), etag)).status, 204);

    // A valid restart afterwards works, and media flows on the new ICE session.
    const restart = await c.restartIce(etag);
    assert.equal(restart.status, 200, await restart.clone().text());
    assert.notEqual(c.etag, etag);
    assert.notEqual(session.remoteUfrag, viewerUfrag);
    const afterRestart = c.received.video.length;
    await waitUntil(() => c.received.video.length > afterRestart + 60, 20000, 'video after the valid restart');
    assert.equal(await closed('restart-failed'), failedBefore);
  });

  it('PATCH of a kind the server turned off: 422', async () => {
    const strict = await startTestEgress({ session: { trickle: false, iceRestart: false } });
    const run = await feed(strict, 'demo', { size: '160x120', rate: 10, audio: false });
    try {
      const c = await connectedViewer(strict);
      const t = await c.patch(trickle(ufragOf(c), ['a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host']), c.etag);
      assert.equal(t.status, 422);
      assert.match(((await t.json()) as { detail: string }).detail, /trickle ICE is turned off/);
      const r = await c.restartIce('*');
      assert.equal(r.status, 422);
      assert.match(((await r.json()) as { detail: string }).detail, /ICE restarts are turned off/);
    } finally {
      await run.kill();
      await strict.stop();
    }
  });

  it('DELETE: 200 and everything freed; again (unknown session): 204; any other method on it: 404', async () => {
    const c = await connectedViewer();
    const viewers = await metric(egress, 'corecast_egress_viewers', { process: 'demo' });
    const res = await c.delete();
    assert.equal(res.status, 200);
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), viewers - 1);
    assert.equal(egress.streams.get('demo')!.fanout.size, viewers - 1);
    assert.equal((await c.delete()).status, 204);
    assert.equal((await c.patch(trickle(ufragOf(c), []), '*')).status, 404);
    assert.equal((await fetch(c.location!)).status, 404);
    assert.equal(
      (
        await fetch(`${whepUrl(egress)}/nosuchsession`, {
          method: 'PATCH',
          headers: { 'Content-Type': FRAG, 'If-Match': '*' },
          body: 'a=end-of-candidates',
        })
      ).status,
      404,
    );
  });

  it('a session URL answers OPTIONS with Accept-Patch, and GET with 405', async () => {
    const c = await connectedViewer();
    const options = await fetch(c.location!, {
      method: 'OPTIONS',
      headers: { Origin: 'https://x.example', 'Access-Control-Request-Method': 'PATCH' },
    });
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('accept-patch'), FRAG);
    assert.equal(options.headers.get('access-control-allow-methods'), 'OPTIONS, GET, HEAD, POST, PATCH, DELETE');
    const get = await fetch(c.location!);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'OPTIONS, PATCH, DELETE');
  });

  it('a viewer that vanishes without DELETE is closed within seconds and leaves no count behind', async () => {
    for (const c of clients.splice(0)) {
      await c.delete().catch(() => undefined); // some belonged to egresses already stopped
      await c.close();
    }
    const c = await connectedViewer();
    assert.equal(egress.sessions.count(), 1);
    const before = await closed('liveness-timeout');
    await c.close(); // no DELETE; werift sends no DTLS alert either
    await waitUntil(() => egress.sessions.count() === 0, 30000, 'session closed');
    assert.equal(await closed('liveness-timeout'), before + 1);
    assert.equal(await metric(egress, 'corecast_egress_viewers', { process: 'demo' }), 0);
    assert.equal(egress.streams.get('demo')!.fanout.size, 0);
  });

  it('a POST whose viewer never connects is closed after the connect timeout', async () => {
    const c = new WhepTestClient();
    clients.push(c);
    const res = await fetch(whepUrl(egress), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: await c.offer() });
    assert.equal(res.status, 201);
    assert.equal(await closed('connect-timeout'), 0);
    await waitUntil(async () => (await closed('connect-timeout')) === 1, 30000, 'unconnected session closed');
    assert.equal(egress.sessions.count(), 0);
  });

  it('a source restart keeps the viewer on one continuous SSRC, sequence and timeline', async () => {
    const c = await connectedViewer();
    await waitUntil(() => c.received.video.length > 30, 20000, 'video');
    await ffmpeg.kill();
    await waitUntil(() => egress.streams.get('demo')!.source.state === 'down', 10000, 'source down');
    const beforeCount = c.received.video.length;
    ffmpeg = await feed(egress);
    await waitUntil(() => c.received.video.length > beforeCount + 60, 20000, 'video after the restart');
    const video = c.received.video;
    assert.equal(new Set(video.map((p) => p.ssrc)).size, 1, 'one SSRC');
    const jumps = video.slice(1).filter((p, i) => ((p.seq - video[i]!.seq + 0x10000) & 0xffff) > 1);
    assert.deepEqual(jumps, [], 'no sequence gap');
    const backwards = video.slice(1).filter((p, i) => ((p.timestamp - video[i]!.timestamp) | 0) < 0);
    assert.deepEqual(backwards, [], 'timestamps never go back');
    assert.ok((await metric(egress, 'corecast_egress_source_restarts_total', { process: 'demo', kind: 'video' })) >= 1);
  });

  it('a viewer joining mid-GOP gets a keyframe start as its first video packet', async () => {
    await ffmpeg.kill();
    ffmpeg = await feed(egress, 'demo', { gopSeconds: 4 });
    // A joiner starts either from the cached GOP or at the next keyframe; both are counted.
    const starts = async () =>
      (await metric(egress, 'corecast_egress_keyframe_waits_total', { process: 'demo' })) +
      (await metric(egress, 'corecast_egress_gop_cache_hits_total', { process: 'demo' }));
    const startsBefore = await starts();
    const c = await connectedViewer();
    await waitUntil(() => c.received.video.length > 5, 30000, 'video from the next keyframe');
    const head = c.received.video[0]!.head;
    const type = head[0]! & 0x1f;
    // SPS (7), or a STAP-A (24) whose first unit is an SPS, or an IDR (5) or its first FU-A fragment.
    const keyframeStart = type === 7 || type === 5 || type === 24 || (type === 28 && (head[1]! & 0x9f) === 0x85);
    assert.ok(keyframeStart, `first video payload starts with ${head.toString('hex')}`);
    assert.ok((await starts()) >= startsBefore + 1);
  });

  it('a source gone past its grace period closes its sessions; new viewers get 409 until it is back', async () => {
    const quick = await startTestEgress({ source: { timeoutSeconds: 0.5, graceSeconds: 1 } });
    const run = await feed(quick, 'demo', { size: '160x120', rate: 10, audio: false });
    try {
      await connectedViewer(quick);
      await run.kill();
      await waitUntil(() => quick.sessions.count() === 0, 15000, 'sessions closed');
      assert.equal(await closed('source-gone', quick), 1);
      const late = new WhepTestClient();
      clients.push(late);
      const res = await fetch(whepUrl(quick), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: await late.offer() });
      assert.equal(res.status, 409);
      const ready = await fetch(`${quick.url}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      await run.kill();
      await quick.stop();
    }
  });

  it('stopping the pod closes every session', async (t) => {
    const pod = await startTestEgress();
    let stopped = false;
    // A failed assertion before the stop must not leave the pod (and this file) running.
    t.after(() => (stopped ? undefined : pod.stop()));
    const run = await feed(pod, 'demo', { size: '160x120', rate: 10, audio: false });
    t.after(() => run.kill());
    await connectedViewer(pod);
    await connectedViewer(pod);
    assert.equal(
      (await fetch(`${pod.url}/readyz`)).status,
      200,
      'ready with every viewer (a worker started on demand is not a missing one)',
    );
    await run.kill();
    await pod.stop();
    stopped = true;
    assert.equal(pod.sessions.count(), 0);
    assert.equal(await closed('shutdown', pod), 2);
  });
});
