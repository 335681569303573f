/**
 * `npm run demo` as a newcomer runs it: the default test-pattern manifest, FFmpeg and the
 * egress started, the printed player URL opened in Chromium (1280x720 pictures), Ctrl-C stops
 * everything; and the messages for a bad manifest and for a machine without FFmpeg.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { ffmpegPath } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import { freeTcpPort } from './egress-child.ts';

const DEMO = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

/** Runs the demo script; collects its output. */
function demo(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [DEMO, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('npm run demo', { timeout: 240000 }, () => {
  let browser: TestBrowser | undefined;
  let running: ChildProcess | undefined;
  after(async () => {
    await browser?.close();
    running?.kill('SIGKILL');
  });

  it('plays the test pattern at the printed URL, and Ctrl-C stops it', async () => {
    assert.ok(ffmpegPath() && chromiumInstalled(), 'needs ffmpeg and chromium (scripts/setup.sh test)');
    const port = await freeTcpPort();
    const run = demo(['--port', String(port)]);
    running = run.child;
    await waitUntil(() => run.output().includes('source is up') || run.child.exitCode !== null, 60000, 'the demo source up');
    const url = /player: (\S+)/.exec(run.output())?.[1];
    assert.equal(url, `http://127.0.0.1:${port}/api/v3/process/demo/whep/player`, run.output());
    browser = await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(url!);
    type Status = { framesDecoded: number; width: number; height: number };
    const status = () => page.evaluate(() => (window as unknown as { corecast: Status }).corecast);
    await waitUntil(
      async () => {
        const s = await status();
        return s.framesDecoded >= 30 && s.width === 1280 && s.height === 720;
      },
      90000,
      '1280x720 frames in the browser',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await status())}\n${run.output()}`, { cause: err });
    });
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0);
  });

  it('names the field of a bad manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corecast-demo-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'apiVersion: corecast.dev/v1alpha1\nkind: Process\nmetadata: {name: cam}\nspec: {input: [{id: a, address: x}], output: []}\n',
    );
    const run = demo([file]);
    assert.equal(await run.exited, 1);
    assert.match(run.output(), /spec\.output: Too small: expected array to have >=1 items/);
  });

  it('says how to get FFmpeg when it is missing', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'corecast-nopath-'));
    await symlink('/bin/sh', join(bin, 'sh'));
    const run = demo([], { ...process.env, PATH: bin });
    assert.equal(await run.exited, 1);
    assert.match(run.output(), /ffmpeg is not installed \(not found on PATH\)/);
    assert.match(run.output(), /apt-get install ffmpeg/);
  });
});
