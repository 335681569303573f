/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
 * built from Go modules (test/control-plane/build.sh), each started as a child process.
 *
 * One control plane serves a whole test run. `sharedControlPlane()` is what a test file calls:
 * - under `node --test --test-global-setup=test/kit/src/global-setup.ts` (what
 *   `npm run test:int` / `test:e2e` pass), the global setup has started one control plane in the
 *   runner process and put its kubeconfig path in `CORECAST_KUBECONFIG`; every test file (each in
 *   its own process) attaches to it;
 * - otherwise (a single file run by hand, `--test-isolation=none`) the first call starts one in
 *   this process, and it is stopped when the process exits.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type ControlPlaneBinaries, ensureControlPlaneBinaries } from './control-plane-binaries.ts';
import { kubeconfigYaml, writeCredentials } from './control-plane-credentials.ts';
import { apiserverArgs, controllerManagerArgs, etcdArgs } from './control-plane-flags.ts';
import { freeLoopbackPorts, probe, waitUntil } from './control-plane-net.ts';
import { died, ProcessGroup } from './control-plane-processes.ts';

/** Environment variable holding the kubeconfig path of the run's shared control plane. */
export const kubeconfigEnv = 'CORECAST_KUBECONFIG';

/** A running control plane, reachable as cluster-admin. */
export interface ControlPlane {
  /** Kubeconfig file (context `corecast`, admin token, CA embedded). */
  kubeconfigPath: string;
  /** API server URL, `https://127.0.0.1:<port>`. */
  server: string;
  /** Admin bearer token (group system:masters). */
  token: string;
  /** Pids of the processes this handle started; empty when attached to someone else's. */
  pids: readonly number[];
  /** A fresh client configuration for this control plane. */
  kubeConfig(): KubeConfig;
  /** Creates a namespace named `<prefix>-<random>` and returns its name. */
  newNamespace(prefix: string): Promise<string>;
  /** Stops every process this handle started and removes its files; a no-op when attached. */
  stop(): Promise<void>;
}

/** Options of `startControlPlane`. */
export interface StartOptions {
  /** Give up when the control plane is not ready after this long (default 120 s). */
  timeoutMs?: number;
  /** Keep the state directory (logs, etcd data) after stop, for debugging. */
  keepState?: boolean;
}

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves once all are ready. */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const bins = await ensureControlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'corecast-cp-'));
  const group = new ProcessGroup();
  const keep = opts.keepState ?? process.env.CORECAST_KEEP_CONTROL_PLANE === '1';
  let keepFiles = keep;
  group.onStopped(() => {
    if (!keepFiles) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  if (!keep) group.removeOnDeath(dir);
  try {
    return await boot(bins, dir, group, Date.now() + (opts.timeoutMs ?? 120_000));
  } catch (err) {
    // Keep the logs of a failed start: the error names them.
    keepFiles = true;
    await group.stop(1000);
    throw err;
  }
}

async function boot(bins: ControlPlaneBinaries, dir: string, group: ProcessGroup, deadline: number): Promise<ControlPlane> {
  const creds = writeCredentials(dir);
  const [etcdClientPort, etcdPeerPort, apiPort, kcmPort] = (await freeLoopbackPorts(4)) as [number, number, number, number];
  const certDir = join(dir, 'apiserver-certs');
  mkdirSync(certDir);
  mkdirSync(join(dir, 'kcm-certs'));

  const etcd = group.spawn(
    'etcd',
    bins.etcd,
    etcdArgs({ dataDir: join(dir, 'etcd'), clientPort: etcdClientPort, peerPort: etcdPeerPort }),
    join(dir, 'etcd.log'),
  );
  await waitUntil(async () => (await probe(`http://127.0.0.1:${etcdClientPort}/health`)).body.includes('"true"'), {
    what: 'etcd',
    deadline,
    failFast: died(etcd),
  });

  const apiserver = group.spawn(
    'kube-apiserver',
    bins.kubeApiserver,
    apiserverArgs({ etcdClientPort, securePort: apiPort, certDir, ...creds }),
    join(dir, 'kube-apiserver.log'),
  );
  // The API server writes its self-signed serving certificate (leaf + CA) before it serves.
  const caFile = join(certDir, 'apiserver.crt');
  let caPem = '';
  const server = `https://127.0.0.1:${apiPort}`;
  await waitUntil(
    async () => {
      caPem ||= readFileSync(caFile, 'utf8');
      const res = await probe(`${server}/readyz`, { ca: caPem, token: creds.token });
      return res.status === 200;
    },
    { what: 'kube-apiserver /readyz', deadline, failFast: died(apiserver) },
  );

  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml({ server, caPem, token: creds.token }), { mode: 0o600 });

  const kcm = group.spawn(
    'kube-controller-manager',
    bins.kubeControllerManager,
    controllerManagerArgs({
      kubeconfig: kubeconfigPath,
      securePort: kcmPort,
      certDir: join(dir, 'kcm-certs'),
      serviceAccountKey: creds.serviceAccountKey,
      rootCaFile: caFile,
    }),
    join(dir, 'kube-controller-manager.log'),
  );
  await waitUntil(async () => (await probe(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true })).status === 200, {
    what: 'kube-controller-manager /healthz',
    deadline,
    failFast: died(kcm),
  });

  return controlPlaneHandle({
    kubeconfigPath,
    server,
    token: creds.token,
    pids: group.pids(),
    stop: () => group.stop(),
  });
}

/** A handle on a control plane someone else started (only its kubeconfig is known). */
export function attachControlPlane(kubeconfigPath: string): ControlPlane {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const token = kc.getCurrentUser()?.token;
  if (!cluster || !token) throw new Error(`${kubeconfigPath}: no current cluster or token`);
  return controlPlaneHandle({ kubeconfigPath, server: cluster.server, token, pids: [], stop: async () => {} });
}

/** A ControlPlane from its kubeconfig, credentials and the way to stop it. */
export function controlPlaneHandle(base: Pick<ControlPlane, 'kubeconfigPath' | 'server' | 'token' | 'pids' | 'stop'>): ControlPlane {
  const kubeConfig = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromFile(base.kubeconfigPath);
    return kc;
  };
  return {
    ...base,
    kubeConfig,
    async newNamespace(prefix) {
      const api = kubeConfig().makeApiClient(CoreV1Api);
      const ns = await api.createNamespace({
        body: { metadata: { generateName: `${namespacePrefix(prefix)}-`, labels: { 'corecast.dev/test': 'true' } } },
      });
      const name = ns.metadata?.name;
      if (!name) throw new Error('created namespace has no name');
      return name;
    },
  };
}

/** A DNS-1123 label prefix from free text (namespace names: lowercase alphanumerics and '-'). */
export function namespacePrefix(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return cleaned || 'test';
}

let shared: Promise<ControlPlane> | undefined;

/**
 * The test run's control plane: attaches to the one named by `CORECAST_KUBECONFIG` (set by
 * the global setup), or starts one for this process on first call. Don't `stop()` it.
 */
export function sharedControlPlane(): Promise<ControlPlane> {
  if (!shared) {
    const path = process.env[kubeconfigEnv];
    shared = path ? Promise.resolve(attachControlPlane(path)) : startControlPlane();
    // A failed start is not cached: the next caller tries again and sees its own error.
    shared.catch(() => {
      shared = undefined;
    });
  }
  return shared;
}
