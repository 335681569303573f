/**
 * `npm run cluster`: a cluster for a person, running until SIGINT or SIGTERM.
 *
 * - `npm run cluster` — a control plane only (etcd, kube-apiserver, kube-controller-manager on
 *   loopback) with the CRDs from crds/: enough to apply Processes and watch the operator decide.
 * - `npm run cluster -- --node` — the whole single-node cluster (node-cluster.ts): Pods really
 *   run, images built here, Traefik as the ingress controller on http://198.18.0.2. Needs root.
 *
 * Prints `export KUBECONFIG=<path>` on a line of its own on stdout (and, with --node, the
 * ingress URL on the next); progress goes to stderr, so a script can read the first lines.
 */
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { installCrds } from './control-plane-crds.ts';
import { startNodeCluster } from './node-cluster.ts';

const log = (line: string): void => {
  process.stderr.write(`cluster: ${line}\n`);
};

const withNode = process.argv.includes('--node');
const started = Date.now();
let cluster: ControlPlane;
if (withNode) {
  log('starting the single-node cluster (a cold first run builds binaries and images: many minutes)');
  const node = await startNodeCluster({ log });
  cluster = node;
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${node.server}; component logs in ${node.dir}`);
  process.stdout.write(`export KUBECONFIG=${node.kubeconfigPath}\n`);
  process.stdout.write(`# ingress: ${node.ingressUrl}  (helm install corecast charts/corecast -n corecast-system --create-namespace -f helm-values/local-node.yaml)\n`);
} else {
  log('starting etcd, kube-apiserver and kube-controller-manager');
  cluster = await startControlPlane();
  const crds = await installCrds(cluster.kubeConfig());
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cluster.server}; CRDs: ${crds.join(', ')}`);
  process.stdout.write(`export KUBECONFIG=${cluster.kubeconfigPath}\n`);
}
log(`pids: ${cluster.pids.join(' ')}`);
log('Ctrl-C stops it');

// Keeps the process alive: the children are unref'd so a test run can exit without them.
const keepAlive = setInterval(() => {}, 1 << 30);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void cluster.stop().then(
      () => {
        clearInterval(keepAlive);
        log('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log(`stop failed: ${String(err)}`);
        process.exit(1);
      },
    );
  });
}
