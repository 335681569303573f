/**
 * Where the control-plane binaries live, and building them when they are missing.
 *
 * The binaries are built from Go modules by test/control-plane/build.sh into a cache
 * directory outside the repository, one directory per pinned Kubernetes release.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Go wrapper module that pins and builds the control plane. */
export const controlPlaneModuleDir = fileURLToPath(new URL('../../control-plane/', import.meta.url));

/**
 * Paths of the binaries build.sh makes: the three a control plane needs, and the three a
 * single node adds to it (all from the same Kubernetes release).
 */
export interface ControlPlaneBinaries {
  /** The Kubernetes release they were built from, e.g. `v1.35.4`. */
  version: string;
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubelet: string;
  kubeScheduler: string;
  kubeProxy: string;
}

/** The k8s.io/kubernetes version required by the wrapper module's go.mod (the single pin). */
export function pinnedKubernetesVersion(goMod = readFileSync(join(controlPlaneModuleDir, 'go.mod'), 'utf8')): string {
  const match = /^\s*k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\b/m.exec(goMod);
  if (match?.[1] === undefined) throw new Error(`no k8s.io/kubernetes requirement in ${controlPlaneModuleDir}go.mod`);
  return match[1];
}

/** The cache directory build.sh writes to (same rule as the script). */
export function controlPlaneCacheDir(version = pinnedKubernetesVersion(), env = process.env): string {
  if (env.CORECAST_CONTROL_PLANE_DIR) return env.CORECAST_CONTROL_PLANE_DIR;
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'corecast', 'control-plane', version);
}

function binariesIn(dir: string, version: string): ControlPlaneBinaries {
  return {
    version,
    dir,
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubelet: join(dir, 'kubelet'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    kubeProxy: join(dir, 'kube-proxy'),
  };
}

function complete(bins: ControlPlaneBinaries): boolean {
  // build.sh writes the stamp last, so a stamp means every binary is whole. An older build
  // (control plane only) has a stamp but lacks the node binaries: it is built again.
  return [
    join(bins.dir, '.stamp'),
    bins.etcd,
    bins.kubeApiserver,
    bins.kubeControllerManager,
    bins.kubelet,
    bins.kubeScheduler,
    bins.kubeProxy,
  ].every((p) => existsSync(p));
}

/**
 * Returns the binaries for the pinned release, running build.sh first when the cache lacks
 * them (a cold build takes many minutes; its progress goes to stderr).
 */
export async function ensureControlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  const version = pinnedKubernetesVersion();
  const bins = binariesIn(controlPlaneCacheDir(version), version);
  if (complete(bins)) return bins;
  process.stderr.write(
    `control plane ${version}: binaries missing in ${bins.dir}; building them with ` +
      `${join(controlPlaneModuleDir, 'build.sh')} (a cold build takes 10-30 minutes)\n`,
  );
  const child = spawn(join(controlPlaneModuleDir, 'build.sh'), [], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0 || !complete(bins)) {
    throw new Error(`test/control-plane/build.sh failed (exit ${code}); run it by hand to see why`);
  }
  return bins;
}
