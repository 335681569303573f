/**
 * The images test/node/images.sh builds on this machine, as the test node's containerd gets
 * them (docker-archives), without Kubernetes: each archive's name and image config (user,
 * entrypoint, environment), and each image started for real with runc from its unpacked layers,
 * as the image config says. Every container gets a network namespace holding only loopback, so
 * nothing here can reach an address outside the machine; HTTP checks run from the host into
 * that namespace, as the kubelet's probes reach a pod.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildFfmpegArgs, EGRESS_CONFIG_ENV, parseProcess, PORTS } from '@corecast/api';
import { process as processManifest, withWebrtc } from '../../../api/test/fixtures/processes.ts';
import { ensureImages, imageNames, imageRefs } from '../src/node-images.ts';
import { type Container, OciRunner, readableDir, readArchive } from '../src/oci-image.ts';

const run = promisify(execFile);
const images = await ensureImages();
const runner = new OciRunner();
after(() => runner.close());

/** GET from inside a container's network namespace: status and body, or the error (nothing listening yet). */
async function get(c: Container, url: string): Promise<{ status: number; body: string } | { error: string }> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then(
    async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })),
    (e) => console.log(JSON.stringify({ error: String(e.cause ?? e) })))`;
  const { stdout } = await c.inNetwork(process.execPath, ['-e', script]);
  return JSON.parse(stdout) as { status: number; body: string } | { error: string };
}

/** Polls until `check` returns a value, failing with the container's output after `ms`. */
async function until<T>(c: Container, what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let exited = false;
  void c.exited.then(() => (exited = true));
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (exited || Date.now() > deadline) {
      const out = c.output();
      assert.fail(`${what}: ${exited ? 'the container exited' : `not within ${ms} ms`}\n${out.stdout}\n${out.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Stops a container with SIGTERM, as the kubelet does, and returns how it ended. */
async function terminate(c: Container, ms = 30_000) {
  await c.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  const end = await Promise.race([c.exited, timer]);
  if (end === 'timeout') {
    await c.kill('SIGKILL');
    assert.fail(`no exit within ${ms} ms of SIGTERM`);
  }
  return end;
}

describe('image archives', () => {
  const expected = {
    operator: { user: '65532:65532', entrypoint: ['/nodejs/bin/node', 'operator/src/main.ts'], workdir: '/app' },
    egress: { user: '65532:65532', entrypoint: ['/nodejs/bin/node', 'egress-pod/dist/main.js'], workdir: '/app' },
    ffmpeg: { user: '65532:65532', entrypoint: ['ffmpeg'], workdir: '/tmp' },
    pause: { user: '65535:65535', entrypoint: ['/pause'], workdir: '' },
  } as const;

  for (const name of imageNames) {
    test(`${name}: one image named ${imageRefs[name]}, for linux/amd64, user ${expected[name].user}, entrypoint ${expected[name].entrypoint.join(' ')}`, async () => {
      const image = await readArchive(images.archives[name]);
      assert.deepEqual(image.repoTags, [imageRefs[name]]);
      assert.equal(images.refs[name], imageRefs[name]);
      assert.equal(`${image.os}/${image.architecture}`, 'linux/amd64');
      assert.equal(image.config.User, expected[name].user);
      assert.deepEqual(image.config.Entrypoint, expected[name].entrypoint);
      assert.equal(image.config.WorkingDir ?? '', expected[name].workdir);
      assert.ok(image.layers.length >= 1);
    });
  }

  test("the Node images carry the Dockerfiles' environment: NODE_ENV and the Node flags", async () => {
    const env = async (name: 'operator' | 'egress') => (await readArchive(images.archives[name])).config.Env ?? [];
    assert.ok((await env('operator')).includes('NODE_ENV=production'));
    assert.ok((await env('operator')).includes('NODE_OPTIONS=--max-semi-space-size=1 --max-old-space-size=128'));
    assert.ok((await env('egress')).includes('NODE_OPTIONS=--max-semi-space-size=1 --v8-pool-size=2 --conditions=corecast-js'));
    assert.ok((await env('egress')).includes('MALLOC_MMAP_THRESHOLD_=131072'), "the egress image fixes malloc's mmap threshold");
  });
});

describe('the Node runtime (distroless-like) under operator and egress', () => {
  for (const name of ['operator', 'egress'] as const) {
    test(`${name}: Node 24 runs as nonroot (65532) in /app; no shell, CA bundle and nonroot user present`, async () => {
      const c = await runner.start(images.archives[name], {
        entrypoint: [
          '/nodejs/bin/node',
          '-p',
          'JSON.stringify([process.version, process.getuid(), process.getgid(), process.cwd(), require("node:os").userInfo().username])',
        ],
      });
      const end = await c.exited;
      assert.equal(end.code, 0, end.stderr);
      const [version, uid, gid, cwd, username] = JSON.parse(end.stdout) as [string, number, number, string, string];
      assert.match(version, /^v24\.\d+\.\d+$/);
      assert.deepEqual([uid, gid, cwd, username], [65532, 65532, '/app', 'nonroot']);

      const { path: rootfs } = await runner.rootfs(images.archives[name]);
      for (const shell of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'usr/bin/dash'])
        assert.ok(!existsSync(join(rootfs, shell)), `${shell} exists`);
      assert.ok(!existsSync(join(rootfs, 'usr/bin/apt-get')), 'a package manager is in the image');
      assert.match(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
      assert.match(readFileSync(join(rootfs, 'etc/group'), 'utf8'), /^nonroot:x:65532:$/m);
      assert.match(readFileSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8'), /-----BEGIN CERTIFICATE-----/);
      // The app and only production dependencies: no test tools, no TypeScript, no Node binary package.
      const modules = readdirSync(join(rootfs, 'app/node_modules'));
      for (const dep of ['zod', 'werift', 'koa']) assert.ok(modules.includes(dep), `node_modules lacks ${dep}`);
      for (const dev of ['typescript', 'eslint', 'node', 'playwright-core']) assert.ok(!modules.includes(dev), `node_modules has ${dev}`);
      assert.ok(!existsSync(join(rootfs, 'app', name === 'egress' ? 'egress-pod' : name, 'test')), 'tests were shipped');
    });
  }
});

describe('ffmpeg image', () => {
  test('ffmpeg -version exits 0 (FFmpeg 5.1 of bookworm)', async () => {
    const c = await runner.start(images.archives.ffmpeg, { args: ['-hide_banner', '-version'] });
    const end = await c.exited;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stdout, /^ffmpeg version 5\.1\.\S+/);
    assert.match(end.stdout, /--enable-libx264/);
  });

  test('ffmpeg lists the libx264 and libopus encoders the WebRTC legs need', async () => {
    const c = await runner.start(images.archives.ffmpeg, { args: ['-hide_banner', '-encoders'] });
    const end = await c.exited;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stdout, /^ V\S* libx264 /m);
    assert.match(end.stdout, /^ A\S* libopus /m);
  });

  test("the progress wrapper's tools are there, run as 65532", async () => {
    const tools = 'sh mkfifo stat date bash timeout sleep cat stdbuf tr grep nproc getconf';
    const c = await runner.start(images.archives.ffmpeg, {
      entrypoint: ['sh', '-c', `for t in ${tools}; do command -v "$t" >/dev/null || { echo "no $t"; exit 1; }; done; id -u; id -g`],
    });
    const end = await c.exited;
    assert.equal(end.code, 0, end.stdout + end.stderr);
    assert.equal(end.stdout, '65532\n65532\n');
  });
});

