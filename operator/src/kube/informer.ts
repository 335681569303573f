/**
 * An informer: list, then watch from the list's resourceVersion, keeping a cache and telling
 * handlers what changed. client-node's own informer stops for good on any error other than
 * 410 and has been seen to stall silently (client-node#364, #596, #958), so this one:
 *
 * - restarts after any error with exponential backoff (1 s doubling to 30 s) and a fresh list;
 * - re-lists every `relistMs` (a missed event cannot outlive that) and turns the difference
 *   into add/update/delete calls;
 * - asks for bookmarks (the API server sends one about every minute) and treats a watch that
 *   is silent for `stallMs` as stalled: it reconnects from the last resourceVersion;
 * - on 410 Gone (the resourceVersion is too old) lists again.
 *
 * Objects are kept as JSON exactly as received and handed out read-only; callers clone before
 * changing anything.
 */
import { backoffDelay } from '@corecast/api';
import { Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type Clock, sleep, systemClock } from '../runtime/clock.ts';
import { type DeepReadonly, type KubeObject, objectKey } from './types.ts';

/** A list result: the items and the collection's resourceVersion. */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** Where an informer's objects come from. */
export interface InformerSource<T extends KubeObject> {
  /** Short name for logs and metrics, e.g. `pods` or `processes/ns-a`. */
  readonly name: string;
  /** Lists every object (JSON, with the list's resourceVersion). */
  list(): Promise<ListResult<T>>;
  /** The collection's URL path, e.g. `/api/v1/namespaces/ns-a/pods`. */
  readonly watchPath: string;
  /** Label selector of both list and watch. */
  readonly labelSelector?: string;
}

/** What changed. */
export interface InformerHandlers<T> {
  add?(obj: DeepReadonly<T>): void;
  update?(old: DeepReadonly<T>, obj: DeepReadonly<T>): void;
  delete?(obj: DeepReadonly<T>): void;
}

/** Informer tuning. */
export interface InformerOptions {
  clock?: Clock;
  log: Logger;
  /** Full re-list period (default 5 min). */
  relistMs?: number;
  /** A watch silent this long is restarted (default 150 s: bookmarks come every minute). */
  stallMs?: number;
  /** Called on each error (metrics, health). */
  onError?(err: unknown): void;
}

/**
 * Drops metadata.managedFields before an object is cached (controller-runtime's
 * TransformStripManagedFields): the operator never reads them, and on pods they are a large
 * share of the object, so the caches of a thousand Processes are markedly smaller without.
 */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** Restart delays after errors: 1 s doubling to 30 s. */
const BACKOFF = { baseMs: 1000, capMs: 30_000 } as const;

/** A cache of one kind of object, kept current. */
export class Informer<T extends KubeObject> {
  readonly #source: InformerSource<T>;
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #opts: Required<Omit<InformerOptions, 'onError'>> & Pick<InformerOptions, 'onError'>;
  readonly #watch: Watch;
  readonly #cache = new Map<string, T>();
  #synced = false;
  #stopped = false;
  #lastError: unknown;
  #running: Promise<void> | undefined;
  readonly #stop = new AbortController();
  #currentWatch: AbortController | undefined;

