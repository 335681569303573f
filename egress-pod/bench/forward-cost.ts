/**
 * `npm run bench:egress:forward`: what it costs that every WHEP request enters through replica 0
 * and a sibling's are passed on (src/replica/forward.ts).
 *
 * Two replicas, each its own process with the image's Node flags, on loopback: replica 0 fed by
 * the production FFmpeg command, replica 1 by replica 0's relay. Replica 0's cap is one viewer
 * and a real werift viewer holds it, so placement sends every new POST to replica 1.
 *
 * - Latency: rounds of one session's life — POST (until the 201 and its answer are read), a
 *   trickle PATCH (204), a DELETE (200) — once through replica 0 (forwarded) and once straight
 *   to replica 1, the order alternating each round. Each offer is a fresh werift peer's,
 *   made before the clock starts; the peer never takes the answer (no ICE, no media), so only
 *   the HTTP path is measured. Medians and p95 per verb and route.
 * - Replica 0's CPU per forwarded request: batches of the same cycles, forwarded and direct in
 *   turn, replica 0's CPU over each from /proc/<pid>/stat. During a direct batch replica 0 only
 *   does its standing work (ingest, relay, the viewer, room polls): its rate there is the
 *   baseline taken off the forwarded batches.
 *
 * Prints one JSON object per line: {name, value, unit}. No assertion: figures for the README.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WhepTestClient } from '@corecast/testkit/whep-client';
import { emit, percentile, start, stop, waitFor } from './lib.ts';
import { cpuSeconds, type Replica, startReplica, writeAtomic } from './replica-rig.ts';
import { feedArgs, makeClip } from './rig.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    batch: { type: 'string', default: '40' },
    pairs: { type: 'string', default: '3' },
  },
});
const rounds = positive('rounds');
const batchSize = positive('batch');
const pairs = positive('pairs');
const VERBS = ['POST', 'PATCH', 'DELETE'] as const;
type Verb = (typeof VERBS)[number];
type Route = 'forwarded' | 'direct';

/** A command-line count, refused unless a whole number above 0. */
function positive(name: 'rounds' | 'batch' | 'pairs'): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number above 0, not ${JSON.stringify(values[name])}`);
  return n;
}

/** One egress replica process. */
/** A real offer from a fresh werift peer, and the trickle fragment that peer would PATCH. */
async function offerAndTrickle(): Promise<{ offer: string; trickle: string; peer: WhepTestClient }> {
  const peer = new WhepTestClient();
  const offer = await peer.offer();
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(offer)![1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(offer)![1];
  const mid = /^a=mid:(\S+)/m.exec(offer)![1];
  const candidate = offer.split('\r\n').find((l) => l.startsWith('a=candidate:'))!;
  const trickle = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=video 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`, candidate, ''].join('\r\n');
  return { offer, trickle, peer };
}

/** A request and its whole answer; throws unless the status is `status` (with the body, which says why). */
async function timed(url: string, init: RequestInit, status: number, what: string): Promise<{ res: Response; ms: number }> {
  const t = performance.now();
  const res = await fetch(url, init);
  const body = await res.text();
  const ms = performance.now() - t;
  if (res.status !== status) throw new Error(`${what}: ${res.status} instead of ${status}: ${body}`);
  return { res, ms };
}

/**
 * One session's life on replica 1, entered through `entry` (replica 0: forwarded; replica 1:
 * direct), each request's time (ms) until its whole answer was read.
 */
async function cycle(entry: Replica, route: Route, prepared: Awaited<ReturnType<typeof offerAndTrickle>>): Promise<Record<Verb, number>> {
  const whep = `${entry.base}/api/v3/process/bench/whep`;
  const post = await timed(
    whep,
    { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: prepared.offer },
    201,
    `${route} POST`,
  );
  const location = new URL(post.res.headers.get('location')!, whep).toString();
  if (!/\/whep\/r1-/.test(location)) throw new Error(`${route} POST was not placed on replica 1: ${location}`);
  const patch = await timed(
    location,
    {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': post.res.headers.get('etag') ?? '*' },
      body: prepared.trickle,
    },
    204,
    `${route} PATCH`,
  );
  const del = await timed(location, { method: 'DELETE' }, 200, `${route} DELETE`);
  return { POST: post.ms, PATCH: patch.ms, DELETE: del.ms };
}

/** Runs `n` cycles through `entry` one after another, offers made first; closes the peers. */
async function batch(entry: Replica, route: Route, n: number): Promise<Record<Verb, number>[]> {
  const prepared = await Promise.all(Array.from({ length: n }, offerAndTrickle));
  try {
    const out: Record<Verb, number>[] = [];
    for (const p of prepared) out.push(await cycle(entry, route, p));
    return out;
  } finally {
    await Promise.all(prepared.map((p) => p.peer.close()));
  }
}

