/**
 * Live progress across a leader change, with the real wrapper and FFmpeg: the reports go through
 * a relay that spreads connections over both operator replicas, as the operator Service does.
 * The standby answers 503 and keeps nothing; the wrapper tries again and reaches the leader. When
 * the leader stops, its port refuses, the standby takes the Lease and then the reports, and the
 * figures in the status move on, the new leader asking for FFmpeg's header lines again; FFmpeg
 * never notices.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { process as processFixture, withSpec } from '../../api/test/fixtures/processes.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventually,
  getCluster,
  getProcess,
  LIVE_PATTERN,
  namespace,
  runFfmpegPod,
  startOperator,
  waitForPod,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
let dir: string;
const operators: Operator[] = [];
let ffmpeg: ChildProcess | undefined;
let relay: { port: number; close: () => Promise<void> } | undefined;

const election = { enabled: true, leaseName: 'corecast-progress', leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 };

async function candidate(name: string): Promise<Operator> {
  const op = await startOperator(c, [ns], {
    name,
    config: {
      leaderElection: { ...election, leaseNamespace: ns },
      progress: { port: 0, reportIntervalSeconds: 1, statusIntervalSeconds: 1 },
    },
  });
  operators.push(op);
  return op;
}

/** Spreads connections over `targets` in turn (a Service's endpoints); a refused target cuts the connection. */
async function spreadingRelay(targets: number[]): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let turn = 0;
  const server = createServer((inbound) => {
    const outbound = connect(targets[turn++ % targets.length]!, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const frameShown = async (name: string) =>
  ((await getProcess(c, ns, name)) as { status?: { progress?: { frame: number } } }).status?.progress?.frame ?? 0;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'progress-leader');
  dir = await mkdtemp(join(tmpdir(), 'corecast-progress-leader-'));
});

after(async () => {
  ffmpeg?.kill('SIGKILL');
  await relay?.close();
  await Promise.all(operators.map((op) => op.stop()));
  await rm(dir, { recursive: true, force: true });
});

describe('live progress across a leader change', () => {
  test('the standby keeps nothing; after the handover the new leader takes the reports and FFmpeg runs on', async () => {
    const a = await candidate('a');
    await eventually('a leads', () => a.isLeader);
    const b = await candidate('b');
    await eventually('b has synced', () => b.hasSynced());
    const name = 'handover';
    await createProcess(c, ns, processFixture(name, withSpec(LIVE_PATTERN)));
    const pod = await waitForPod(c, ns, `${name}-ffmpeg`);
    relay = await spreadingRelay([a.progressPort, b.progressPort]);
    ffmpeg = runFfmpegPod(pod, dir, relay.port, ns, name);

    const first = await eventually('figures through the leader', async () => ((await frameShown(name)) > 0 ? frameShown(name) : undefined));
    assert.deepEqual(b.progress.live(), [], 'the standby took no report');
    assert.ok(a.progress.live().some(([key]) => key === `${ns}/${name}`));

    await a.stop();
    await eventually('b leads', () => b.isLeader);
    await eventually('newer figures, written by b', async () => (await frameShown(name)) > first + 50);
    assert.ok(b.progress.live().some(([key]) => key === `${ns}/${name}`));
    // The new leader had no header lines from this pod; it asked, and the wrapper sent them again.
    const codec = (op: Operator) =>
      op.progress.live().find(([key]) => key === `${ns}/${name}`)?.[1].progress?.outputs?.[0]?.streams?.[0]?.codec;
    assert.equal(await eventually('the output stream described by b', () => codec(b)), 'h264');
    assert.equal(ffmpeg.exitCode, null, 'FFmpeg still runs');
  });
});
