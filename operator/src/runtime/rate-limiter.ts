/**
 * client-go's default controller rate limiter (workqueue.DefaultControllerRateLimiter, as
 * controller-runtime uses it): the larger of a per-item exponential backoff (5 ms doubling up
 * to 1000 s) and an overall token bucket (10 retries a second, bursts of 100).
 */
import { backoffDelay } from '@corecast/api';
import type { Clock } from './clock.ts';

/** Decides how long a failed item waits before its next try. */
export interface RateLimiter {
  /** Delay for the next retry of `key` (counts the failure). */
  when(key: string): number;
  /** Forget the failures of `key` (after a success). */
  forget(key: string): void;
  /** Failures of `key` so far. */
  retries(key: string): number;
}

/** Options of the default limiter. */
export interface RateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
}

/** Per-item exponential backoff: base × 2^failures, capped (the shared backoffDelay). */
export class ItemExponentialBackoff implements RateLimiter {
  readonly #failures = new Map<string, number>();
  readonly #backoff: { baseMs: number; capMs: number };
  constructor(baseDelayMs = 5, maxDelayMs = 1_000_000) {
    this.#backoff = { baseMs: baseDelayMs, capMs: maxDelayMs };
  }
  when(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    return backoffDelay(n, this.#backoff);
  }
  forget(key: string): void {
    this.#failures.delete(key);
  }
  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

/** An overall token bucket: each retry takes a token; without one it waits for the next. */
export class BucketLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;
  constructor(clock: Clock, qps = 10, burst = 100) {
    this.#clock = clock;
    this.#qps = qps;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = clock.now();
  }
  /** Reserves a token and returns how long to wait for it. */
  reserve(): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }
}

/** The maximum of the per-item backoff and the overall bucket. */
export class DefaultRateLimiter implements RateLimiter {
  readonly #items: ItemExponentialBackoff;
  readonly #bucket: BucketLimiter;
  constructor(clock: Clock, opts: RateLimiterOptions = {}) {
    this.#items = new ItemExponentialBackoff(opts.baseDelayMs, opts.maxDelayMs);
    this.#bucket = new BucketLimiter(clock, opts.qps, opts.burst);
  }
  when(key: string): number {
    return Math.max(this.#items.when(key), this.#bucket.reserve());
  }
  forget(key: string): void {
    this.#items.forget(key);
  }
  retries(key: string): number {
    return this.#items.retries(key);
  }
}