describe('egress image', () => {
  let egress: Container;
  const base = `http://127.0.0.1:${PORTS.http}`;
  before(async () => {
    // The least configuration an egress pod runs with: one stream, on the default ports.
    egress = await runner.start(images.archives.egress, {
      env: { [EGRESS_CONFIG_ENV]: JSON.stringify({ streams: [{ processId: 'demo' }], media: { workers: 1 } }) },
    });
  });
  after(async () => {
    await egress.kill('SIGKILL');
  });

  test('serves /healthz; /readyz says 503 until RTP arrives', async () => {
    const health = await until(egress, '/healthz', async () => {
      const r = await get(egress, `${base}/healthz`);
      return 'status' in r ? r : undefined;
    });
    assert.deepEqual(health, { status: 200, body: 'ok\n' });
    const ready = await get(egress, `${base}/readyz`);
    assert.ok('status' in ready, JSON.stringify(ready));
    assert.equal(ready.status, 503);
    assert.equal((JSON.parse(ready.body) as { ready: boolean }).ready, false);
  });

  test("the ffmpeg image, in the same network namespace as in a pod pair, feeds it the operator's RTP legs: /readyz turns 200", async () => {
    // The FFmpeg command the operator builds for a WebRTC Process (libx264 + Opus legs), at real time.
    const manifest = processManifest('demo', withWebrtc({ forceTranscode: true }));
    manifest.spec.input = [{ id: 'in', address: 'testsrc2=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'] }];
    const argv = buildFfmpegArgs(
      { name: 'demo', spec: parseProcess(manifest).spec },
      {
        egress: { host: '127.0.0.1', videoPort: PORTS.videoRtp, audioPort: PORTS.audioRtp },
      },
    );
    const ffmpeg = await runner.start(images.archives.ffmpeg, {
      args: ['-hide_banner', '-loglevel', 'error', ...argv],
      networkOf: egress.pid,
    });
    try {
      const ready = await until(egress, '/readyz 200 with FFmpeg sending', async () => {
        const r = await get(egress, `${base}/readyz`);
        return 'status' in r && r.status === 200 ? r : undefined;
      });
      assert.deepEqual(JSON.parse(ready.body), {
        ready: true,
        accepting: true,
        streams: { demo: 'up' },
        workers: { running: 1, wanted: 1 },
      });
    } finally {
      await ffmpeg.kill('SIGKILL');
      await ffmpeg.exited;
    }
  });

  test('SIGTERM stops it cleanly (exit 0)', async () => {
    const end = await terminate(egress);
    assert.equal(end.code, 0, end.stderr);
  });
});

