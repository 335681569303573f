/**
 * Runs inside a fresh network namespace (`unshare -n`, started by netns-media.int.test.ts): an
 * egress with two fan-out workers sharing the media port (SO_REUSEPORT), FFmpeg feeding it and
 * werift viewers, all on loopback — optionally with a second local address on a veth end, the
 * shape of the side-by-side benchmark's namespace (bench/side-by-side-server.ts). Prints one JSON
 * line: what each viewer received and which pair it selected, and the mux's drop counters.
 *
 *   unshare -n node egress-pod/test/netns-media.ts [--viewers 8] [--second-address 198.18.0.1]
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { MUX_DROP_REASONS } from '@corecast/rtc-fastpath';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** What the run found (the test's input). */
export interface NetnsMediaResult {
  readonly interfaces: string[];
  readonly addresses: string[];
  readonly workers: number;
  readonly perWorker: number[];
  /** Video packets each viewer received after it connected, and the remote address of its selected pair. */
  readonly viewers: { video: number; audio: number; remote: string; state: string }[];
  /** The egress's media port. */
  readonly port: number;
  readonly dropped: Record<string, number>;
}

const { values } = parseArgs({
  options: { viewers: { type: 'string', default: '8' }, 'second-address': { type: 'string' } },
});
const count = Number(values.viewers);
const second = values['second-address'];

// A fresh namespace's loopback is down; the second address goes on a veth end (not named veth*:
// werift skips those when gathering), as the benchmark gives Janus.
execFileSync('ip', ['link', 'set', 'lo', 'up']);
if (second) {
  execFileSync('ip', ['link', 'add', 'ccx0', 'type', 'veth', 'peer', 'name', 'ccx1']);
  execFileSync('ip', ['addr', 'add', `${second}/32`, 'dev', 'ccx0']);
  execFileSync('ip', ['link', 'set', 'ccx1', 'up']);
  execFileSync('ip', ['link', 'set', 'ccx0', 'up']);
}
const interfaces = (await readFile('/proc/net/dev', 'utf8'))
  .split('\n')
  .slice(2)
  .map((l) => l.split(':')[0]!.trim())
  .filter(Boolean);
const addresses = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' })
  .split('\n')
  .map((l) => /inet (\S+)\//.exec(l)?.[1])
  .filter((a): a is string => a !== undefined);

const egress = await startTestEgress({
  media: { workers: 2 },
  streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, maxViewers: 100 }],
});
const ffmpeg = await feed(egress, 'demo', { gopSeconds: 1 });
const clients: WhepTestClient[] = [];
try {
  for (let i = 0; i < count; i++) {
    const c = new WhepTestClient();
    const res = await c.post(whepUrl(egress));
    if (res.status !== 201) throw new Error(`viewer ${i}: POST answered ${res.status} ${await res.text()}`);
    await c.connected();
    clients.push(c);
  }
  // Every viewer has to receive from here on, not only once: a second of video (30 packets and more).
  const base = clients.map((c) => c.received.video.length);
  await waitUntil(() => clients.every((c, i) => c.received.video.length >= base[i]! + 30), 20000, 'every viewer receiving').catch(() => undefined);
  const perWorker = [0, 1].map((w) => metric(egress, 'corecast_egress_worker_viewers', { worker: String(w) }));
  const dropped: Record<string, number> = {};
  for (const reason of MUX_DROP_REASONS) dropped[reason] = await metric(egress, 'corecast_egress_ice_mux_dropped_total', { reason });
  const result: NetnsMediaResult = {
    interfaces,
    addresses,
    workers: egress.workers,
    perWorker: await Promise.all(perWorker),
    viewers: clients.map((c, i) => {
      const agent = (c.pc.iceTransports[0] as unknown as { connection: { nominated?: { remoteCandidate: { host: string; port: number } } } })
        .connection;
      const remote = agent.nominated?.remoteCandidate;
      return {
        video: c.received.video.length - base[i]!,
        audio: c.received.audio.length,
        remote: remote ? `${remote.host}:${remote.port}` : 'none',
        state: c.pc.connectionState,
      };
    }),
    port: egress.mediaPort,
    dropped,
  };
  console.log(JSON.stringify(result));
} finally {
  for (const c of clients) await c.close().catch(() => undefined);
  await ffmpeg.kill();
  await egress.stop();
}
