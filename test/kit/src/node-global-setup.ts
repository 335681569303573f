/**
 * Global setup of the `node` test level (`npm run test:node`): starts the test node
 * (node-cluster.ts) once in the runner's process and publishes its kubeconfig and ingress URL in
 * CORECAST_NODE_KUBECONFIG and CORECAST_INGRESS_URL, which every test file's process inherits.
 * When both are already set (a node from `npm run cluster -- --node`, or a kind cluster from
 * test/e2e/kind.sh), that cluster is used and nothing is started. Teardown stops what it started.
 */
import { type NodeCluster, nodeEnv, startNodeCluster } from './node-cluster.ts';

let node: NodeCluster | undefined;

/** Starts the node (node's test runner calls this once, before any test file). */
export async function globalSetup(): Promise<void> {
  if (process.env[nodeEnv.kubeconfig] && process.env[nodeEnv.ingress]) return;
  const started = Date.now();
  node = await startNodeCluster({ log: (line) => process.stderr.write(`node: ${line}\n`) });
  process.stderr.write(`node: up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.env[nodeEnv.kubeconfig] = node.kubeconfigPath;
  process.env[nodeEnv.ingress] = node.ingressUrl;
}

/** Stops it after the last test file. */
export async function globalTeardown(): Promise<void> {
  await node?.stop();
  if (node) {
    delete process.env[nodeEnv.kubeconfig];
    delete process.env[nodeEnv.ingress];
  }
  node = undefined;
}
