/**
 * The FFmpeg pod's stale-progress wrapper, run with the real `sh` and FFmpeg: while the inputs
 * send, the heartbeat is refreshed and the liveness probe passes; once every input stops sending
 * (FFmpeg alive, waiting on them), the heartbeat ages past `staleTimeoutSeconds` and the probe
 * fails. With two inputs FFmpeg reads them in threads and keeps printing progress blocks with the
 * same figures while they stall; those blocks must not count as progress. With a progress
 * sender, FFmpeg's header lines reach the operator while its log (the container log and the
 * termination message) stays what FFmpeg alone writes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { createServer } from 'node:http';
import { PROGRESS_OPTIONS } from '@corecast/api';
import { ffmpegArgv, ffmpegWrapper, PROGRESS_SENDER, staleProbe } from '../src/children/ffmpeg-pod.ts';
import { config, view, withSpec } from './helpers/fixtures.ts';

const STALE_SECONDS = 3;
/** Raw audio keeps the inputs free of probing: 8 kHz mono s16le, 100 ms per datagram. */
const RAW_AUDIO = ['-analyzeduration', '0', '-f', 's16le', '-ar', '8000', '-ac', '1'];
const CHUNK = Buffer.alloc(1600);

/** A free loopback UDP port (bound, read, released; FFmpeg binds it next). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Sends raw audio in real time to every port until `stop` (the inputs then stall, not end). */
function udpSource(ports: number[]): { stop: () => void; close: () => void } {
  const socket: Socket = createSocket('udp4');
  let live = true;
  const timer = setInterval(() => {
    if (live) for (const port of ports) socket.send(CHUNK, port, '127.0.0.1');
  }, 100);
  return {
    stop: () => (live = false),
    close: () => {
      clearInterval(timer);
      socket.close();
    },
  };
}

/** Runs the liveness probe the pod would get, against `heartbeat`; true when it passes. */
function probePasses(heartbeat: string): Promise<boolean> {
  const [program, ...args] = staleProbe(STALE_SECONDS, heartbeat).exec.command as [string, ...string[]];
  return new Promise((resolve) => execFile(program, args, (err) => resolve(err === null)));
}

const mtime = async (file: string) => (await stat(file)).mtimeMs;

