/**
 * Warm start of the control plane (binaries already built): time from `startControlPlane()` to
 * etcd healthy, kube-apiserver /readyz ok and kube-controller-manager /healthz ok; and the time
 * `stop()` takes. Prints JSON lines {name,value,unit}; run by test/control-plane/measure.sh.
 */

import { startControlPlane } from './control-plane.ts';
import { ensureControlPlaneBinaries } from './control-plane-binaries.ts';

const runs = Number(process.env.RUNS ?? 3);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const emit = (name: string, value: number, unit: string): void => {
  process.stdout.write(`${JSON.stringify({ name, value: Number(value.toFixed(3)), unit })}\n`);
};

// Built before timing anything, so a missing cache is not counted as a start.
await ensureControlPlaneBinaries();
const starts: number[] = [];
const stops: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const cp = await startControlPlane();
  const t1 = performance.now();
  await cp.stop();
  starts.push((t1 - t0) / 1000);
  stops.push((performance.now() - t1) / 1000);
}
emit('control_plane_warm_start_median', median(starts), 's');
emit('control_plane_warm_start_max', Math.max(...starts), 's');
emit('control_plane_stop_median', median(stops), 's');
