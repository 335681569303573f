/**
 * Live progress end to end: a real FFmpeg under the pod's wrapper (real `sh`, `bash` and FFmpeg,
 * run here as the kubelet would run the pod) sends its progress to a real operator, which writes
 * it into the Process status on the real API server. The test plays the kubelet for the pod
 * object (there is no node) and counts the operator's progress status writes against its write
 * rounds: however many reports arrive, a Process gets at most one write per round.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kubectl } from '@corecast/testkit/kube-tools';
import { process as processFixture, withSpec } from '../../api/test/fixtures/processes.ts';
import type { RequestRecord } from '../src/kube/client.ts';
import type { Operator } from '../src/operator.ts';
import { PROGRESS_FIELD_MANAGER } from '../src/progress/hub.ts';
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
let op: Operator;
let dir: string;
let ffmpeg: ChildProcess | undefined;
const writes: RequestRecord[] = [];

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'progress');
  dir = await mkdtemp(join(tmpdir(), 'corecast-progress-'));
  op = await startOperator(c, [ns], {
    config: { progress: { port: 0, reportIntervalSeconds: 1, statusIntervalSeconds: 1 } },
    hooks: [{ after: (r) => r.method === 'PATCH' && r.query.includes(`fieldManager=${PROGRESS_FIELD_MANAGER}`) && writes.push(r) }],
  });
});

after(async () => {
  ffmpeg?.kill('SIGKILL');
  await op?.stop();
  await rm(dir, { recursive: true, force: true });
});

const progressWrites = (name: string) => writes.filter((w) => w.path.endsWith(`/processes/${name}/status`)).length;

describe('live progress', () => {
  test('a real FFmpeg reports; the status, kubectl get proc and /metrics show fps, bitrate and speed', async () => {
    const name = 'live';
    await createProcess(c, ns, processFixture(name, withSpec(LIVE_PATTERN)));
    const pod = await waitForPod(c, ns, `${name}-ffmpeg`);
    const argv = pod.spec?.containers?.[0]?.args ?? [];
    assert.ok(argv.includes('-progress'), 'the pod runs FFmpeg with -progress');
    ffmpeg = runFfmpegPod(pod, dir, op.progressPort, ns, name);

    const shown = await eventually('progress in the status', async () => {
      const p = (await getProcess(c, ns, name)) as { status?: { progress?: Record<string, unknown> } };
      const g = p.status?.progress;
      return g && (g.fps as number) > 0 && (g.speed as number) > 0 && (g.bitrateKbit as number) > 0 && (g.frame as number) > 0
        ? g
        : undefined;
    });
    assert.deepEqual(
      (shown.outputs as { id: string; address: string }[]).map((o) => [o.id, o.address]),
      [['discard', '/dev/null']],
    );
    assert.deepEqual(
      (shown.inputs as { id: string }[]).map((i) => i.id),
      ['pattern'],
    );
    assert.match(String(shown.updatedAt), /^\d{4}-\d\d-\d\dT/);

    const table = await kubectl(c.cp.kubeconfigPath, ['get', 'proc', '-n', ns, name]);
    const [header, row] = table
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s{2,}/));
    for (const column of ['FPS', 'BITRATE', 'SPEED', 'VIEWERS']) assert.ok(header?.includes(column), `column ${column} in ${table}`);
    const fps = Number(row?.[header!.indexOf('FPS')]);
    assert.ok(fps > 0, `FPS column shows ${fps}`);

    const metrics = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
    const gauge = (metric: string) => metrics.split('\n').find((l) => l.startsWith(`${metric}{namespace="${ns}",process="${name}"}`));
    const line = gauge('corecast_process_fps');
    assert.ok(line && Number(line.split(' ')[1]) > 0, `fps gauge: ${line}`);
    const memory = Number(gauge('corecast_process_memory_bytes')?.split(' ')[1]);
    assert.ok(memory > 2 ** 20, `memory gauge: ${memory}`);
    assert.ok(Number(gauge('corecast_process_cpu_usage')?.split(' ')[1]) >= 0, 'cpu gauge');
  });

  test("the status describes each input's and output's streams from FFmpeg's header, and FFmpeg's CPU and memory", async () => {
    type Stream = Record<string, unknown>;
    type Endpoint = { id: string; format?: string; streams?: Stream[] };
    type Shown = { inputs: Endpoint[]; outputs: Endpoint[]; cpuUsage?: number; memoryBytes?: number; frame: number };
    const shown = await eventually('streams, CPU and memory in the status', async () => {
      const p = (await getProcess(c, ns, 'live')) as { status?: { progress?: Shown } };
      const g = p.status?.progress;
      return g?.outputs[0]?.format && (g.cpuUsage ?? 0) > 0 && g.memoryBytes ? g : undefined;
    });
    // LIVE_PATTERN: lavfi testsrc2 at 160x120 and 25 fps, encoded with libx264 into MPEG-TS.
    assert.equal(shown.inputs[0]?.format, 'lavfi');
    assert.deepEqual(shown.inputs[0]?.streams, [
      { stream: 0, type: 'video', codec: 'rawvideo', coder: 'rawvideo', pixFmt: 'yuv420p', width: 160, height: 120, fps: 25 },
    ]);
    assert.equal(shown.outputs[0]?.format, 'mpegts');
    const video = shown.outputs[0]?.streams?.[0] ?? {};
    assert.deepEqual(
      [video.type, video.codec, video.coder, video.pixFmt, video.width, video.height],
      ['video', 'h264', 'libx264', 'yuv420p', 160, 120],
    );
    assert.ok((video.frame as number) > 0 && (video.fps as number) > 0 && typeof video.q === 'number', JSON.stringify(video));
    // A lavfi source paced by -re at 25 fps and a tiny x264 encode: some CPU, far from all of it.
    assert.ok(shown.cpuUsage! > 0 && shown.cpuUsage! < 100, `cpu ${shown.cpuUsage}`);
    assert.ok(shown.memoryBytes! > 2 ** 20 && shown.memoryBytes! < 2 ** 32, `memory ${shown.memoryBytes}`);
  });

  test('many reports within a round still make at most one status write per round', async () => {
    const name = 'live';
    const pod = await waitForPod(c, ns, `${name}-ffmpeg`);
    const roundsBefore = op.progress.rounds;
    const writesBefore = progressWrites(name);
    const block =
      'frame=10\nfps=25.0\nstream_0_0_q=28.0\nbitrate= 100.0kbits/s\ntotal_size=1000\nout_time_us=400000\nspeed=1.0x\nprogress=continue\n';
    // Flood: 200 reports on top of the wrapper's, until three more rounds have run.
    while (op.progress.rounds < roundsBefore + 3) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`http://127.0.0.1:${op.progressPort}/progress/${ns}/${name}`, {
            method: 'POST',
            headers: { 'x-corecast-pod-uid': pod.metadata?.uid ?? '' },
            body: block,
          }).then((r) => r.status),
        ),
      );
      assert.deepEqual(new Set(answers), new Set([204]));
    }
    const rounds = op.progress.rounds - roundsBefore;
    const made = progressWrites(name) - writesBefore;
    // A round in flight when counting began may write once more.
    assert.ok(made <= rounds + 1, `${made} writes in ${rounds} rounds`);
    assert.ok(made >= 1, 'the figures kept being written');
  });

  test('FFmpeg runs on while nothing takes its reports, and they arrive once the operator is reachable again', async () => {
    const name = 'outage';
    await createProcess(c, ns, processFixture(name, withSpec(LIVE_PATTERN)));
    const pod = await waitForPod(c, ns, `${name}-ffmpeg`);
    // The sender's way to the operator: a relay on a port of its own, absent at first.
    const port = await freePort();
    const own = join(dir, name);
    const child = runFfmpegPod(pod, own, port, ns, name);
    try {
      const frameNow = async () => Number(/^frame=(\d+)/m.exec(await readFile(join(own, 'block'), 'utf8').catch(() => ''))?.[1] ?? 0);
      const framesPass = async (more: number) => {
        const from = await frameNow();
        await eventually(`${more} more frames`, async () => (await frameNow()) >= from + more);
        assert.equal(child.exitCode, null, 'FFmpeg still runs');
      };
      // Nothing listens: every report fails, FFmpeg goes on.
      await framesPass(75);
      assert.equal(((await getProcess(c, ns, name)) as { status?: { progress?: unknown } }).status?.progress, undefined);
      // The operator becomes reachable: the figures arrive.
      let relay = await tcpRelay(port, op.progressPort);
      const first = await eventually('progress after the outage', async () => {
        const p = (await getProcess(c, ns, name)) as { status?: { progress?: { frame: number } } };
        return p.status?.progress && p.status.progress.frame > 0 ? p.status.progress : undefined;
      });
      // It goes away again, connections cut mid-way (a restart, a leader change): FFmpeg goes on.
      await relay.close();
      await framesPass(75);
      // And back: newer figures arrive.
      relay = await tcpRelay(port, op.progressPort);
      await eventually('newer progress', async () => {
        const p = (await getProcess(c, ns, name)) as { status?: { progress?: { frame: number } } };
        return (p.status?.progress?.frame ?? 0) > first.frame + 75;
      });
      await relay.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a report from another pod, or about an unknown Process, is refused', async () => {
    const post = (path: string, uid: string, body = 'frame=1\nprogress=continue\n') =>
      fetch(`http://127.0.0.1:${op.progressPort}${path}`, { method: 'POST', headers: { 'x-corecast-pod-uid': uid }, body }).then(
        (r) => r.status,
      );
    assert.equal(await post(`/progress/${ns}/live`, 'not-the-pod'), 404);
    assert.equal(await post(`/progress/${ns}/nothing`, 'x'), 404);
    const pod = await waitForPod(c, ns, 'live-ffmpeg');
    assert.equal(await post(`/progress/${ns}/live`, pod.metadata?.uid ?? '', 'frame=1\n'), 400);
  });
});

/** A free loopback TCP port (bound, read, released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Relays TCP from `port` to `target` on loopback until closed; closing cuts every connection. */
async function tcpRelay(port: number, target: number): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
