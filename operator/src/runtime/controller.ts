/**
 * Workers that drain a WorkQueue into a reconcile function, with controller-runtime's result
 * handling (pkg/internal/controller/controller.go, reconcileHandler):
 *
 * - returns `{}`                 → success: forget the key's backoff;
 * - returns `{ requeueAfter }`   → forget the backoff, add the key again after that delay;
 * - returns `{ requeue: true }`  → add again rate-limited (backoff grows);
 * - throws a TerminalError       → log it, forget, don't retry (only a new event brings it back);
 * - throws a ConflictError (409) → add again rate-limited, not counted as an error: the
 *   reconcile acted on stale data, and the next run reads fresh data;
 * - throws anything else         → add again rate-limited and count an error; never a crash.
 */
import type { Logger } from 'pino';
import type { WorkQueue } from './queue.ts';

/** What a reconcile asks for after it ran. */
export interface Result {
  /** Run again after this many milliseconds (e.g. the rest of a reconnect delay). */
  requeueAfterMs?: number;
  /** Run again soon, rate-limited. */
  requeue?: boolean;
}

/** An error that retrying cannot fix (an invalid spec): logged, not retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** A write was refused because the object changed since it was read (HTTP 409). */
export class ConflictError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

/** The reconcile function: given `namespace/name`, make the world match the spec. */
export type Reconcile = (key: string) => Promise<Result>;

/** Outcome labels of controller_runtime_reconcile_total. */
export type Outcome = 'success' | 'error' | 'requeue' | 'requeue_after';

/** What the controller reports (controller_runtime_* metrics). */
export interface ControllerMetrics {
  reconciled?(outcome: Outcome, seconds: number): void;
  /**
   * A reconcile failed (a conflict is not a failure). Every failure counts in
   * controller_runtime_reconcile_errors_total; a terminal one also in
   * controller_runtime_terminal_reconcile_errors_total, as controller-runtime counts them.
   */
  errored?(terminal: boolean): void;
  activeWorkers?(n: number): void;
}

/** Options of a controller. */
export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  reconcile: Reconcile;
  workers: number;
  log: Logger;
  metrics?: ControllerMetrics;
}

/** A running set of workers. */
export class Controller {
  readonly #opts: ControllerOptions;
  #active = 0;
  #workers: Promise<void>[] = [];

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
  }

  /** Starts the workers (call once). */
  start(): void {
    for (let i = 0; i < this.#opts.workers; i++) this.#workers.push(this.#work());
  }

  /** Resolves when every worker has stopped (after the queue is shut down and in-flight reconciles end). */
  async stopped(): Promise<void> {
    await Promise.all(this.#workers);
  }

  async #work(): Promise<void> {
    const { queue } = this.#opts;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      this.#opts.metrics?.activeWorkers?.(++this.#active);
      try {
        await this.#handle(key);
      } finally {
        this.#opts.metrics?.activeWorkers?.(--this.#active);
        queue.done(key);
      }
    }
  }

  async #handle(key: string): Promise<void> {
    const { queue, reconcile, log, metrics } = this.#opts;
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    try {
      const result = await reconcile(key);
      if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        queue.forget(key);
        queue.addAfter(key, result.requeueAfterMs);
        metrics?.reconciled?.('requeue_after', took());
      } else if (result.requeue) {
        queue.addRateLimited(key);
        metrics?.reconciled?.('requeue', took());
      } else {
        queue.forget(key);
        metrics?.reconciled?.('success', took());
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        queue.forget(key);
        metrics?.reconciled?.('error', took());
        metrics?.errored?.(true);
        log.warn({ process: key, err: err.message }, 'reconcile failed for good; waiting for a change');
      } else if (err instanceof ConflictError) {
        queue.addRateLimited(key);
        metrics?.reconciled?.('requeue', took());
        log.debug({ process: key, err: err.message }, 'conflict; reconciling again with fresh data');
      } else {
        queue.addRateLimited(key);
        metrics?.reconciled?.('error', took());
        metrics?.errored?.(false);
        log.error({ process: key, err, retries: queue.retries(key) }, 'reconcile failed; retrying with backoff');
      }
    }
  }
}
