/**
 * What a thread holds that could leak: libuv handles and requests by type (UDP sockets,
 * timers, TCP connections …, from `process.getActiveResourcesInfo()`), sessions and viewers.
 * Exported as a gauge per thread, so a leak shows on a dashboard and in the leak benchmark,
 * and the leak test can check that everything returns to where it started.
 */
import { muxCounts } from '@corecast/rtc-fastpath';
import { Gauge, type Registry } from 'prom-client';

/** One thread's counts: resource type (or "sessions", "viewers") → number. */
export type Resources = Record<string, number>;

/** The calling thread's active resources, plus its sessions and fan-out viewers. */
export function threadResources(sessions: number, viewers: number): Resources {
  const out: Resources = { sessions, viewers, ...muxCounts() };
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}

/** Registers `corecast_egress_thread_resources{thread,type}`, collected from `threads` at each scrape. */
export function registerResourceMetrics(registry: Registry, threads: () => Promise<Record<string, Resources>>): void {
  new Gauge({
    name: 'corecast_egress_thread_resources',
    help: 'Active resources per thread (libuv handles and requests by type, sessions, viewers): a leak shows as growth.',
    labelNames: ['thread', 'type'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [thread, counts] of Object.entries(await threads())) {
        for (const [type, n] of Object.entries(counts)) this.set({ thread, type }, n);
      }
    },
  });
}
