/**
 * Leader election: of two operators only the leader reconciles; a clean stop hands the Lease
 * over at once; a crashed leader (`npm run operator` killed with SIGKILL) is replaced once
 * its Lease expires.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { process as processFixture } from '../../api/test/fixtures/processes.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventually,
  getCluster,
  namespace,
  startOperator,
  TEST_IMAGES,
  waitForPod,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
const operators: Operator[] = [];
let child: ChildProcess | undefined;
const LEASE = 'corecast-test';
const election = { enabled: true, leaseName: LEASE, leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 };

async function holder(): Promise<string | undefined> {
  try {
    return (await c.coordination.readNamespacedLease({ namespace: ns, name: LEASE })).spec?.holderIdentity;
  } catch {
    return undefined;
  }
}

async function reconciles(op: Operator): Promise<number> {
  return (await op.metrics.reconcileTotal.get()).values.reduce((s, v) => s + v.value, 0);
}

async function candidate(name: string): Promise<Operator> {
  const op = await startOperator(c, [ns], { name, config: { leaderElection: { ...election, leaseNamespace: ns } } });
  operators.push(op);
  return op;
}

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'leader');
});

after(async () => {
  child?.kill('SIGKILL');
  await Promise.all(operators.map((op) => op.stop()));
});

describe('leader election', () => {
  test('only the leader reconciles; a clean stop hands over at once', async () => {
    const a = await candidate('a');
    await eventually('a leads', async () => a.isLeader && (await holder()) === 'a');
    const b = await candidate('b');
    await eventually('b has synced its caches (a warm standby)', () => b.hasSynced());
    await createProcess(c, ns, processFixture('one'));
    await waitForPod(c, ns, 'one-ffmpeg');
    await eventually('a reconciled', async () => (await reconciles(a)) > 0);
    assert.equal(b.isLeader, false);
    assert.equal(await reconciles(b), 0, 'the standby did not reconcile');
    const metrics = await b.metrics.registry.metrics();
    assert.match(metrics, new RegExp(`leader_election_master_status\\{name="${LEASE}"\\} 0`));

    await a.stop();
    await eventually('b leads', async () => b.isLeader && (await holder()) === 'b', 30_000);
    await createProcess(c, ns, processFixture('two'));
    await waitForPod(c, ns, 'two-ffmpeg');
    assert.ok((await reconciles(b)) > 0, 'the new leader reconciles');
    await b.stop();
    assert.equal(await holder(), '', 'released on stop');
  });

  test('a crashed leader (npm run operator, SIGKILL) is replaced when its Lease expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-operator-'));
    const configPath = join(dir, 'config.yaml');
    writeFileSync(
      configPath,
      stringify({
        namespaces: [ns],
        images: TEST_IMAGES,
        leaderElection: { ...election, leaseNamespace: ns },
        metrics: { port: 0 },
        health: { port: 0 },
        logLevel: 'info',
      }),
    );
    let output = '';
    child = spawn('npm', ['run', '-s', 'operator', '--', '--config', configPath], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { ...process.env, KUBECONFIG: c.cp.kubeconfigPath, POD_NAME: 'crashy', POD_NAMESPACE: ns },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    await eventually('the operator process leads', async () => (await holder()) === 'crashy', 60_000).catch((err) => {
      throw new Error(`${err.message}\n${output}`);
    });
    await createProcess(c, ns, processFixture('three'));
    await waitForPod(c, ns, 'three-ffmpeg');
    assert.match(output, /became the leader/);

    const d = await candidate('d');
    await eventually('d has synced', () => d.hasSynced());
    assert.equal(d.isLeader, false);
    // A crash: no release, no goodbye. The whole process group, as npm runs node under it.
    process.kill(-(child.pid as number), 'SIGKILL');
    child = undefined;
    await eventually('d takes over after the Lease expires', async () => d.isLeader && (await holder()) === 'd', 60_000);
    await createProcess(c, ns, processFixture('four'));
    await waitForPod(c, ns, 'four-ffmpeg');
    const lease = await c.coordination.readNamespacedLease({ namespace: ns, name: LEASE });
    assert.ok((lease.spec?.leaseTransitions ?? 0) >= 3, `transitions: ${lease.spec?.leaseTransitions}`);
  });
});