/** Median and p95 of each verb on each route, and what forwarding adds to the median. */
function latencyFigures(times: Record<Route, Record<Verb, number>[]>): void {
  for (const verb of VERBS) {
    const sorted = (route: Route) => times[route].map((t) => t[verb]).sort((a, b) => a - b);
    const [forwarded, direct] = [sorted('forwarded'), sorted('direct')];
    for (const [route, s] of [
      ['forwarded', forwarded],
      ['direct', direct],
    ] as const) {
      emit(`latency.${verb}.${route}.p50`, percentile(s, 50), 'ms', { samples: s.length });
      emit(`latency.${verb}.${route}.p95`, percentile(s, 95), 'ms', { samples: s.length });
    }
    emit(`latency.${verb}.added_by_forwarding.p50`, percentile(forwarded, 50) - percentile(direct, 50), 'ms');
  }
}

const dir = await mkdtemp(join(tmpdir(), 'corecast-forward-cost-'));
const replicas: Replica[] = [];
let ffmpeg: ReturnType<typeof start> | undefined;
let holder: WhepTestClient | undefined;
console.log(JSON.stringify({ event: 'machine', cores: availableParallelism(), load: loadavg() }));
try {
  const clip = await makeClip(dir, 4);
  const targetsFile = join(dir, 'relay-targets');
  await writeAtomic(targetsFile, '');
  for (let i = 0; i < 2; i++)
    replicas.push(
      await startReplica(i, targetsFile, { maxViewers: i === 0 ? 1 : 10000, session: { maxPerClient: 10000, maxPerSubject: 10000 } }),
    );
  const [r0, r1] = replicas as [Replica, Replica];
  const r1Port = new URL(r1.base).port;
  await writeAtomic(targetsFile, `1=127.0.0.1:${r1.video}:${r1.audio}:${r1Port}`);
  ffmpeg = start('ffmpeg', await feedArgs(dir, { gopSeconds: 4, clip }, { videoPort: r0.video, audioPort: r0.audio }));
  ffmpeg.stdout?.resume();
  for (const r of replicas) {
    await waitFor(`replica ${r.index} source`, async () => ((await fetch(`${r.base}/readyz`)).ok ? true : undefined), 60_000);
  }
  // Replica 0's one place, taken by a viewer that plays (both empty: replica 0 answers itself);
  // every POST after it goes to replica 1.
  // Replica 1's source is up, so replica 0 has read the targets; its polls have heard replica 1's room.
  await new Promise((r) => setTimeout(r, 2000));
  holder = new WhepTestClient();
  const held = await holder.post(`${r0.base}/api/v3/process/bench/whep`);
  if (held.status !== 201) throw new Error(`the viewer holding replica 0: ${held.status}: ${await held.text()}`);
  if (/\/whep\/r1-/.test(holder.location!)) throw new Error('the viewer meant for replica 0 was placed on replica 1');
  await holder.connected(30_000);
  await waitFor('media on the viewer of replica 0', async () => (holder!.received.video.length > 30 ? true : undefined));

  await batch(r0, 'forwarded', 3); // warm both replicas' paths (JIT, connections)
  await batch(r1, 'direct', 3);

  const times: Record<Route, Record<Verb, number>[]> = { forwarded: [], direct: [] };
  for (let i = 0; i < rounds; i++) {
    const order: Route[] = i % 2 === 0 ? ['forwarded', 'direct'] : ['direct', 'forwarded'];
    for (const route of order) times[route].push(...(await batch(route === 'forwarded' ? r0 : r1, route, 1)));
  }
  latencyFigures(times);

  // Replica 0's CPU: forwarded and direct batches in turn.
  const cpu: Record<Route, { cpu: number; seconds: number }> = { forwarded: { cpu: 0, seconds: 0 }, direct: { cpu: 0, seconds: 0 } };
  for (let i = 0; i < 2 * pairs; i++) {
    const route: Route = i % 2 === 0 ? 'forwarded' : 'direct';
    const prepared = await Promise.all(Array.from({ length: batchSize }, offerAndTrickle));
    try {
      const [c0, t0] = [await cpuSeconds(r0.child.pid!), performance.now()];
      for (const p of prepared) await cycle(route === 'forwarded' ? r0 : r1, route, p);
      const [c1, t1] = [await cpuSeconds(r0.child.pid!), performance.now()];
      cpu[route].cpu += c1 - c0;
      cpu[route].seconds += (t1 - t0) / 1000;
    } finally {
      await Promise.all(prepared.map((p) => p.peer.close()));
    }
  }
  const baseline = cpu.direct.cpu / cpu.direct.seconds;
  const requests = 3 * batchSize * pairs;
  emit('replica0.cpu.standing', baseline * 1000, 'ms/s', { during: 'direct batches' });
  emit('replica0.cpu.during_forwarding', (cpu.forwarded.cpu / cpu.forwarded.seconds) * 1000, 'ms/s');
  emit('replica0.cpu_per_forwarded_request', ((cpu.forwarded.cpu - baseline * cpu.forwarded.seconds) / requests) * 1e6, 'µs', {
    requests,
    mix: 'POST, PATCH, DELETE alike',
  });
  console.log(JSON.stringify({ event: 'done', load: loadavg() }));
} finally {
  await holder?.close();
  if (ffmpeg) await stop(ffmpeg);
  for (const r of replicas) await stop(r.child);
  await rm(dir, { recursive: true, force: true });
}
