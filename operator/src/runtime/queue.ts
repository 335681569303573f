/**
 * A work queue with client-go's contract (k8s.io/client-go/util/workqueue), which
 * controller-runtime's controllers run on:
 *
 * - an item is a key (`namespace/name`), held at most once while waiting (adds coalesce);
 * - no key is handed out twice at once: a key added while it is being processed is marked
 *   dirty and handed out again after `done`;
 * - `addAfter` delays an add (requeue-after); `addRateLimited` delays it by the rate limiter
 *   (per-key exponential backoff, see rate-limiter.ts) and `forget` resets that backoff;
 * - `shutDown` wakes every waiting `get` with `undefined`.
 */
import { type Clock, systemClock, type Timer } from './clock.ts';
import { DefaultRateLimiter, type RateLimiter } from './rate-limiter.ts';

/** What the queue reports (workqueue_* metrics); every hook is optional. */
export interface QueueMetrics {
  added?(): void;
  depth?(n: number): void;
  /** Seconds an item waited between add and get. */
  queued?(seconds: number): void;
  /** Seconds between get and done. */
  worked?(seconds: number): void;
  retried?(): void;
}

/** Options of a queue. */
export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  metrics?: QueueMetrics;
}

/** The queue. */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  readonly #metrics: QueueMetrics;
  /** Keys ready to hand out, in order. */
  #queue: string[] = [];
  /** Keys that need processing (waiting in #queue, or to be re-queued after done). */
  readonly #dirty = new Set<string>();
  /** Keys handed out and not done yet, with when they were handed out. */
  readonly #processing = new Map<string, number>();
  /** When each dirty key was added (for queue latency). */
  readonly #addedAt = new Map<string, number>();
  /** Delayed adds: key → when it becomes ready, and its timer. */
  readonly #waiting = new Map<string, { readyAt: number; timer: Timer }>();
  /** Pending `get` calls. */
  #getters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#limiter = opts.rateLimiter ?? new DefaultRateLimiter(this.#clock);
    this.#metrics = opts.metrics ?? {};
  }

  /** Adds a key now. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.added?.();
    this.#dirty.add(key);
    this.#addedAt.set(key, this.#clock.now());
    if (this.#processing.has(key)) return; // handed out again by done()
    this.#push(key);
  }

  /** Adds a key after `ms` milliseconds (an earlier pending add wins). */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const pending = this.#waiting.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    pending?.timer.cancel();
    const timer = this.#clock.after(ms, () => {
      this.#waiting.delete(key);
      this.add(key);
    });
    this.#waiting.set(key, { readyAt, timer });
  }

  /** Adds a key after the rate limiter's delay for it (a retry). */
  addRateLimited(key: string): void {
    this.#metrics.retried?.();
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets the key's backoff (call after it was processed successfully). */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** How many times the key has been retried since its last `forget`. */
  retries(key: string): number {
    return this.#limiter.retries(key);
  }

  /** The next key to process; resolves `undefined` once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.#queue.length > 0) return Promise.resolve(this.#take());
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Marks a key processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#processing.delete(key);
    this.#metrics.worked?.((this.#clock.now() - started) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
  }

  /** Keys waiting to be handed out (workqueue_depth). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  processing(): number {
    return this.#processing.size;
  }

  /** Seconds the longest-running key has been processed (workqueue_longest_running_processor_seconds). */
  longestRunningSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const t of this.#processing.values()) oldest = Math.min(oldest, t);
    return oldest === Number.POSITIVE_INFINITY ? 0 : (this.#clock.now() - oldest) / 1000;
  }

  /** Seconds of work in progress, summed over the keys being processed (workqueue_unfinished_work_seconds). */
  unfinishedWorkSeconds(): number {
    const now = this.#clock.now();
    let total = 0;
    for (const t of this.#processing.values()) total += now - t;
    return total / 1000;
  }

  /** Stops the queue: pending and future `get`s resolve `undefined`, delayed adds are dropped. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    this.#queue = [];
    const getters = this.#getters;
    this.#getters = [];
    for (const g of getters) g(undefined);
  }

  /** True after shutDown. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  #push(key: string): void {
    const getter = this.#getters.shift();
    if (getter) {
      this.#queue.push(key);
      getter(this.#take());
      return;
    }
    this.#queue.push(key);
    this.#metrics.depth?.(this.#queue.length);
  }

  #take(): string {
    const key = this.#queue.shift() as string;
    this.#dirty.delete(key);
    const now = this.#clock.now();
    this.#processing.set(key, now);
    const addedAt = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (addedAt !== undefined) this.#metrics.queued?.((now - addedAt) / 1000);
    this.#metrics.depth?.(this.#queue.length);
    return key;
  }
}
