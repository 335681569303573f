/**
 * Two fan-out workers on the one media port in a fresh network namespace, with and without a
 * second local address — the namespaces of the side-by-side benchmark (egress-pod/README.md,
 * "Beside Janus"), where viewers were seen connected but silent: every viewer of both workers
 * receives media, its selected pair is the advertised address and the media port, and the mux
 * dropped nothing as unbound. Each case runs netns-media.ts inside `unshare -n` (root only: this
 * test fails, it does not skip, without it). Nothing leaves the namespace: it has no route out.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { NetnsMediaResult } from './netns-media.ts';

const run = promisify(execFile);
const VIEWERS = 8;

async function inFreshNamespace(args: string[]): Promise<NetnsMediaResult> {
  assert.equal(process.getuid?.(), 0, 'this test makes network namespaces (unshare -n): run it as root');
  const script = new URL('./netns-media.ts', import.meta.url).pathname;
  const { stdout } = await run('unshare', ['-n', '--', process.execPath, script, '--viewers', String(VIEWERS), ...args], {
    timeout: 150_000,
    maxBuffer: 1 << 24,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `netns-media.ts printed no result: ${stdout}`);
  return JSON.parse(line) as NetnsMediaResult;
}

function assertEveryViewerPlays(r: NetnsMediaResult): void {
  assert.equal(r.workers, 2);
  assert.ok(r.perWorker.every((n) => n > 0), `both workers hold viewers: ${r.perWorker.join(' / ')}`);
  for (const [i, v] of r.viewers.entries()) {
    assert.equal(v.state, 'connected', `viewer ${i} connected`);
    assert.ok(v.video >= 30, `viewer ${i} received video after it connected (${v.video} packets)`);
    assert.equal(v.remote, `127.0.0.1:${r.port}`, `viewer ${i}'s selected pair is the advertised address on the media port`);
  }
  assert.equal(r.dropped.unbound, 0, 'nothing reached the port from an address no worker had bound');
}

describe('two workers in a fresh network namespace', { timeout: 360_000 }, () => {
  it('every viewer plays with loopback alone', async () => {
    const r = await inFreshNamespace([]);
    assert.deepEqual(r.interfaces, ['lo']);
    assertEveryViewerPlays(r);
  });

  it('every viewer plays with a second local address in the namespace (the benchmark gives Janus one)', async () => {
    const r = await inFreshNamespace(['--second-address', '198.18.0.1']);
    assert.ok(r.addresses.includes('198.18.0.1'), `the namespace has the second address: ${r.addresses.join(', ')}`);
    assertEveryViewerPlays(r);
  });
});
