/**
 * Why the access rules must read everything: each command below is what the operator would have
 * run for a Process whose addresses alone look harmless or blocked. Real FFmpeg (Debian 5.1) runs
 * it and really opens the file — reads a canary through a wrapping protocol, writes a file named
 * in options — and the default rules refuse the same Process. Local files only; no network.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AccessRules, buildFfmpegArgs, DEFAULT_ACCESS_RULES, type ProcessRef, parseProcess, ValidationError } from '../src/index.ts';
import { process, withSpec } from './fixtures/processes.ts';

/** Runs ffmpeg in `cwd` to completion (at most 20 s). */
function ffmpeg(argv: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-y', ...argv], { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

type Endpoint = { id: string; address: string; options?: string[] };
const ref = (spec: { input: Endpoint[]; output: Endpoint[] }): ProcessRef => {
  const p = parseProcess(process('bypass', withSpec(spec)));
  return { name: 'bypass', spec: p.spec };
};

/** The Process is refused by `rules`, at `path`. */
function refused(p: ProcessRef, path: string, rules: AccessRules = DEFAULT_ACCESS_RULES): void {
  assert.throws(
    () => buildFfmpegArgs(p, { access: rules }),
    (e: unknown) => e instanceof ValidationError && e.errors.some((x) => x.path === path),
  );
}

const blockFiles: AccessRules = { input: { block: ['^file:', '^/'] }, output: { block: ['^file:', '^/'] } };

let dir: string;
let secret: string;
let canary: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corecast-access-'));
  secret = join(dir, 'secret.txt');
  canary = `corecast-canary-${randomBytes(8).toString('hex')}\n`;
  await writeFile(secret, canary);
  const made = await ffmpeg(['-f', 'lavfi', '-i', 'color=c=red:s=16x16', '-frames:v', '1', join(dir, 'logo.png')], dir);
  assert.equal(made.code, 0, made.stderr);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A Process copying what input 0 yields, as raw bytes, to `out`. */
const copyTo = (out: string, input: Endpoint[]) =>
  ref({ input, output: [{ id: 'o', address: out, options: ['-map', '0', '-c', 'copy', '-f', 'data'] }] });

describe('the refused tokens really open files (real FFmpeg)', () => {
  const wrappers: [string, (s: string) => string, (c: string) => string][] = [
    ['async:file:', (s) => `async:file:${s}`, (c) => c],
    ['cache:', (s) => `cache:${s}`, (c) => c],
    ['subfile,,start,0,end,0,,:', (s) => `subfile,,start,0,end,0,,:${s}`, (c) => c],
    ['subfile,|start|0|end|0||:', (s) => `subfile,|start|0|end|0||:${s}`, (c) => c],
    ['concat:a|b', (s) => `concat:${s}|${s}`, (c) => c + c],
  ];
  for (const [name, wrap, expected] of wrappers) {
    it(`${name} reads a local file past a block list of ^file: and ^/ (wrapper bypass)`, async () => {
      const out = join(dir, `wrapped-${name.replace(/[^a-z]/g, '')}.bin`);
      const p = copyTo(out, [{ id: 'in', address: wrap(secret), options: ['-f', 'data'] }]);
      refused(p, 'spec.input[0].address', blockFiles);
      refused(p, 'spec.input[0].address');
      const run = await ffmpeg(buildFfmpegArgs(p), dir);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await readFile(out, 'utf8'), expected(canary));
    });
  }

  it('concatf: reads the files its list names (list bypass)', async () => {
    const list = join(dir, 'list.txt');
    await writeFile(list, `${secret}\n`);
    const out = join(dir, 'concatf.bin');
    const p = copyTo(out, [{ id: 'in', address: `concatf:${list}`, options: ['-f', 'data'] }]);
    refused(p, 'spec.input[0].address');
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await readFile(out, 'utf8'), canary);
  });

  it('-i hidden in input options reads a file while the address is a test pattern (options bypass)', async () => {
    const out = join(dir, 'hidden-input.bin');
    const p = copyTo(out, [{ id: 'in', address: 'sine=d=0.1', options: ['-f', 'data', '-i', secret, '-f', 'lavfi'] }]);
    refused(p, 'spec.input[0].options[3]');
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await readFile(out, 'utf8'), canary);
  });

  it('a bare argument in output options is one more output, written (bare argument bypass)', async () => {
    const hidden = join(dir, 'hidden-output.wav');
    const p = ref({
      input: [{ id: 'in', address: 'sine=d=0.1', options: ['-f', 'lavfi'] }],
      output: [{ id: 'o', address: '-', options: [hidden, '-f', 'null'] }],
    });
    refused(p, 'spec.output[0].options[0]');
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(hidden), 'the hidden output was written');
  });

  it('-progress in output options writes the file it names (file option bypass)', async () => {
    const progress = join(dir, 'progress.txt');
    const p = ref({
      input: [{ id: 'in', address: 'sine=d=0.1', options: ['-f', 'lavfi'] }],
      output: [{ id: 'o', address: '-', options: ['-progress', progress, '-f', 'null'] }],
    });
    refused(p, 'spec.output[0].options[1]');
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    assert.match(await readFile(progress, 'utf8'), /progress=end/);
  });

  it('movie= in a lavfi address opens the file it names (filter bypass)', async () => {
    const graph = (file: string) =>
      ref({
        input: [{ id: 'in', address: `movie=${file}`, options: ['-f', 'lavfi'] }],
        output: [{ id: 'o', address: '-', options: ['-frames:v', '1', '-f', 'null'] }],
      });
    refused(graph(join(dir, 'logo.png')), 'spec.input[0].address');
    const opened = await ffmpeg(buildFfmpegArgs(graph(join(dir, 'logo.png'))), dir);
    assert.equal(opened.code, 0, opened.stderr);
    // The control: the same graph with a missing file fails, so the run above did read the file.
    const missing = await ffmpeg(buildFfmpegArgs(graph(join(dir, 'missing.png'))), dir);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such file/);
  });

  it('a concat list opens the files it names, not only the list an allow rule admits (list bypass)', async () => {
    const list = join(dir, 'list.ffconcat');
    await writeFile(list, `ffconcat version 1.0\nfile ${join(dir, 'logo.png')}\n`);
    const frame = join(dir, 'from-list.png');
    const p = ref({
      input: [{ id: 'in', address: list, options: ['-f', 'concat', '-safe', '0'] }],
      output: [{ id: 'o', address: frame, options: ['-frames:v', '1'] }],
    });
    // Allowing the list file (and the output) does not allow what the list names.
    const listOnly: AccessRules = { input: { allow: [`^file:${list}$`] }, output: { allow: [`^file:${frame}$`] } };
    refused(p, 'spec.input[0].address', listOnly);
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(frame), 'a frame of the file the list names was written');
  });

  it('file in -protocol_whitelist lets a playlist from an allowed http address open a local file (protocol list bypass)', async () => {
    const segment = join(dir, 'seg0.ts');
    const made = await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=5', '-t', '1', '-c:v', 'mpeg2video', '-f', 'mpegts', segment], dir);
    assert.equal(made.code, 0, made.stderr);
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile:${segment}\n#EXT-X-ENDLIST\n`;
    const server = createServer((_, res) => res.end(playlist));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/live.m3u8`;
      const spec = (options: string[]) =>
        ref({
          input: [{ id: 'in', address: url, options }],
          output: [{ id: 'o', address: '-', options: ['-frames:v', '1', '-f', 'null'] }],
        });
      // FFmpeg's own nested whitelist stops the local segment; the address passes the default rules.
      const plain = await ffmpeg(buildFfmpegArgs(spec([]), { access: DEFAULT_ACCESS_RULES }), dir);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /Protocol 'file' not on whitelist/);
      // Widened by an option, it reads the local file; the rules refuse that option.
      const widened = spec(['-protocol_whitelist', 'http,tcp,file']);
      refused(widened, 'spec.input[0].options[1]');
      const run = await ffmpeg(buildFfmpegArgs(widened), dir);
      assert.equal(run.code, 0, run.stderr);
    } finally {
      server.close();
    }
  });

  it('a data: playlist opens the local segment it names (data bypass)', async () => {
    const segment = join(dir, 'seg-data.ts');
    const made = await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=5', '-t', '1', '-c:v', 'mpeg2video', '-f', 'mpegts', segment], dir);
    assert.equal(made.code, 0, made.stderr);
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nfile:${segment}\n#EXT-X-ENDLIST\n`;
    const p = ref({
      input: [{ id: 'in', address: `data:application/vnd.apple.mpegurl;base64,${Buffer.from(playlist).toString('base64')}` }],
      output: [{ id: 'o', address: '-', options: ['-frames:v', '1', '-f', 'null'] }],
    });
    refused(p, 'spec.input[0].address');
    const run = await ffmpeg(buildFfmpegArgs(p), dir);
    assert.equal(run.code, 0, run.stderr);
    // The control: the same playlist naming a missing segment fails, so the run above read the file.
    const missing = ref({
      input: [
        {
          id: 'in',
          address: `data:application/vnd.apple.mpegurl;base64,${Buffer.from(playlist.replace(segment, join(dir, 'none.ts'))).toString('base64')}`,
        },
      ],
      output: [{ id: 'o', address: '-', options: ['-frames:v', '1', '-f', 'null'] }],
    });
    assert.notEqual((await ffmpeg(buildFfmpegArgs(missing), dir)).code, 0);
  });

  it('the default rules let the examples test pattern run', async () => {
    const p = ref({
      input: [
        {
          id: 'in',
          address: 'testsrc2=size=64x64:rate=5,format=yuv420p[out0];sine=frequency=440[out1]',
          options: ['-f', 'lavfi', '-t', '0.4'],
        },
      ],
      output: [{ id: 'o', address: '-', options: ['-map', '0:v:0', '-c', 'copy', '-f', 'null'] }],
    });
    const run = await ffmpeg(buildFfmpegArgs(p, { access: DEFAULT_ACCESS_RULES }), dir);
    assert.equal(run.code, 0, run.stderr);
  });
});
