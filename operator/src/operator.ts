/**
 * The operator: informers feeding a work queue, workers running the Process reconciler,
 * leader election, metrics and health. `main.ts` builds one from the configuration; tests and
 * the benchmark build several in one process. What is watched, owned and indexed, and which
 * changes reconcile which Process, is declared in watches.ts; this file builds it.
 *
 * Start order (as controller-runtime's manager): servers, informers (a standby keeps warm
 * caches too), then — once leading, or at once without leader election — the workers, and
 * only after every cache has synced, so no reconcile acts on a half-filled cache.
 * Stop order: no new work, in-flight reconciles finish, the Lease is released, informers stop.
 */

import { withTimeout } from '@corecast/api';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { type Identity, type OperatorConfig, publicBaseUrl } from './config.ts';
import { serveCoreApi } from './core-api/serve.ts';
import { type Kube, makeKube, type RequestHooks } from './kube/client.ts';
import { httpRoutesServed, mayRemoveHttpRoutes } from './kube/gateway-api.ts';
import { Informer, type InformerHandlers } from './kube/informer.ts';
import { KeyIndex } from './kube/key-index.ts';
import { EventRecorder } from './kube/recorder.ts';
import { type ChildKind, childSource, type ProcessObject, processSource } from './kube/sources.ts';
import { type DeepReadonly, type KubeObject, objectKey, type Pod, splitKey } from './kube/types.ts';
import type { Caches } from './reconcile/gather.ts';
import { egressPodsOf } from './reconcile/media-inputs.ts';
import { ProcessReconciler } from './reconcile/reconciler.ts';
import { ProgressHub } from './progress/hub.ts';
import { progressMetrics } from './progress/metrics.ts';
import { serveProgress } from './progress/server.ts';
import { cacheSources } from './progress/sources.ts';
import { pollViewers } from './progress/viewers.ts';
import { type Clock, systemClock } from './runtime/clock.ts';
import { Controller } from './runtime/controller.ts';
import { type Listening, serveHealth, serveMetrics } from './runtime/http.ts';
import { LeaderElector } from './runtime/leader.ts';
import { CONTROLLER_NAME, OperatorMetrics } from './runtime/metrics.ts';
import { WorkQueue } from './runtime/queue.ts';
import { type Change, type IndexLookup, PROCESS_CONTROLLER, PROCESS_NAME_INDEX, type WatchSpec } from './watches.ts';

/** What an operator is built from. */
export interface OperatorOptions {
  readonly config: OperatorConfig;
  readonly identity: Identity;
  readonly kubeConfig: KubeConfig;
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Extra hooks on every API request (tests count writes with one). */
  readonly requestHooks?: RequestHooks[];
  /** Informer tuning (tests shorten these). */
  readonly informer?: { relistMs?: number; stallMs?: number };
  /** Called when the operator cannot go on (leadership lost): `main` exits. */
  readonly onFatal?: (reason: string) => void;
  /** Export process_* and nodejs_* metrics (once per process: `main` turns it on). */
  readonly processMetrics?: boolean;
}

/** How long a stop waits for in-flight reconciles. */
const DRAIN_TIMEOUT_MS = 20_000;

/** One operator instance. */
export class Operator {
  readonly metrics: OperatorMetrics;
  readonly kube: Kube;
  readonly log: Logger;
  /** Live progress of the running Processes (taken and written by the leader). */
  readonly progress: ProgressHub;
  readonly #o: OperatorOptions;
  readonly #clock: Clock;
  readonly #queue: WorkQueue;
  readonly #controller: Controller;
  readonly #processInformers = new Map<string, Informer<ProcessObject>>();
  readonly #childInformers = new Map<ChildKind, Map<string, Informer<KubeObject>>>();
  /** The indexes over cached Processes (watches.ts). */
  readonly #indexes = new Map(PROCESS_CONTROLLER.indexes.processes.map((i) => [i.name, new KeyIndex()]));
  readonly #elector: LeaderElector | undefined;
  readonly #recorder: EventRecorder;
  #servers: Listening[] = [];
  readonly #progressMetrics: ReturnType<typeof progressMetrics>;
  #workersStarted = false;
  #leading = false;
  #stopping = false;

