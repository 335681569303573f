/**
 * Placement and forwarding through replica 0, with real parts: three replicas (two viewers
 * each), real FFmpeg into replica 0, werift viewers that only ever talk to replica 0's URL.
 * Viewers fill every replica, the seventh gets 503 + Retry-After, a sibling's session is
 * PATCHed (an ICE restart) and DELETEd through replica 0, and a sibling believes a client
 * address in X-Forwarded-For from replica 0 only.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { waitUntil, WhepTestClient } from '@corecast/testkit/whep-client';
import { feed, metric, whepUrl } from './helpers.ts';
import { replicaOfUrl, type ReplicaSet, siblingsReady, startReplicaSet, viewerOn } from './replica-set.ts';

/** A POST of `offer` to `url` from the local address `from`, with extra headers; resolves with status and Location. */
function postFrom(
  url: string,
  from: string,
  offer: string,
  headers: Record<string, string>,
): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress: from, headers: { 'Content-Type': 'application/sdp', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('error', reject);
    req.end(offer);
  });
}

describe('egress replicas: placement and forwarding through replica 0', { timeout: 180000 }, () => {
  let set: ReplicaSet;
  let ffmpeg: FfmpegRun;
  const viewers: WhepTestClient[] = [];
  before(async () => {
    set = await startReplicaSet(3, { maxViewers: 2 });
    ffmpeg = await feed(set.replicas[0]!);
    set.setTargets([set.target(1), set.target(2)]);
    await siblingsReady(set);
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await ffmpeg?.kill();
    await set?.stop();
  });

  it('GET /room tells a replica’s viewers, cap and drain, outside the ingress path', async () => {
    const res = await fetch(`${set.replicas[1]!.url}/room`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { viewers: 0, max: 2, draining: false });
  });

  it('six viewers fill the three replicas two by two; every one plays; the seventh gets 503 + Retry-After', async () => {
    const r0 = set.replicas[0]!;
    for (let i = 0; i < 6; i++) {
      const { res } = await viewerOn(r0, viewers);
      assert.equal(res.status, 201, await res.clone().text());
      assert.match(res.headers.get('location')!, /^\/api\/v3\/process\/demo\/whep\/(r[12]-)?[A-Za-z0-9_-]{22}$/);
      assert.ok(res.headers.get('etag'), 'the ETag comes back from the replica that answered');
    }
    const placed = viewers.map((v) => replicaOfUrl(v.location!));
    assert.deepEqual(
      [0, 1, 2].map((i) => placed.filter((p) => p === i).length),
      [2, 2, 2],
      `two viewers on each replica (placed: ${placed.join(' ')})`,
    );
    for (const [i, r] of set.replicas.entries()) assert.equal(r.sessions.count(), 2, `replica ${i} holds two sessions`);
    for (const v of viewers) await v.connected();
    await waitUntil(() => viewers.every((v) => v.received.video.length >= 30), 20000, 'video on every viewer');

    const seventh = await viewerOn(r0, viewers);
    assert.equal(seventh.res.status, 503);
    assert.equal(seventh.res.headers.get('retry-after'), '10');
    assert.match((await seventh.res.json()).detail, /every replica of this stream has its maximum of viewers/);
    assert.equal((await metric(r0, 'corecast_egress_forwarded_requests_total', { verb: 'POST' })) >= 4, true);
  });

  it('an ICE restart (PATCH) of a sibling’s session through replica 0 reaches the owner, and its media goes on', async () => {
    const r0 = set.replicas[0]!;
    const client = viewers.find((v) => replicaOfUrl(v.location!) === 1)!;
    assert.ok(client.location!.startsWith(r0.url), 'the session URL is replica 0’s');
    const etag = client.etag;
    const res = await client.restartIce(etag);
    assert.equal(res.status, 200, await res.clone().text());
    assert.notEqual(client.etag, etag, 'a new ETag from the owner');
    const before = client.received.video.length;
    await waitUntil(() => client.received.video.length > before + 30, 20000, 'media after the restart');
    assert.equal(await metric(r0, 'corecast_egress_forwarded_requests_total', { verb: 'PATCH' }), 1);
    // A preflight is answered by replica 0 itself; a plain OPTIONS goes to the owner.
    const options = await fetch(client.location!, { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('accept-patch'), 'application/trickle-ice-sdpfrag');
    assert.equal(await metric(r0, 'corecast_egress_forwarded_requests_total', { verb: 'OPTIONS' }), 1);
    // Any other method is the owner's to refuse, as for a session of its own.
    const get = await fetch(client.location!);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'OPTIONS, PATCH, DELETE');
  });

  it('a DELETE of a sibling’s session through replica 0 ends it on the owner; again: 204; an unlisted replica’s session: 404', async () => {
    const [r0, , r2] = set.replicas;
    const client = viewers.find((v) => replicaOfUrl(v.location!) === 2)!;
    const res = await client.delete();
    assert.equal(res.status, 200);
    assert.equal(r2!.sessions.count(), 1, 'the owner closed it');
    assert.equal(await metric(r2!, 'corecast_egress_sessions_closed_total', { reason: 'delete' }), 1);
    assert.equal((await client.delete()).status, 204);
    assert.equal(await metric(r0!, 'corecast_egress_forwarded_requests_total', { verb: 'DELETE' }), 2);
    const stranger = `${whepUrl(r0!)}/r7-${'A'.repeat(22)}`;
    assert.equal(
      (await fetch(stranger, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=x' })).status,
      404,
    );
    assert.equal((await fetch(stranger, { method: 'DELETE' })).status, 204);
  });

  it('a sibling counts a client by X-Forwarded-For only when replica 0 sends it', async () => {
    const [r0, , r2] = set.replicas;
    const room2 = () => r0!.replica.siblings!.rooms().find((s) => s.index === 2)?.room?.viewers;
    await waitUntil(() => room2() === 1, 5000, 'replica 0 knows replica 2 has a free slot');
    const offerer = new WhepTestClient();
    viewers.push(offerer);
    const offer = await offerer.offer();
    // Through replica 0 (its ingress trusted as today): the sibling counts the forwarded address.
    const placed = await postFrom(whepUrl(r0!), set.address(0), offer, { 'X-Forwarded-For': '10.1.1.1' });
    assert.equal(placed.status, 201);
    assert.equal(replicaOfUrl(placed.location!), 2, 'the one free slot is on replica 2');
    assert.equal(r2!.sessions.countOf({ client: '10.1.1.1' }), 1, 'replica 2 counted the address replica 0 forwarded');
    await fetch(new URL(placed.location!, r0!.url), { method: 'DELETE' });
    // Straight to the sibling from another address: its header is not believed.
    const direct = await postFrom(whepUrl(r2!), '127.0.0.9', offer, { 'X-Forwarded-For': '10.2.2.2' });
    assert.equal(direct.status, 201);
    assert.equal(r2!.sessions.countOf({ client: '10.2.2.2' }), 0, 'a forged X-Forwarded-For is ignored');
    assert.equal(r2!.sessions.countOf({ client: '127.0.0.9' }), 1, 'the sender’s own address is counted');
  });
});
