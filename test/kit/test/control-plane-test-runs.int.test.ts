/**
 * No orphans on the path a test run takes: `node --test --test-global-setup=<the global setup
 * scripts/run-tests.ts passes>` over a fixture test file, once with a failing test and once
 * interrupted by SIGINT sent to the run's process group (as Ctrl-C in a terminal does). Afterwards
 * no etcd, kube-apiserver or kube-controller-manager of that run is left and its state directory
 * is gone. A run's processes are found by its state directory, which each names in a flag.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gone, processesMentioning, until } from './control-plane-helpers.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url));
const controlPlaneNames = ['etcd', 'kube-apiserver', 'kube-controller-manager'];

/** The integration level's global setup exactly as scripts/run-tests.ts passes it to `node --test`. */
function wiredGlobalSetup(): string {
  const script = readFileSync(join(repoRoot, 'scripts/run-tests.ts'), 'utf8');
  const table = /^const GLOBAL_SETUP[^=]*= \{([^}]*)\};$/m.exec(script)?.[1] ?? '';
  const path = /^\s*int: '([^']+)',$/m.exec(table)?.[1];
  assert.ok(path, 'scripts/run-tests.ts defines no GLOBAL_SETUP for the int level');
  assert.ok(script.includes('`--test-global-setup=${setup}`'), 'scripts/run-tests.ts does not pass the level\'s GLOBAL_SETUP to node --test');
  return path;
}

/** A nested test run over one fixture file. */
interface Run {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** File the fixture writes the run's kubeconfig path to. */
  report: string;
  /** Everything the run printed so far (TAP on stdout, then stderr). */
  output(): string;
}

let scratch = '';
const runs: Run[] = [];

function startRun(fixture: string): Run {
  const report = join(scratch, `${fixture}.report`);
  const env: NodeJS.ProcessEnv = { ...process.env, CORECAST_FIXTURE_REPORT: report };
  // A run of its own: not attached to the control plane of the run executing this file, and not
  // reporting to this file's test runner.
  delete env.CORECAST_KUBECONFIG;
  delete env.NODE_TEST_CONTEXT;
  const args = ['--test', '--test-reporter=tap', `--test-global-setup=${wiredGlobalSetup()}`, join(fixturesDir, fixture)];
  // Its own process group, like a command started from a shell, so SIGINT can go to the group.
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const run: Run = { child, exit, report, output: () => `${stdout}\n${stderr}` };
  runs.push(run);
  return run;
}

/** The state directory of the run's control plane, from the kubeconfig path its fixture reported. */
function stateDir(run: Run): string {
  const kubeconfig = readFileSync(run.report, 'utf8');
  assert.ok(kubeconfig, `the fixture saw no CORECAST_KUBECONFIG:\n${run.output()}`);
  return dirname(kubeconfig);
}

describe('a node --test run with the global setup leaves no control plane behind', () => {
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'corecast-test-runs-'));
  });

  after(() => {
    // A test that failed half-way must not leave its run going (the guard then stops the rest).
    for (const run of runs) {
      if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid !== undefined) {
        try {
          process.kill(-run.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(scratch, { recursive: true, force: true });
  });

  test('when a test fails', { timeout: 180_000 }, async () => {
    const run = startRun('run-fails.fixture.ts');
    const { code } = await run.exit;
    assert.equal(code, 1, run.output());
    assert.match(run.output(), /^# pass 0$/m);
    assert.match(run.output(), /^# fail 1$/m);
    const dir = stateDir(run);
    // The teardown has stopped everything before the runner exits: no waiting.
    assert.deepEqual(processesMentioning(dir), []);
    assert.equal(gone(dir), true, `${dir} is still there`);
  });

  test('when interrupted by SIGINT', { timeout: 180_000 }, async () => {
    const run = startRun('run-sleeps.fixture.ts');
    // The fixture reports once the control plane serves and the test is sleeping.
    const dir = await until(
      'the fixture to report its control plane',
      async () => {
        if (run.child.exitCode !== null) throw new Error(`the run exited early:\n${run.output()}`);
        return stateDir(run);
      },
      150_000,
    );
    assert.deepEqual(
      processesMentioning(dir).map((p) => p.name),
      controlPlaneNames,
      'the run has a control plane, found by its state directory',
    );
    assert.ok(run.child.pid !== undefined);
    process.kill(-run.child.pid, 'SIGINT');
    const exit = await run.exit;
    assert.notDeepEqual(exit, { code: 0, signal: null }, 'an interrupted run does not report success');
    await until(
      'every process of the run to be gone and its state directory removed',
      async () => {
        const left = processesMentioning(dir);
        if (left.length > 0 || !gone(dir)) throw new Error(`left: ${left.map((p) => `${p.name} ${p.pid}`).join(', ') || dir}`);
      },
      30_000,
    );
  });
});