  constructor(source: InformerSource<T>, watch: Watch, opts: InformerOptions) {
    this.#source = source;
    this.#watch = watch;
    this.#opts = {
      clock: opts.clock ?? systemClock,
      log: opts.log.child({ informer: source.name }),
      relistMs: opts.relistMs ?? 300_000,
      stallMs: opts.stallMs ?? 150_000,
      onError: opts.onError,
    };
    // Watch's connect and inactivity timeout (a public field in JS, private in its typings).
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.#opts.stallMs;
  }

  /** The source's name (for logs and readiness). */
  get name(): string {
    return this.#source.name;
  }

  /** Registers handlers (before start, so the first list reaches them). */
  on(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops watching; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop.abort(new Error('informer stopped'));
    this.#currentWatch?.abort();
    await this.#running;
  }

  /** True once the first list has been delivered. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** The last error, if the most recent attempt failed (cleared by a successful list). */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** The cached object with this `namespace/name`. */
  get(key: string): DeepReadonly<T> | undefined {
    return this.#cache.get(key) as DeepReadonly<T> | undefined;
  }

  /** Every cached object. */
  list(): DeepReadonly<T>[] {
    return [...this.#cache.values()] as DeepReadonly<T>[];
  }

  async #run(): Promise<void> {
    let failures = 0;
    const { clock, log } = this.#opts;
    while (!this.#stopped) {
      try {
        const listed = await this.#source.list();
        if (this.#stopped) return;
        this.#replace(listed.items);
        this.#lastError = undefined;
        failures = 0;
        await this.#watchUntilRelist(listed.resourceVersion, clock.now() + this.#opts.relistMs);
      } catch (err) {
        if (this.#stopped) return;
        this.#lastError = err;
        this.#opts.onError?.(err);
        const retryInMs = backoffDelay(failures++, BACKOFF);
        log.warn({ err: errorText(err), retryInMs }, 'list/watch failed; restarting');
        try {
          await sleep(clock, retryInMs, this.#stop.signal);
        } catch {
          return;
        }
      }
    }
  }

  /** Watches (reconnecting after clean ends and stalls) until the re-list time; throws on errors. */
  async #watchUntilRelist(fromVersion: string, relistAt: number): Promise<void> {
    let resourceVersion = fromVersion;
    let quickEnds = 0;
    while (!this.#stopped) {
      const remainingMs = relistAt - this.#opts.clock.now();
      if (remainingMs <= 0) return;
      const started = this.#opts.clock.now();
      const end = await this.#watchOnce(resourceVersion, Math.ceil(remainingMs / 1000));
      resourceVersion = end.resourceVersion;
      if (end.gone) {
        this.#opts.log.debug('watch expired (410); listing again');
        return;
      }
      if (end.error && !isTimeout(end.error)) throw end.error;
      if (end.error) this.#opts.log.debug('watch silent too long; reconnecting');
      // A server that ends every watch at once must not turn this into a busy loop.
      quickEnds = this.#opts.clock.now() - started < 1000 ? quickEnds + 1 : 0;
      if (quickEnds >= 3) throw new Error('watch keeps ending immediately');
    }
  }

  #watchOnce(resourceVersion: string, timeoutSeconds: number): Promise<{ resourceVersion: string; gone: boolean; error?: unknown }> {
    return new Promise((resolve) => {
      let rv = resourceVersion;
      let gone = false;
      const query: Record<string, string | number | boolean> = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.max(1, Math.min(timeoutSeconds, 600)),
      };
      if (this.#source.labelSelector) query.labelSelector = this.#source.labelSelector;
      const onEvent = (type: string, obj: T & { code?: number }) => {
        if (type === 'ERROR') {
          if (obj.code === 410) gone = true;
          return;
        }
        stripManagedFields(obj);
        const version = obj.metadata?.resourceVersion;
        if (version) rv = version;
        if (type === 'ADDED' || type === 'MODIFIED') this.#upsert(obj);
        else if (type === 'DELETED') this.#remove(obj);
      };
      const onDone = (err: unknown) => {
        this.#currentWatch = undefined;
        const code = (err as { statusCode?: number } | null)?.statusCode;
        resolve({ resourceVersion: rv, gone: gone || code === 410, error: err ?? undefined });
      };
      this.#watch.watch(this.#source.watchPath, query, onEvent, onDone).then(
        (controller) => {
          this.#currentWatch = controller;
          if (this.#stopped) controller.abort();
        },
        (err: unknown) => resolve({ resourceVersion: rv, gone: false, error: err }),
      );
    });
  }

  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(objectKey(obj));
      this.#upsert(stripManagedFields(obj));
    }
    for (const [key, obj] of this.#cache) {
      if (!seen.has(key)) this.#remove(obj);
    }
    this.#synced = true;
  }

  #upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    this.#cache.set(key, obj);
    if (!old) {
      for (const h of this.#handlers) h.add?.(obj as DeepReadonly<T>);
    } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      for (const h of this.#handlers) h.update?.(old as DeepReadonly<T>, obj as DeepReadonly<T>);
    }
  }

  #remove(obj: T): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    if (!old) return;
    this.#cache.delete(key);
    for (const h of this.#handlers) h.delete?.(obj as DeepReadonly<T>);
  }
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'TimeoutError';
}

function errorText(err: unknown): string {
  const code = (err as { statusCode?: number; code?: number } | null)?.statusCode;
  const message = err instanceof Error ? err.message : String(err);
  return code ? `${code} ${message}` : message;
}

/** Creates a client-node Watch for a kubeconfig (one per informer: each sets its own stall timeout). */
export function makeWatch(kubeConfig: ConstructorParameters<typeof Watch>[0]): Watch {
  return new Watch(kubeConfig);
}