describe('operator image', () => {
  let operator: Container;
  let dir: string;
  before(async () => {
    // The chart's ConfigMap and a kubeconfig naming an API server that is not there: loopback
    // of the container's own network namespace, where nothing listens.
    dir = readableDir(runner.dir, 'operator-config', {
      'config.yaml': 'images:\n  ffmpeg: docker.io/corecast/ffmpeg:dev\n  egress: docker.io/corecast/egress:dev\nlogLevel: info\n',
      kubeconfig: [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: none, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]',
        'users: [{name: none, user: {token: "none"}}]',
        'contexts: [{name: none, context: {cluster: none, user: none}}]',
        'current-context: none',
        '',
      ].join('\n'),
    });
    operator = await runner.start(images.archives.operator, {
      args: ['--config', '/etc/corecast/config.yaml'],
      env: { KUBECONFIG: '/etc/corecast/kubeconfig', POD_NAME: 'operator-test', POD_NAMESPACE: 'corecast-system' },
      mounts: [{ source: dir, destination: '/etc/corecast' }],
    });
  });
  after(async () => {
    await operator.kill('SIGKILL');
  });

  test('without an API server: /healthz 200 (alive), /readyz 500 naming the unsynced informers, /metrics served', async () => {
    const health = await until(operator, '/healthz', async () => {
      const r = await get(operator, 'http://127.0.0.1:8081/healthz');
      return 'status' in r ? r : undefined;
    });
    assert.deepEqual(health, { status: 200, body: 'ok\n' });
    const ready = await get(operator, 'http://127.0.0.1:8081/readyz');
    assert.ok('status' in ready, JSON.stringify(ready));
    assert.equal(ready.status, 500);
    assert.match(ready.body, /^\[-\]informers failed: not synced: .*processes/);
    const metrics = await get(operator, 'http://127.0.0.1:8080/metrics');
    assert.ok('status' in metrics && metrics.status === 200, JSON.stringify(metrics));
    assert.match(metrics.body, /^# HELP /m);
  });

  test('a bad configuration fails the start with exit code 2, naming the field', async () => {
    const bad = readableDir(runner.dir, 'operator-bad-config', { 'config.yaml': 'images:\n  ffmpeg: "Not An Image"\n  egress: e\n' });
    const c = await runner.start(images.archives.operator, {
      args: ['--config', '/etc/corecast/config.yaml'],
      mounts: [{ source: bad, destination: '/etc/corecast' }],
    });
    const end = await c.exited;
    assert.equal(end.code, 2, end.stdout + end.stderr);
    assert.match(end.stderr, /images\.ffmpeg/);
  });

  test('SIGTERM stops it cleanly (exit 0)', async () => {
    const end = await terminate(operator);
    assert.equal(end.code, 0, end.stderr);
  });
});

describe('pause image', () => {
  test('as a pod sandbox (PID 1 under runc) it waits, then exits 0 on SIGTERM', async () => {
    const c = await runner.start(images.archives.pause);
    await new Promise((r) => setTimeout(r, 500));
    let exited = false;
    void c.exited.then(() => (exited = true));
    assert.equal(exited, false, 'pause exited by itself');
    assert.equal(readFileSync(`/proc/${c.pid}/status`, 'utf8').match(/^NSpid:\s+\d+\s+(\d+)$/m)?.[1], '1', 'not PID 1 of its namespace');
    const end = await terminate(c, 5000);
    assert.equal(end.code, 0, end.stderr);
  });

  test('as PID 1 it reaps orphans re-parented to it (no zombies)', async () => {
    const { path: rootfs } = await runner.rootfs(images.archives.pause);
    // PID 1 of a new PID namespace, as in a sandbox.
    const holder = spawn('unshare', ['--pid', '--fork', '--kill-child', join(rootfs, 'pause')], { stdio: 'ignore' });
    const ended = new Promise<number | null>((r) => holder.once('exit', r));
    try {
      const children = (ppid: number) =>
        readdirSync('/proc')
          .filter((d) => /^\d+$/.test(d))
          .flatMap((d) => {
            try {
              const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
              const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
              return Number(fields[1]) === ppid ? [{ pid: Number(d), state: fields[0] }] : [];
            } catch {
              return [];
            }
          });
      let pause = 0;
      for (const deadline = Date.now() + 5000; pause === 0 && Date.now() < deadline;) {
        pause = children(holder.pid!)[0]?.pid ?? 0;
        if (pause === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(pause > 0, 'pause did not start');
      // A shell in the namespace starts `sleep` in the background and exits: sleep's parent is gone,
      // so the kernel hands it to the namespace's PID 1. (Its output goes nowhere, so the shell's
      // end is not held up by the pipes.)
      await run('nsenter', [`--target=${pause}`, '--pid', '--', 'sh', '-c', 'sleep 1 </dev/null >/dev/null 2>&1 & exit 0']);
      // One child of pause, alive: sleeping, or still running as it starts (R).
      assert.deepEqual(
        children(pause).map((c) => (c.state === 'R' ? 'S' : c.state)),
        ['S'],
        'the orphan was not re-parented to pause',
      );
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(children(pause), [], 'the exited orphan was left a zombie');
      process.kill(pause, 'SIGTERM');
      assert.equal(await ended, 0);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
