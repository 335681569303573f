/**
 * Viewer counts, read from the egress pods: each running egress pod's `/metrics` (its metrics
 * port, reachable from the operator: the egress NetworkPolicy admits it from anywhere) carries
 * `corecast_egress_viewers{process="<name>"}`. The leader asks every egress pod once per status
 * round, a few at a time; a pod that does not answer within 2 s keeps its last count until that
 * goes stale. Counts are kept per pod (a Process with several egress replicas has several) and
 * summed per Process; a pod whose count changed is reported, so its Process is reconciled (the
 * autoscaler and status.webrtc read the per-pod counts).
 */
import { LABELS } from '@corecast/api';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import type { ProgressHub } from './hub.ts';

const VIEWERS = /^corecast_egress_viewers\{[^}]*process="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)/;

/** The viewer counts by process name in a Prometheus text exposition. */
export function viewersIn(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = VIEWERS.exec(line);
    if (m) out.set(m[1]!, Math.max(0, Math.round(Number(m[2]))));
  }
  return out;
}

/** Where a running egress pod serves its metrics, or undefined. */
export function metricsUrl(pod: DeepReadonly<Pod>): string | undefined {
  if (pod.status?.phase !== 'Running' || !pod.status.podIP) return undefined;
  const port = pod.spec?.containers?.[0]?.ports?.find((p) => p.name === 'metrics')?.containerPort;
  if (!port) return undefined;
  const host = pod.status.podIP.includes(':') ? `[${pod.status.podIP}]` : pod.status.podIP;
  return `http://${host}:${port}/metrics`;
}

/**
 * Asks every egress pod for its viewers and records them in the hub; `changed` hears the Process
 * key of each pod whose count changed. Resolves when all answered or timed out.
 */
export async function pollViewers(
  pods: readonly DeepReadonly<Pod>[],
  hub: ProgressHub,
  concurrency = 32,
  changed: (key: string) => void = () => undefined,
): Promise<void> {
  const targets = pods.flatMap((pod) => {
    const url = metricsUrl(pod);
    const ns = pod.metadata?.namespace;
    const name = pod.metadata?.labels?.[LABELS.process];
    const uid = pod.metadata?.uid;
    return url && ns && name && uid ? [{ url, key: `${ns}/${name}`, name, uid }] : [];
  });
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const t = targets[next++]!;
      try {
        const res = await fetch(t.url, { signal: AbortSignal.timeout(2000) });
        const n = viewersIn(await res.text()).get(t.name);
        if (res.ok && n !== undefined && hub.setPodViewers(t.key, t.uid, n)) changed(t.key);
      } catch {
        // Not answering: the last count stands until it goes stale.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
}
