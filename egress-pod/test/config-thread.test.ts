/**
 * The egress pod checks its configuration against the schema in a short-lived thread: the main
 * thread never loads zod or the schemas of @corecast/api (~5 MiB of heap), still refuses a bad
 * configuration with the field's path, and gets the same configuration loadConfig gives.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EGRESS_CONFIG_ENV, type EgressConfigInput, ValidationError } from '@corecast/api';
import { loadConfig } from '../src/config.ts';
import { checkInThread, loadConfigInThread } from '../src/config-thread.ts';
import { testConfig } from './helpers.ts';

const probe = fileURLToPath(new URL('./config-thread-probe.ts', import.meta.url));

/** Starts the probe with this configuration; its exit code, stderr and the main thread's modules. */
function run(config: EgressConfigInput): { status: number | null; stderr: string; code: number; modules: string[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, [EGRESS_CONFIG_ENV]: JSON.stringify(config) };
  const res = spawnSync(process.execPath, [probe], { encoding: 'utf8', env, timeout: 60_000 });
  const last = res.stdout.trim().split('\n').at(-1) ?? '';
  assert.ok(last.startsWith('{'), `no report from the probe; stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return { status: res.status, stderr: res.stderr, ...(JSON.parse(last) as { code: number; modules: string[] }) };
}

/** The api workspace: @corecast/api's modules, sources and compiled. */
const api = new URL('../../api/', import.meta.url).href;
/** Modules of zod, or schema modules of @corecast/api, among those loaded. */
const schemaModules = (modules: string[]) =>
  modules.filter(
    (m) => m.includes('/node_modules/zod/') || (m.startsWith(api) && /\/(index|egress-config|egress-ice|process|validate)\.[jt]s$/.test(m)),
  );

describe('the configuration check at start', () => {
  it('keeps zod and the schemas out of the main thread of a pod that starts', () => {
    const res = run(testConfig({ media: { workers: 0 } }));
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.code, 0);
    // The hooks saw the egress load its modules, the zod-free part of @corecast/api among them.
    assert.ok(
      res.modules.some((m) => m.endsWith('/egress-pod/src/egress.ts')),
      'the probe saw no egress module',
    );
    assert.ok(
      res.modules.some((m) => /\/api\/src\/light\.ts$/.test(m)),
      'the probe saw no @corecast/api/light',
    );
    assert.deepEqual(schemaModules(res.modules), []);
  });

  it('refuses a bad configuration with the field path, exit code 2, without loading zod here', () => {
    const res = run(testConfig({ streams: [{ processId: 'demo', maxViewers: 0 }] }));
    assert.equal(res.status, 2, res.stderr);
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`^${EGRESS_CONFIG_ENV} is invalid: streams\\[0\\]\\.maxViewers: `));
    assert.deepEqual(schemaModules(res.modules), []);
  });

  it('gives the configuration loadConfig gives, every default filled in', async () => {
    const env = {
      [EGRESS_CONFIG_ENV]: JSON.stringify(testConfig({ namespace: 'ns', auth: { mode: 'hs256' }, replica: { index: 0 } })),
      CORECAST_JWT_SECRET: 'x'.repeat(32),
    };
    const inThread = await loadConfigInThread(env);
    const direct = loadConfig(env);
    assert.deepEqual(inThread.config, direct.config);
    assert.deepEqual(inThread.jwtSecret, direct.jwtSecret);
    assert.deepEqual(inThread.advertised, direct.advertised);
  });

  it('rejects with the same ValidationError as loadConfig: not set, not JSON, a bad field, a missing secret', async () => {
    const cases: (string | undefined)[] = [undefined, ' ', '{streams:', JSON.stringify({ streams: [{ processId: 'Demo' }] })];
    for (const raw of cases) {
      const direct = (() => {
        try {
          loadConfig({ [EGRESS_CONFIG_ENV]: raw });
        } catch (err) {
          return err as ValidationError;
        }
        assert.fail(`loadConfig accepted ${raw}`);
      })();
      await assert.rejects(checkInThread(raw), (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(err.message, direct.message);
        assert.deepEqual(err.errors, direct.errors);
        return true;
      });
    }
    const secretless = {
      [EGRESS_CONFIG_ENV]: JSON.stringify({ streams: [{ processId: 'demo' }], namespace: 'ns', auth: { mode: 'hs256' } }),
    };
    await assert.rejects(loadConfigInThread(secretless), {
      message: `${EGRESS_CONFIG_ENV} is invalid: auth.mode: needs the secret in environment variable CORECAST_JWT_SECRET, which is empty or not set`,
    });
  });
});
