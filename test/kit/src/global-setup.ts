/**
 * Global setup for `node --test --test-global-setup=test/kit/src/global-setup.ts`:
 * starts one control plane in the test runner's process, installs the repository's CRDs, and
 * publishes the kubeconfig path in `CORECAST_KUBECONFIG`, which every test file's process
 * inherits; `sharedControlPlane()` then attaches to it. Teardown stops it.
 */
import { type ControlPlane, kubeconfigEnv, startControlPlane } from './control-plane.ts';
import { installCrds } from './control-plane-crds.ts';

let controlPlane: ControlPlane | undefined;

/** Starts the run's control plane (node's test runner calls this once, before any test file). */
export async function globalSetup(): Promise<void> {
  // A control plane named by the caller (e.g. `npm run cluster` in another terminal) is reused.
  if (process.env[kubeconfigEnv]) return;
  controlPlane = await startControlPlane();
  await installCrds(controlPlane.kubeConfig());
  process.env[kubeconfigEnv] = controlPlane.kubeconfigPath;
}

/** Stops it after the last test file. */
export async function globalTeardown(): Promise<void> {
  await controlPlane?.stop();
  if (controlPlane) delete process.env[kubeconfigEnv];
  controlPlane = undefined;
}
