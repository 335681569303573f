/**
 * What a thread holds that could leak: libuv handles and requests by type (UDP sockets,
 * timers, TCP connections …, from `process.getActiveResourcesInfo()`), sessions and viewers.
 * Exported as a gauge per thread (metrics.ts), so a leak shows on a dashboard and in the leak
 * benchmark, and the leak test can check that everything returns to where it started.
 */
import { muxCounts } from '@corecast/rtc-fastpath';

/** One thread's counts: resource type (or "sessions", "viewers") → number. */
export type Resources = Record<string, number>;

/** The calling thread's active resources, plus its sessions and fan-out viewers. */
export function threadResources(sessions: number, viewers: number): Resources {
  const out: Resources = { sessions, viewers, ...muxCounts() };
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}
