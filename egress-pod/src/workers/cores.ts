/**
 * How many fan-out workers to run: one per core the pod may use. `os.availableParallelism()`
 * follows the CPU affinity mask but not a cgroup CPU quota (a Kubernetes CPU limit), which
 * would leave workers fighting over a fraction of a core; the quota (cgroup v2 `cpu.max`,
 * or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) caps it, rounded up.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Cores allowed by a cgroup CPU quota file's text, or undefined when unlimited or unreadable. */
export function coresFromQuota(cpuMax: string | undefined, v1: { quota?: string; period?: string } = {}): number | undefined {
  if (cpuMax !== undefined) {
    // cgroup v2: "<quota> <period>" or "max <period>".
    const [quota, period] = cpuMax.trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || period === undefined) return undefined;
    return ratio(Number(quota), Number(period));
  }
  if (v1.quota === undefined || v1.period === undefined) return undefined;
  return ratio(Number(v1.quota), Number(v1.period));
}

function ratio(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Cores this process may use: the affinity mask, capped by the cgroup CPU quota. */
export function availableCores(): number {
  const quota = coresFromQuota(read('/sys/fs/cgroup/cpu.max'), {
    quota: read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'),
    period: read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'),
  });
  const cores = availableParallelism();
  return quota === undefined ? cores : Math.min(cores, quota);
}

/** The number of workers for a configured value ('auto' or a count; 0 = fan-out in the main thread). */
export function workerCount(configured: 'auto' | number): number {
  return configured === 'auto' ? availableCores() : configured;
}
