/**
 * The egress pod refuses a bad configuration at start: exit code 2 and one line naming the
 * field, before it opens a port.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EGRESS_CONFIG_ENV } from '@corecast/api';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function start(config: string | undefined): { status: number | null; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env[EGRESS_CONFIG_ENV];
  if (config !== undefined) env[EGRESS_CONFIG_ENV] = config;
  const res = spawnSync(process.execPath, [main], { encoding: 'utf8', env, timeout: 30000 });
  return { status: res.status, stderr: res.stderr };
}

describe('the egress pod at start', () => {
  const stream = { processId: 'demo' };
  const cases: [string, string | undefined, string][] = [
    ['no configuration', undefined, `${EGRESS_CONFIG_ENV} is invalid: is not set`],
    ['a configuration that is not JSON', '{streams:', `${EGRESS_CONFIG_ENV} is invalid: is not JSON`],
    [
      'a stream id that is no Process name',
      JSON.stringify({ streams: [{ processId: 'Demo' }] }),
      'streams[0].processId: must be a Process name',
    ],
    [
      'a misspelt ICE value',
      JSON.stringify({ streams: [stream], ice: { lite: 'yes' } }),
      'ice.lite: Invalid input: expected boolean, received string',
    ],
    [
      'hs256 without its namespace',
      JSON.stringify({ streams: [stream], auth: { mode: 'hs256' } }),
      'namespace: is required when auth.mode is not none or embed is enabled',
    ],
  ];
  for (const [what, config, message] of cases) {
    test(`refuses ${what}: exit 2, naming the field`, () => {
      const res = start(config);
      assert.equal(res.status, 2, res.stderr);
      assert.ok(res.stderr.includes(message), `expected "${message}" in: ${res.stderr}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    });
  }
});