  constructor(opts: OperatorOptions) {
    this.#o = opts;
    const { config } = opts;
    this.#clock = opts.clock ?? systemClock;
    this.log = opts.log ?? pino({ level: config.logLevel, base: { instance: opts.identity.name } });
    this.metrics = new OperatorMetrics(new Registry(), { processMetrics: opts.processMetrics ?? false });
    const host = new URL(opts.kubeConfig.getCurrentCluster()?.server ?? 'https://unknown').host;
    this.kube = makeKube(opts.kubeConfig, [
      { after: (r) => this.metrics.requests.inc({ code: String(r.status), method: r.method, host }) },
      ...(opts.requestHooks ?? []),
    ]);
    this.#recorder = new EventRecorder(this.kube, opts.identity.name, this.#clock, this.log);
    this.#queue = new WorkQueue({ clock: this.#clock, metrics: this.metrics.queueMetrics });
    this.metrics.watchQueue(this.#queue);
    this.metrics.maxConcurrent.set({ controller: CONTROLLER_NAME }, config.workers);
    const reconciler = new ProcessReconciler({
      kube: this.kube,
      caches: this.#caches(),
      config,
      recorder: this.#recorder,
      clock: this.#clock,
      log: this.log,
      baseUrl: publicBaseUrl(config),
      egressPods: () => egressPodsOf(this.#cachedPods()),
      podViewers: (uid) => this.progress.podViewers(uid),
    });
    this.#controller = new Controller({
      name: PROCESS_CONTROLLER.name,
      queue: this.#queue,
      reconcile: reconciler.reconcile,
      workers: config.workers,
      log: this.log,
      metrics: this.metrics.controllerMetrics,
    });
    this.#buildInformers();
    this.progress = new ProgressHub(
      config.progress,
      cacheSources(this.#caches(), () => this.#cachedProcesses()),
      this.#clock,
    );
    this.#progressMetrics = progressMetrics(this.metrics.registry, () => this.progress);
    const le = config.leaderElection;
    if (le.enabled) {
      this.#elector = new LeaderElector(
        this.kube,
        {
          namespace: le.leaseNamespace ?? opts.identity.namespace ?? 'default',
          name: le.leaseName,
          identity: opts.identity.name,
          leaseDurationMs: le.leaseDurationSeconds * 1000,
          renewDeadlineMs: le.renewDeadlineSeconds * 1000,
          retryPeriodMs: le.retryPeriodSeconds * 1000,
        },
        {
          onStartedLeading: () => {
            this.#setLeading(true);
            void this.#startWorkers();
          },
          onStoppedLeading: (reason) => {
            this.#setLeading(false);
            if (reason === 'lost') {
              this.#queue.shutDown();
              this.#o.onFatal?.('leadership lost');
            }
          },
        },
        this.log,
        this.#clock,
      );
      this.metrics.leader.set({ name: le.leaseName }, 0);
    }
  }

