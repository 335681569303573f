/**
 * Core's limits as Kubernetes quantities, written in the canonical form the API server stores
 * (it re-serialises every quantity: "1000m" comes back as "1", "1024Mi" as "1Gi"), so that a
 * pod read back compares equal to the one built and no write is made to "fix" it.
 */

/** CPU in percent of one core (Core's cpuUsage: 150 = 1.5 cores) → canonical quantity, e.g. "1500m", "2". */
export function cpuQuantity(percent: number): string {
  const millis = Math.max(1, Math.round(percent * 10));
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Memory in MiB → canonical binary quantity, e.g. "512Mi", "1Gi". */
export function memoryQuantity(mib: number): string {
  if (mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}Ti`;
  if (mib % 1024 === 0) return `${mib / 1024}Gi`;
  return `${mib}Mi`;
}

/** Core's limits → pod resources: requests = limits, so the pod is Guaranteed for what is set. */
export function limitsToResources(limits: { cpuUsage: number; memoryMbytes: number }): {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
} {
  const list: Record<string, string> = {};
  if (limits.cpuUsage > 0) list.cpu = cpuQuantity(limits.cpuUsage);
  if (limits.memoryMbytes > 0) list.memory = memoryQuantity(limits.memoryMbytes);
  return Object.keys(list).length === 0 ? {} : { requests: { ...list }, limits: { ...list } };
}
