/** The control plane's pure parts (flags, paths, kubeconfig) and its process supervision. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { namespacePrefix } from '../src/control-plane.ts';
import { controlPlaneCacheDir, pinnedKubernetesVersion } from '../src/control-plane-binaries.ts';
import { kubeconfigYaml, writeCredentials } from '../src/control-plane-credentials.ts';
import { apiserverArgs, controllerManagerArgs, controllers, etcdArgs, serviceClusterIpRange } from '../src/control-plane-flags.ts';
import { freeLoopbackPorts } from '../src/control-plane-net.ts';
import { ProcessGroup } from '../src/control-plane-processes.ts';
import { alive, until } from './control-plane-helpers.ts';

describe('pinned version and cache directory', () => {
  test('reads the k8s.io/kubernetes requirement from go.mod', () => {
    const goMod = 'module x\n\nrequire (\n\tk8s.io/kubernetes v1.35.4 // indirect\n\tk8s.io/api v0.0.0\n)\n';
    assert.equal(pinnedKubernetesVersion(goMod), 'v1.35.4');
  });

  test('the committed go.mod pins a 1.3x release', () => {
    assert.match(pinnedKubernetesVersion(), /^v1\.3\d+\.\d+$/);
  });

  test('a go.mod without the requirement is an error', () => {
    assert.throws(() => pinnedKubernetesVersion('module x\n'), /no k8s\.io\/kubernetes requirement/);
  });

  test('cache directory: override, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(controlPlaneCacheDir('v1.35.4', { CORECAST_CONTROL_PLANE_DIR: '/x' }), '/x');
    assert.equal(controlPlaneCacheDir('v1.35.4', { XDG_CACHE_HOME: '/c' }), '/c/corecast/control-plane/v1.35.4');
    assert.match(controlPlaneCacheDir('v1.35.4', {}), /\/\.cache\/corecast\/control-plane\/v1\.35\.4$/);
  });
});

describe('flags', () => {
  test('etcd listens on loopback only, without fsync', () => {
    const args = etcdArgs({ dataDir: '/d', clientPort: 1, peerPort: 2 });
    assert.ok(args.includes('--listen-client-urls=http://127.0.0.1:1'));
    assert.ok(args.includes('--listen-peer-urls=http://127.0.0.1:2'));
    assert.ok(args.includes('--initial-cluster=default=http://127.0.0.1:2'));
    assert.ok(args.includes('--unsafe-no-fsync=true'));
    for (const a of args.filter((x) => x.includes('://'))) assert.match(a, /http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('kube-apiserver: loopback, RBAC, token file, service-account keys, no ServiceAccount admission', () => {
    const args = apiserverArgs({
      etcdClientPort: 1,
      securePort: 2,
      certDir: '/certs',
      tokenFile: '/t.csv',
      serviceAccountKey: '/sa.key',
      serviceAccountPub: '/sa.pub',
    });
    for (const flag of [
      '--etcd-servers=http://127.0.0.1:1',
      '--secure-port=2',
      '--bind-address=127.0.0.1',
      '--authorization-mode=RBAC',
      '--token-auth-file=/t.csv',
      '--disable-admission-plugins=ServiceAccount',
      '--service-account-key-file=/sa.pub',
      '--service-account-signing-key-file=/sa.key',
      '--cert-dir=/certs',
    ]) {
      assert.ok(args.includes(flag), flag);
    }
  });

  test('the Service range is a /16 (room for thousands of ClusterIPs), set on kube-apiserver only', () => {
    assert.equal(serviceClusterIpRange, '10.0.0.0/16');
    const api = apiserverArgs({
      etcdClientPort: 1,
      securePort: 2,
      certDir: '/c',
      tokenFile: '/t',
      serviceAccountKey: '/k',
      serviceAccountPub: '/p',
    });
    assert.ok(api.includes('--service-cluster-ip-range=10.0.0.0/16'));
    const cm = controllerManagerArgs({ kubeconfig: '/k', securePort: 3, certDir: '/c', serviceAccountKey: '/sa.key', rootCaFile: '/ca' });
    // The controller manager takes a Service range only with the node IPAM controller; a
    // second, different value there would disagree with the API server's.
    assert.ok(!(controllers as readonly string[]).includes('nodeipam'));
    assert.equal(cm.filter((a) => a.startsWith('--service-cluster-ip-range') || a.startsWith('--allocate-node-cidrs')).length, 0);
  });

  test('kube-controller-manager runs the garbage collector and namespace controller, no leader election', () => {
    const args = controllerManagerArgs({
      kubeconfig: '/k',
      securePort: 3,
      certDir: '/c',
      serviceAccountKey: '/sa.key',
      rootCaFile: '/ca',
    });
    assert.ok(args.includes(`--controllers=${controllers.join(',')}`));
    assert.ok(controllers.includes('garbagecollector') && controllers.includes('namespace'));
    assert.ok(args.includes('--leader-elect=false'));
    assert.ok(args.includes('--bind-address=127.0.0.1'));
  });
});

describe('credentials and kubeconfig', () => {
  test('token file, key pair and a kubeconfig that client-node loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-cred-'));
    try {
      const creds = writeCredentials(dir);
      assert.equal(readFileSync(creds.tokenFile, 'utf8'), `${creds.token},admin,admin,"system:masters"\n`);
      assert.match(readFileSync(creds.serviceAccountKey, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
      assert.match(readFileSync(creds.serviceAccountPub, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigYaml({ server: 'https://127.0.0.1:6443', caPem: 'PEM', token: creds.token }));
      assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
      assert.equal(kc.getCurrentCluster()?.caData, Buffer.from('PEM').toString('base64'));
      assert.equal(kc.getCurrentUser()?.token, creds.token);
      assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'default');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('namespace prefixes become DNS labels', () => {
    assert.equal(namespacePrefix('Example test-pattern.yaml'), 'example-test-pattern-yaml');
    assert.equal(namespacePrefix('--'), 'test');
    assert.ok(namespacePrefix('x'.repeat(100)).length <= 40);
  });

  test('free loopback ports are distinct', async () => {
    const ports = await freeLoopbackPorts(6);
    assert.equal(new Set(ports).size, 6);
  });
});

describe('ProcessGroup', () => {
  test('stop() kills each child and what it forked into its group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-pg-'));
    try {
      const group = new ProcessGroup();
      const pidFile = join(dir, 'grandchild');
      const child = group.spawn('forker', 'sh', ['-c', `sleep 300 & echo $! > ${pidFile}; wait`], join(dir, 'log'));
      const grandchild = await until('the grandchild pid', async () => {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        if (!pid) throw new Error('empty pid file');
        return pid;
      });
      assert.ok(alive(child.pid) && alive(grandchild));
      await group.stop();
      assert.ok(child.hasExited());
      // The grandchild is not ours to reap: poll until init has collected it.
      await until('the grandchild to die', async () => {
        if (alive(grandchild)) throw new Error('alive');
      });
      assert.deepEqual(group.pids().filter(alive), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a child that ignores SIGTERM is killed after the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-pg-'));
    try {
      const group = new ProcessGroup();
      const child = group.spawn('stubborn', 'sh', ['-c', "trap '' TERM; while :; do sleep 1; done"], join(dir, 'log'));
      await group.stop(200);
      assert.equal((await child.exited).signal, 'SIGKILL');
      assert.deepEqual(group.pids().filter(alive), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('when its owner dies by SIGKILL, the guard kills the children and removes the state directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-pg-'));
    const module = new URL('../src/control-plane-processes.ts', import.meta.url).href;
    const script = `
      const { ProcessGroup } = await import(${JSON.stringify(module)});
      const group = new ProcessGroup();
      group.spawn('sleeper', 'sleep', ['300'], '/dev/null');
      group.removeOnDeath(${JSON.stringify(dir)});
      console.log(JSON.stringify(group.pids()));
      setInterval(() => {}, 1 << 30);`;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = await new Promise<number[]>((resolve) => {
      owner.stdout.setEncoding('utf8').once('data', (line: string) => resolve(JSON.parse(line) as number[]));
    });
    assert.equal(pids.length, 2, 'the sleeper and the guard');
    assert.deepEqual(pids.filter(alive), pids);
    owner.kill('SIGKILL');
    await until('the guard to clean up', async () => {
      if (pids.some(alive) || existsSync(dir)) throw new Error(`alive: ${pids.filter(alive).join(' ')}`);
    });
  });

  test('no child can be started once stopping', async () => {
    const group = new ProcessGroup();
    await group.stop();
    assert.throws(() => group.spawn('late', 'true', [], '/dev/null'), /the control plane is stopping/);
  });
});