/** Polls `check` every 250 ms until it returns true; fails after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(250);
  }
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Starts the wrapper as the pod does (`sh -c <wrapper> ffmpeg <argv…>`) on `inputs` UDP inputs. */
async function runWrapper(inputs: number, toStdout = false) {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-wrapper-'));
  dirs.push(dir);
  const ports = await Promise.all(Array.from({ length: inputs }, freeUdpPort));
  const p = view(
    'wrapped',
    withSpec({
      options: ['-hide_banner', '-loglevel', 'warning'],
      input: ports.map((port, i) => ({ id: `in${i}`, address: `udp://127.0.0.1:${port}`, options: RAW_AUDIO })),
      output: [
        {
          id: 'out',
          // pipe:1 is FFmpeg's stdout: media written there must not reach the progress lines.
          address: toStdout ? 'pipe:1' : join(dir, 'out.mkv'),
          options: [...ports.flatMap((_, i) => ['-map', `${i}:a`]), '-c:a', 'pcm_s16le', '-f', toStdout ? 'mpegts' : 'matroska', '-y'],
        },
      ],
    }),
  );
  // A local output file: the operator's default rules refuse files, so this test allows its own directory.
  const allowDir = `^(file:)?${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`;
  const argv = ffmpegArgv(p, config({ ffmpeg: { access: { output: { allow: [allowDir, '^pipe:1$'] } } } }));
  const child = spawn('sh', ['-c', ffmpegWrapper(dir), 'ffmpeg', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const heartbeat = join(dir, 'progress');
  await until('the wrapper creates the heartbeat', 10_000, () =>
    stat(heartbeat).then(
      () => true,
      () => false,
    ),
  );
  return { ports, child, heartbeat, dir, log: () => stderr };
}

async function liveThenStalled(inputs: number): Promise<void> {
  const w = await runWrapper(inputs);
  const source = udpSource(w.ports);
  try {
    const created = await mtime(w.heartbeat);
    await until('a first progress refresh', 15_000, async () => (await mtime(w.heartbeat)) > created);

    // Live: over twice the stale timeout, the probe passes every time and the heartbeat moves on.
    const liveStart = await mtime(w.heartbeat);
    const refreshes = new Set<number>();
    for (let i = 0; i < 12; i++) {
      await sleep(500);
      assert.equal(await probePasses(w.heartbeat), true, `probe failed while the inputs send; ffmpeg: ${w.log()}`);
      refreshes.add(await mtime(w.heartbeat));
    }
    assert.ok((await mtime(w.heartbeat)) > liveStart, 'the heartbeat was refreshed while the inputs send');
    assert.ok(refreshes.size >= 2, `the heartbeat was refreshed more than once (${refreshes.size})`);

    // Stalled: FFmpeg keeps running, the heartbeat stops moving and ages past the timeout.
    source.stop();
    await until('the probe fails once the inputs stall', 30_000, async () => !(await probePasses(w.heartbeat)));
    const stalledAt = await mtime(w.heartbeat);
    assert.ok(Date.now() - stalledAt >= (STALE_SECONDS - 1) * 1000, 'the heartbeat is older than the timeout');
    assert.equal(w.child.exitCode, null, `FFmpeg is still running (stuck, not exited); ffmpeg: ${w.log()}`);
    await sleep(2000);
    assert.equal(await mtime(w.heartbeat), stalledAt, 'no refresh while the inputs stay silent');
    assert.equal(await probePasses(w.heartbeat), false);
  } finally {
    source.close();
    w.child.kill('SIGTERM');
  }
}

describe('FFmpeg wrapper heartbeat (real sh and FFmpeg)', { timeout: 90_000 }, () => {
  test('one input: refreshed while it sends, stale once it stalls', () => liveThenStalled(1));
  test('two inputs: refreshed while they send, stale once they stall though FFmpeg keeps printing progress', () => liveThenStalled(2));
  test('media written to stdout (pipe:1) is discarded: the progress blocks stay clean and the heartbeat moves', async () => {
    const w = await runWrapper(1, true);
    const source = udpSource(w.ports);
    try {
      const created = await mtime(w.heartbeat);
      await until('a progress refresh', 15_000, async () => (await mtime(w.heartbeat)) > created);
      // A block written after media has flowed for a while (total_size > 0).
      let block = '';
      await until('a block after media has been written', 15_000, async () => {
        block = await readFile(join(w.dir, 'block'), 'utf8').catch(() => '');
        return /^total_size=[1-9]/m.test(block) && /^progress=/m.test(block);
      });
      const lines = block.split('\n').filter((l) => l.length > 0);
      assert.ok(
        lines.some((l) => l.startsWith('progress=')),
        `a whole block: ${block}`,
      );
      for (const line of lines) assert.match(line, /^[a-z_0-9]+=[ -~]*$/, 'only key=value progress lines, printable');
    } finally {
      source.close();
      w.child.kill('SIGTERM');
    }
  });
});

/** Runs `argv` under the wrapper with a sender posting every second to a local server that records the reports. */
async function runWithSender(argv: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-sender-'));
  dirs.push(dir);
  const reports: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('latin1')));
    req.on('end', () => {
      reports.push(body);
      // Asks for the header lines until a report carried them, as the operator does.
      const has = reports.some((r) => r.includes('\nlog='));
      res.writeHead(204, has ? {} : { 'X-Corecast-Want-Streams': 'true' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const env = {
    ...process.env,
    CORECAST_PROGRESS_SENDER: PROGRESS_SENDER,
    CORECAST_PROGRESS_HOST: '127.0.0.1',
    CORECAST_PROGRESS_PORT: String((server.address() as { port: number }).port),
    CORECAST_PROGRESS_INTERVAL: '1',
    CORECAST_PROCESS_NAMESPACE: 'ns',
    CORECAST_PROCESS_NAME: 'wrapped',
    CORECAST_POD_UID: 'uid',
  };
  const child = spawn('sh', ['-c', ffmpegWrapper(dir), 'ffmpeg', ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { code, stderr, reports, dir };
}

/** FFmpeg run alone: its stderr. */
function plainStderr(argv: string[]): Promise<string> {
  return new Promise((resolve) => execFile('ffmpeg', argv, { encoding: 'latin1' }, (_err, _out, stderr) => resolve(stderr)));
}

/** Log lines with the addresses FFmpeg prints (`[libx264 @ 0x55…]`) made alike. */
const lines = (log: string) =>
  log
    .split(/[\r\n]+/)
    .filter(Boolean)
    .map((l) => l.replace(/ @ 0x[0-9a-f]+\]/, ' @ 0x]'));

describe('FFmpeg wrapper with a progress sender (real sh, bash and FFmpeg)', { timeout: 90_000 }, () => {
  const encode = (dir: string, loglevel: string) => [
    ...['-hide_banner', '-loglevel', loglevel, ...PROGRESS_OPTIONS, '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', '-y', join(dir, 'out.ts')],
  ];

  test('the header lines, CPU and memory reach the operator though -loglevel keeps them out of the log', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'corecast-out-'));
    dirs.push(scratch);
    const r = await runWithSender(encode(scratch, 'warning'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing in the log at -loglevel warning, as without the wrapper');
    const withHeaders = r.reports.filter((b) => b.includes('\nlog='));
    assert.ok(
      withHeaders.length >= 1 && withHeaders.length < r.reports.length,
      `header lines in ${withHeaders.length} of ${r.reports.length} reports`,
    );
    const header = withHeaders[0]!;
    assert.match(header, /^log=Input #0, lavfi, from 'testsrc=size=320x240:rate=25':$/m);
    assert.match(header, /^log=Output #0, mpegts, to '.*out\.ts':$/m);
    assert.match(header, /^log= {2}Stream #0:0: Video: h264, yuv.*, 320x240 /m);
    const later = r.reports.at(-1)!;
    const memory = Number(/^memory_bytes=(\d+)$/m.exec(later)?.[1]);
    assert.ok(memory > 2 ** 20 && memory < 4 * 2 ** 30, `FFmpeg's resident memory ${memory}`);
    const cpu = r.reports.map((b) => Number(/^cpu_usage=(\d+\.\d\d)$/m.exec(b)?.[1] ?? NaN)).filter((n) => !Number.isNaN(n));
    assert.ok(cpu.length >= 1 && cpu.every((n) => n >= 0 && n <= 100), `cpu_usage ${cpu}`);
    assert.ok(
      cpu.some((n) => n > 0),
      `an encoding FFmpeg uses some CPU: ${cpu}`,
    );
  });

  test("FFmpeg's log is what FFmpeg alone writes, but for the report's three opening lines, and ends with its error", async () => {
    const argv = [
      '-hide_banner',
      ...PROGRESS_OPTIONS,
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=25',
      '-t',
      '1',
      '-c:v',
      'no-such-encoder',
      '-f',
      'null',
      '-',
    ];
    const r = await runWithSender(argv);
    const plain = await plainStderr(argv.map((a) => (a === 'pipe:3' ? 'pipe:1' : a)));
    assert.notEqual(r.code, 0);
    const wrapped = lines(r.stderr);
    assert.match(wrapped[0] ?? '', /^ffmpeg started on /);
    assert.match(wrapped[1] ?? '', /^Report written to ".*log\.fifo"$/);
    assert.match(wrapped[2] ?? '', /^Log level: 32$/);
    assert.deepEqual(wrapped.slice(3), lines(plain));
    assert.match(wrapped.at(-1) ?? '', /no-such-encoder|Unknown encoder/);
  });
});
