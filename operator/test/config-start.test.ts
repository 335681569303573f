/**
 * The operator refuses a bad configuration at start: exit code 2 and one line naming the field,
 * as the file wrote it, both in the operator's own form and in the chart's auth and media values.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config.ts';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const images = { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:1' };
const id = { name: 'test', namespace: 'corecast-system' };

/** Runs the operator on this configuration; it must stop before it ever connects. */
function start(config: unknown): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, stringify(config));
  const res = spawnSync(process.execPath, [main, '--config', path], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: join(dir, 'none') },
    timeout: 30000,
  });
  return { status: res.status, stderr: res.stderr };
}

describe('the operator at start', () => {
  const cases: [string, unknown, string][] = [
    ['a misspelt key', { images, worker: 2 }, 'Unrecognized key: "worker"'],
    [
      'a renew deadline not below the lease',
      { images, leaderElection: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 } },
      'leaderElection.renewDeadlineSeconds: must be less than leaseDurationSeconds',
    ],
    [
      'the chart form: ICE-lite with ICE-TCP',
      { images, auth: { mode: 'none' }, media: { iceLite: true, tcp: true } },
      'media.iceLite: ICE-lite gathers host UDP candidates only',
    ],
    ['the chart form: jwks without its URL', { images, auth: { mode: 'jwks' } }, 'auth.jwksUrl: required when auth.mode is jwks'],
    ['the chart form: a media mode that is none', { images, media: { mode: 'udp' } }, 'media.mode: Invalid option'],
  ];
  for (const [what, config, message] of cases) {
    test(`refuses ${what}: exit 2, naming the field`, () => {
      const res = start(config);
      assert.equal(res.status, 2, res.stderr);
      assert.match(res.stderr, /^corecast-operator: config file .* is invalid: /);
      assert.ok(res.stderr.includes(message), `expected "${message}" in: ${res.stderr}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    });
  }
});

describe("the chart's auth and media values in the configuration file", () => {
  test('become the egress settings the chart used to write itself', () => {
    const c = parseConfig(
      {
        images,
        auth: { mode: 'hs256', existingSecret: 'corecast-auth', issuer: 'https://issuer.test', embed: { enabled: true } },
        media: {
          mode: 'hostNetwork',
          advertiseNodeIp: true,
          advertiseOnly: true,
          stunServers: ['stun:s.test'],
        },
      },
      id,
    );
    assert.deepEqual(c.egress.auth, {
      mode: 'hs256',
      issuer: 'https://issuer.test',
      processesClaim: 'corecast.dev/processes',
      clockToleranceSeconds: 5,
      maxTokenLifetimeSeconds: 86400,
    });
    assert.deepEqual(c.egress.jwtSecretRef, { name: 'corecast-auth', key: 'jwt-secret' });
    assert.deepEqual(c.egress.embedSecretRef, { name: 'corecast-auth', key: 'jwt-secret' });
    assert.equal(c.egress.hostNetwork, true);
    assert.deepEqual(c.egress.ice.advertise, { addresses: [], addressEnv: ['NODE_IP'], only: true });
    assert.deepEqual(c.egress.ice.servers, [{ urls: ['stun:s.test'] }]);
  });

  test('the sections alone give the chart defaults: hs256 needs the Secret name', () => {
    assert.throws(() => parseConfig({ images, auth: {} }, id), /auth\.existingSecret: required when auth\.mode is hs256/);
    assert.equal(parseConfig({ images, auth: { mode: 'none' }, media: {} }, id).egress.auth.mode, 'none');
  });

  test('egress settings the sections give cannot also be set under egress', () => {
    assert.throws(
      () => parseConfig({ images, auth: { mode: 'none' }, egress: { ice: { lite: true }, maxViewersPerPod: 5 } }, id),
      /egress\.ice: comes from the auth and media sections: set it there/,
    );
    assert.equal(parseConfig({ images, auth: { mode: 'none' }, egress: { maxViewersPerPod: 5 } }, id).egress.maxViewersPerPod, 5);
    assert.throws(() => parseConfig({ images, auth: { mode: 'none' }, egress: 'lots' }, id), /egress: must be a map/);
  });

  test("a quantity written as a number (YAML's cpu: 1) is taken as its text", () => {
    const c = parseConfig({ images, egress: { resources: { requests: { cpu: 1 }, limits: { memory: '512Mi' } } } }, id);
    assert.deepEqual(c.egress.resources.requests, { cpu: '1' });
  });
});