  /** Starts serving, watching and (when leading) reconciling. */
  async start(): Promise<void> {
    const { config } = this.#o;
    await this.#watchHttpRoutes();
    // Every replica serves the Core API (core-api/serve.ts); first, so a missing Secret fails the start before anything listens.
    const coreApi = config.coreApi.enabled ? await serveCoreApi(this.kube, config, this.#o.identity, this.#clock, this.log) : undefined;
    this.#servers = [
      await serveMetrics(this.metrics.registry, config.metrics.port),
      await serveHealth(
        {
          healthz: { ping: () => undefined },
          readyz: { informers: () => (this.hasSynced() ? undefined : `not synced: ${this.#unsynced().join(', ')}`) },
        },
        config.health.port,
      ),
      await serveProgress(this.progress, () => this.#leading, config.progress.port, this.#progressMetrics.report),
      ...(coreApi ? [coreApi] : []),
    ];
    for (const inf of this.#allInformers()) inf.start();
    if (this.#elector) this.#elector.start();
    else {
      this.#setLeading(true);
      void this.#startWorkers();
    }
    this.log.info(
      {
        namespaces: config.namespaces.length > 0 ? config.namespaces : 'all',
        workers: config.workers,
        leaderElection: config.leaderElection.enabled,
      },
      'operator started',
    );
  }

  /** Stops gracefully (see the file comment). */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#queue.shutDown();
    await withTimeout(this.#controller.stopped(), DRAIN_TIMEOUT_MS, () => undefined);
    await this.progress.stop();
    await this.#elector?.stop();
    await Promise.all(this.#allInformers().map((i) => i.stop()));
    await Promise.all(this.#servers.map((s) => s.close()));
    this.log.info('operator stopped');
  }

  /** True once every informer has listed. */
  hasSynced(): boolean {
    return this.#unsynced().length === 0;
  }

  /** True while this instance may reconcile (leader, or no leader election). */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** Port of /metrics. */
  get metricsPort(): number {
    return this.#servers[0]?.port ?? 0;
  }

  /** Port of /healthz and /readyz. */
  get healthPort(): number {
    return this.#servers[1]?.port ?? 0;
  }

  /** Port FFmpeg pods send progress to. */
  get progressPort(): number {
    return this.#servers[2]?.port ?? 0;
  }

  /** Port of the Core API (0 when coreApi is off). */
  get coreApiPort(): number {
    return this.#o.config.coreApi.enabled ? (this.#servers[3]?.port ?? 0) : 0;
  }

  #cachedPods(): DeepReadonly<Pod>[] {
    return [...(this.#childInformers.get('pods')?.values() ?? [])].flatMap((i) => i.list()) as DeepReadonly<Pod>[];
  }

  #cachedProcesses(): DeepReadonly<ProcessObject>[] {
    return [...this.#processInformers.values()].flatMap((i) => i.list());
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    // A pod whose viewer count changed reconciles its Process (autoscale, status.webrtc).
    const viewers = () => pollViewers(egressPodsOf(this.#cachedPods()), this.progress, 32, (key) => this.#queue.add(key));
    if (leading)
      this.progress.start(this.kube, this.log, this.#progressMetrics.writer, this.#o.config.progress.viewers ? viewers : undefined);
    else void this.progress.stop();
    if (this.#elector) this.metrics.leader.set({ name: this.#o.config.leaderElection.leaseName }, leading ? 1 : 0);
  }

  async #startWorkers(): Promise<void> {
    if (this.#workersStarted) return;
    this.#workersStarted = true;
    while (!this.hasSynced() && !this.#stopping) await new Promise((r) => setTimeout(r, 20));
    if (this.#stopping) return;
    this.log.info('caches synced; starting workers');
    this.#controller.start();
  }

  #unsynced(): string[] {
    return this.#allInformers()
      .filter((i) => !i.hasSynced())
      .map((i) => i.name);
  }

  #allInformers(): Informer<KubeObject>[] {
    return [...this.#processInformers.values(), ...[...this.#childInformers.values()].flatMap((m) => [...m.values()])];
  }

  /** The watched namespaces, or [undefined] for all of them. */
  #scopes(): (string | undefined)[] {
    const { namespaces } = this.#o.config;
    return namespaces.length > 0 ? [...namespaces] : [undefined];
  }

  #informerOptions(resource: string) {
    const { config } = this.#o;
    return {
      clock: this.#clock,
      log: this.log,
      relistMs: this.#o.informer?.relistMs ?? config.resyncSeconds * 1000,
      ...(this.#o.informer?.stallMs ? { stallMs: this.#o.informer.stallMs } : {}),
      onError: () => this.metrics.informerErrors.inc({ resource }),
    };
  }

  /** Informers as watches.ts declares them: Processes (the primary kind, indexed) and the owned kinds, per scope. */
  #buildInformers(): void {
    const setup = PROCESS_CONTROLLER;
    for (const ns of this.#scopes()) {
      const procs = new Informer(processSource(this.kube, ns), new Watch(this.kube.kubeConfig), this.#informerOptions('processes'));
      procs.on(
        handlers<ProcessObject>((c) => {
          this.#indexProcess(c);
          if (c.type === 'delete' && c.obj.metadata?.uid) this.#recorder.forget(c.obj.metadata.uid);
          this.#enqueue(setup.for.watch, c);
          for (const w of setup.watches) this.#enqueue(w.watch, c);
        }),
      );
      this.#processInformers.set(ns ?? '', procs);
    }
    for (const kind of setup.owns.kinds) this.#buildChildInformers(kind);
  }

  /** An informer of one owned kind per scope; each change reconciles the Processes the owns watch maps it to. */
  #buildChildInformers(kind: ChildKind): void {
    const byNs = this.#childInformers.get(kind) ?? new Map<string, Informer<KubeObject>>();
    for (const ns of this.#scopes()) {
      const inf = new Informer<KubeObject>(childSource(this.kube, kind, ns), new Watch(this.kube.kubeConfig), this.#informerOptions(kind));
      inf.on(handlers<KubeObject>((c) => this.#enqueue(PROCESS_CONTROLLER.owns.watch, c)));
      byNs.set(ns ?? '', inf);
    }
    this.#childInformers.set(kind, byNs);
  }

  /** Keeps the Process indexes current (before the watches read them). */
  #indexProcess(c: Change<ProcessObject>): void {
    const key = objectKey(c.obj);
    for (const spec of PROCESS_CONTROLLER.indexes.processes) {
      const index = this.#indexes.get(spec.name);
      if (c.type === 'delete') index?.delete(key);
      else index?.set(key, spec.value(c.obj));
    }
  }

  readonly #lookup: IndexLookup = (index, value) => this.#indexes.get(index)?.keys(value) ?? [];

  /** Adds the Process keys a watch maps a change to, when the change matters to it. */
  #enqueue<T>(watch: WatchSpec<T>, c: Change<T>): void {
    if (watch.when && !watch.when(c)) return;
    for (const key of watch.map(c, this.#lookup)) this.#queue.add(key);
  }

  /**
   * HTTPRoutes are a CRD that may be absent. With gateway.enabled they are children like the
   * others, and an API server that does not serve them fails the start with what to do. Without
   * it, HTTPRoutes left from an earlier gateway mode are still removed where the operator can see
   * them: when the API server serves them and the operator may list, watch and delete them
   * (asked once, here; the chart grants that only in gateway mode).
   */
  async #watchHttpRoutes(): Promise<void> {
    const { config } = this.#o;
    if (config.gateway.enabled) {
      if (!(await httpRoutesServed(this.kube))) {
        throw new Error(
          'gateway.enabled is true, but the API server does not serve HTTPRoutes (gateway.networking.k8s.io/v1): install the Gateway API CRDs (standard channel) first',
        );
      }
      this.#buildChildInformers(PROCESS_CONTROLLER.owns.ifServed);
      return;
    }
    try {
      if (!(await httpRoutesServed(this.kube))) return;
      if (!(await mayRemoveHttpRoutes(this.kube, this.#scopes()))) {
        this.log.info('HTTPRoutes are served but not watched: no RBAC to list, watch and delete them (only needed after gateway mode)');
        return;
      }
    } catch (err) {
      this.log.warn({ err }, 'could not tell whether HTTPRoutes left from gateway mode can be removed; not watching them');
      return;
    }
    this.#buildChildInformers(PROCESS_CONTROLLER.owns.ifServed);
    this.log.info('watching HTTPRoutes to remove any left from gateway mode');
  }

  #caches(): Caches {
    const processInformer = (ns: string) => this.#processInformers.get(ns) ?? this.#processInformers.get('');
    const childInformer = (kind: ChildKind, ns: string) => {
      const m = this.#childInformers.get(kind);
      return m?.get(ns) ?? m?.get('');
    };
    return {
      process: (key) => processInformer(splitKey(key).namespace)?.get(key),
      processesNamed: (name) =>
        this.#lookup(PROCESS_NAME_INDEX.name, name)
          .map((k) => processInformer(splitKey(k).namespace)?.get(k))
          .filter((p): p is DeepReadonly<ProcessObject> => p !== undefined),
      child: (kind, key) => childInformer(kind, splitKey(key).namespace)?.get(key),
    };
  }
}

/** Informer handlers that pass every event on as one Change. */
function handlers<T>(on: (c: Change<T>) => void): InformerHandlers<T> {
  return {
    add: (obj) => on({ type: 'add', obj }),
    update: (old, obj) => on({ type: 'update', old, obj }),
    delete: (obj) => on({ type: 'delete', obj }),
  };
}
