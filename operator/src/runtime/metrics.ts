/**
 * Prometheus metrics under controller-runtime's and client-go's names, so dashboards and alerts
 * written for Go operators work unchanged (controller-runtime pkg/internal/controller/metrics,
 * pkg/metrics/workqueue.go, client-go leaderelection and rest metrics).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import type { ControllerMetrics } from './controller.ts';
import type { QueueMetrics, WorkQueue } from './queue.ts';

/** The controller's name in every label. */
export const CONTROLLER_NAME = 'process';

const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5,
  5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000];

/** Every metric of one operator instance, registered on its own registry. */
export class OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly terminalErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly maxConcurrent: Gauge<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly leader: Gauge<'name'>;
  readonly requests: Counter<'code' | 'method' | 'host'>;
  readonly informerErrors: Counter<'resource'>;
  #queue: WorkQueue | undefined;

  constructor(registry: Registry, opts: { processMetrics?: boolean } = {}) {
    this.registry = registry;
    // process_* and nodejs_* (resident memory, heap, event loop lag), as Go operators export process_* and go_*.
    if (opts.processMetrics) collectDefaultMetrics({ register: registry });
    const r = [registry];
    const queue = () => this.#queue;
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers: r,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers: r,
    });
    this.terminalErrors = new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: ['controller'],
      registers: r,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers: r,
    });
    this.maxConcurrent = new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers: r,
    });
    this.activeWorkers = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers: r,
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
      registers: r,
    });
    this.requests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code, method, and host.',
      labelNames: ['code', 'method', 'host'],
      registers: r,
    });
    this.informerErrors = new Counter({
      name: 'corecast_informer_restarts_total',
      help: 'Times an informer failed and restarted (list or watch error), per resource.',
      labelNames: ['resource'],
      registers: r,
    });
    const queueLabels = { controller: CONTROLLER_NAME, name: CONTROLLER_NAME };
    new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['controller', 'name'],
      registers: r,
      collect() {
        this.set(queueLabels, queue()?.len() ?? 0);
      },
    });
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration.",
      labelNames: ['controller', 'name'],
      registers: r,
      collect() {
        this.set(queueLabels, queue()?.unfinishedWorkSeconds() ?? 0);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames: ['controller', 'name'],
      registers: r,
      collect() {
        this.set(queueLabels, queue()?.longestRunningSeconds() ?? 0);
      },
    });
    const adds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['controller', 'name'],
      registers: r,
    });
    const retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['controller', 'name'],
      registers: r,
    });
    const queued = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['controller', 'name'],
      buckets: QUEUE_BUCKETS,
      registers: r,
    });
    const worked = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['controller', 'name'],
      buckets: QUEUE_BUCKETS,
      registers: r,
    });
    this.queueMetrics = {
      added: () => adds.inc(queueLabels),
      retried: () => retries.inc(queueLabels),
      queued: (s) => queued.observe(queueLabels, s),
      worked: (s) => worked.observe(queueLabels, s),
    };
    const c = { controller: CONTROLLER_NAME };
    this.controllerMetrics = {
      reconciled: (outcome, seconds) => {
        this.reconcileTotal.inc({ ...c, result: outcome });
        this.reconcileTime.observe(c, seconds);
      },
      // A terminal error is an error too: controller-runtime increments both counters for it.
      errored: (terminal) => {
        this.reconcileErrors.inc(c);
        if (terminal) this.terminalErrors.inc(c);
      },
      activeWorkers: (n) => this.activeWorkers.set(c, n),
    };
  }

  /** Hooks for the work queue. */
  readonly queueMetrics: QueueMetrics;
  /** Hooks for the controller. */
  readonly controllerMetrics: ControllerMetrics;

  /** Lets the gauges read the queue. */
  watchQueue(queue: WorkQueue): void {
    this.#queue = queue;
  }
}
