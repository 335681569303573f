/**
 * The pod's main thread never loads Node's fetch implementation (undici, ~2 MiB of heap): not
 * through `node:http` or @koa/router (src/http-cjs.ts), nor through koa testing a JSON body
 * against `Response` (src/server.ts writes JSON bodies itself) — and those bodies are what koa
 * would have sent. And it holds one copy of MIME's database (mime-db, ~0.4 MiB of heap each),
 * not one per version koa's dependencies ask for: the root package.json overrides mime-types.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const probe = fileURLToPath(new URL('./main-thread-probe.ts', import.meta.url));

describe('the main thread', () => {
  it('starts, answers /readyz and a refused request with JSON, and never loads undici', () => {
    const res = spawnSync(process.execPath, [probe], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as {
      started: boolean;
      undici: boolean;
      mimeDbs: string[];
      readyz: { status: number; type: string; body: string };
      problem: { status: number; type: string; body: string };
    };
    assert.equal(out.readyz.type, 'application/json; charset=utf-8');
    const ready = JSON.parse(out.readyz.body) as { ready: boolean; accepting: boolean; streams: Record<string, string> };
    assert.equal(out.readyz.status, ready.ready ? 200 : 503);
    assert.deepEqual(Object.keys(ready.streams), ['demo']);
    assert.equal(out.problem.status, 404);
    assert.equal(out.problem.type, 'application/problem+json');
    const problem = JSON.parse(out.problem.body) as { status: number; title: string };
    assert.equal(problem.status, 404);
    assert.equal(out.started, false, 'undici loaded while the egress started');
    assert.equal(out.undici, false, 'undici loaded while answering');
    assert.equal(out.mimeDbs.length, 1, `one mime-db, not: ${out.mimeDbs.join(', ')}`);
  });
});
