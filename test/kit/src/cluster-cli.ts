/**
 * `npm run cluster`: a control plane for a person. Starts etcd, kube-apiserver and
 * kube-controller-manager on loopback, installs the CRDs from crds/, prints
 * `export KUBECONFIG=<path>` on a line of its own, and runs until SIGINT or SIGTERM.
 *
 * Progress goes to stderr so stdout carries only the export line (`eval "$(npm run -s cluster)"`
 * would block, but a script can read the first stdout line).
 */
import { startControlPlane } from './control-plane.ts';
import { installCrds } from './control-plane-crds.ts';

const log = (line: string): void => {
  process.stderr.write(`cluster: ${line}\n`);
};

log('starting etcd, kube-apiserver and kube-controller-manager');
const started = Date.now();
const controlPlane = await startControlPlane();
const crds = await installCrds(controlPlane.kubeConfig());
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${controlPlane.server}; CRDs: ${crds.join(', ')}`);
log(`pids: ${controlPlane.pids.join(' ')}`);
process.stdout.write(`export KUBECONFIG=${controlPlane.kubeconfigPath}\n`);
log('Ctrl-C stops it');

// Keeps the process alive: the children are unref'd so a test run can exit without them.
const keepAlive = setInterval(() => {}, 1 << 30);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void controlPlane.stop().then(
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
