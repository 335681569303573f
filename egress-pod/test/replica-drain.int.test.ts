/**
 * Draining a replica, with real parts: three replicas (three viewers each at most), real FFmpeg
 * into replica 0, six werift viewers placed through replica 0. Replica 2 gets a drain deadline
 * (and is marked draining in replica 0's targets, as the operator does): it refuses direct
 * POSTs with 503 + Retry-After, says so in /room and its metric, keeps receiving the relay,
 * and closes its two viewers; they POST again through replica 0 and land on the others.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { waitUntil, WhepTestClient } from '@corecast/testkit/whep-client';
import { feed, metric, whepUrl } from './helpers.ts';
import { replicaOfUrl, type ReplicaSet, siblingsReady, startReplicaSet, viewerOn } from './replica-set.ts';

describe('egress replicas: draining one', { timeout: 180000 }, () => {
  let set: ReplicaSet;
  let ffmpeg: FfmpegRun;
  const viewers: WhepTestClient[] = [];
  before(async () => {
    set = await startReplicaSet(3, { maxViewers: 3 });
    ffmpeg = await feed(set.replicas[0]!);
    set.setTargets([set.target(1), set.target(2)]);
    await siblingsReady(set);
    for (let i = 0; i < 6; i++) {
      // The rooms asked afresh before each viewer: placement by counts a poll old may put one
      // viewer on replica 0 instead of the least loaded sibling (replica.ts), and this test
      // needs the even spread, not that tolerance.
      await set.replicas[0]!.replica.siblings!.poll();
      const { client, res } = await viewerOn(set.replicas[0]!, viewers);
      assert.equal(res.status, 201, await res.clone().text());
      await client.connected(60000);
    }
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await ffmpeg?.kill();
    await set?.stop();
  });

  it('a draining replica refuses new viewers, closes its own, and they come back on the others through the same URL', async (t) => {
    const [r0, r1, r2] = set.replicas;
    const onTwo = viewers.filter((v) => replicaOfUrl(v.location!) === 2);
    assert.equal(onTwo.length, 2, `two viewers on replica 2 (placed: ${viewers.map((v) => replicaOfUrl(v.location!)).join(' ')})`);
    const others = viewers.filter((v) => replicaOfUrl(v.location!) !== 2);
    const othersBefore = others.map((v) => v.received.video.length);

    // The viewers are closed by the server, as a normal end of their session: a DTLS
    // close_notify closes their DTLS transport at once, which the player page watches. Each one
    // comes back as the player does: a new POST to the same URL, which replica 0 places elsewhere.
    const comebacks: Promise<{ client: WhepTestClient; res: Response; gapMs: number }>[] = [];
    for (const v of onTwo) {
      const dtls = v.pc.dtlsTransports[0]!;
      comebacks.push(
        new Promise((resolve, reject) => {
          dtls.onStateChange.subscribe((state) => {
            if (state !== 'closed') return;
            const closedAt = performance.now();
            viewerOn(r0!, viewers)
              .then(async ({ client, res }) => {
                if (res.status === 201) {
                  await client.connected(60000);
                  await waitUntil(() => client.received.video.length > 0, 20000, 'video again');
                }
                resolve({ client, res, gapMs: performance.now() - closedAt });
              })
              .catch(reject);
          });
        }),
      );
    }
    set.setDrain(2, new Date(Date.now() + 3000).toISOString());
    set.setTargets([set.target(1), set.target(2, true)]);
    await waitUntil(async () => (await metric(r2!, 'corecast_egress_draining')) === 1, 5000, 'replica 2 draining');
    const room = await (await fetch(`${r2!.url}/room`)).json();
    assert.equal(room.draining, true);
    const probe = new WhepTestClient();
    viewers.push(probe);
    const direct = await probe.post(whepUrl(r2!));
    assert.equal(direct.status, 503, 'a direct POST to a draining replica');
    assert.ok(Number(direct.headers.get('retry-after')) > 0, 'with Retry-After');
    assert.match((await direct.json()).detail, /drained/);

    await waitUntil(() => r2!.sessions.count() === 0, 15000, 'replica 2 closed its viewers');
    assert.equal(await metric(r2!, 'corecast_egress_sessions_closed_total', { reason: 'drain' }), 2);
    assert.equal(r2!.streams.get('demo')!.source.state, 'up', 'a draining replica is still relayed to');
    const back = await Promise.race([
      Promise.all(comebacks),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the closed viewers did not all hear of it and come back')), 60000).unref(),
      ),
    ]);
    for (const { client, res, gapMs } of back) {
      assert.equal(res.status, 201, await res.clone().text());
      assert.notEqual(replicaOfUrl(client.location!), 2, 'not placed on the draining replica');
      t.diagnostic(`from the session's end (DTLS closed) to video again on another replica: ${Math.round(gapMs)} ms`);
    }
    assert.deepEqual(
      [r0!, r1!, r2!].map((r) => r.sessions.count()),
      [3, 3, 0],
      'the two viewers are now on replicas 0 and 1',
    );
    assert.ok(
      others.every((v, i) => v.received.video.length > othersBefore[i]! + 30),
      'the viewers on the other replicas played on',
    );

    set.setDrain(2, '');
    await waitUntil(async () => (await metric(r2!, 'corecast_egress_draining')) === 0, 5000, 'drain called off');
    assert.equal((await (await fetch(`${r2!.url}/room`)).json()).draining, false);
  });
});
