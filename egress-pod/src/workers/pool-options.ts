/** How the fan-out worker pool (pool.ts) is set up, and what it reports for readiness. */
import type { FanoutOptions } from '../fanout.ts';
import type { MuxSetup } from '../ice-mux.ts';
import type { Logger } from '../log.ts';
import type { EgressMetrics } from '../metrics.ts';

/** How the pool is set up. */
export interface PoolOptions {
  /** Worker threads (at least 1). */
  readonly workers: number;
  /** Process ids in configuration order. */
  readonly processes: readonly string[];
  /** Options of each worker's fan-outs (GOP cache; plain data: a thread gives its own parser). */
  readonly fanout: Omit<FanoutOptions, 'parse'>;
  /** Log level of the workers. */
  readonly logLevel: string;
  /** The pod's logger (workers' lines are written to its destination). */
  readonly log: Logger;
  /** The pod's metrics. */
  readonly metrics: EgressMetrics;
  /** The pod's media port, which every worker binds (ice-mux.ts). */
  readonly mux?: MuxSetup | undefined;
  /** The worker thread's module (default: media-worker.ts; tests give one that fails on purpose). */
  readonly script?: URL;
  /**
   * Threads as the load needs them (`media.workers: auto`): one runs from the start, the next
   * starts when every running one holds `nextThreadAt` viewers, and one without viewers for IDLE_RETIRE_MS
   * stops; the last one, once it had viewers, is replaced by a fresh thread instead (#replace).
   * Otherwise all `workers` run from the start and stay.
   */
  readonly onDemand?: boolean;
  /**
   * On demand: the next thread starts when a joiner finds every running thread holding this
   * many viewers (default NEXT_THREAD_AT in pool.ts; tests give a small number).
   */
  readonly nextThreadAt?: number;
}

/** How many worker threads run, of how many the pod should have (readiness). */
export interface PoolHealth {
  readonly running: number;
  readonly wanted: number;
}
