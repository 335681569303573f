/**
 * Retry timing shared by the operator and the egress pod: one exponential backoff and one
 * timeout around a promise. Pure apart from the timer `withTimeout` sets (injectable for tests).
 */

/** How an exponential backoff grows. */
export interface BackoffOptions {
  /** Delay of the first retry (attempt 0), in milliseconds. */
  readonly baseMs: number;
  /** No delay is longer than this, in milliseconds (jitter only shortens a delay). */
  readonly capMs: number;
  /** Growth per attempt (default 2: doubling). */
  readonly factor?: number;
  /**
   * Fraction of the delay taken off at random, 0 to 1 (default 0: none). 0.5 gives a delay
   * between half and all of the computed one, so retries of many clients spread out while the
   * cap stays a cap.
   */
  readonly jitter?: number;
  /** Uniform random number in [0, 1) (default Math.random; tests pass a fixed one). */
  readonly random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry):
 * min(cap, base × factor^attempt), less up to `jitter` of it at random.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const { baseMs, capMs, factor = 2, jitter = 0, random = Math.random } = opts;
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`backoff attempt must be a whole number ≥ 0, got ${attempt}`);
  if (!(baseMs >= 0) || !Number.isFinite(baseMs)) throw new RangeError(`backoff baseMs must be a finite number ≥ 0, got ${baseMs}`);
  if (!(capMs >= baseMs)) throw new RangeError(`backoff capMs must be ≥ baseMs (${baseMs}), got ${capMs}`);
  if (!(factor >= 1) || !Number.isFinite(factor)) throw new RangeError(`backoff factor must be a finite number ≥ 1, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be between 0 and 1, got ${jitter}`);
  // factor ** attempt overflows to Infinity for large attempts; min() then gives the cap.
  const delay = Math.min(capMs, baseMs * factor ** attempt);
  return jitter === 0 ? delay : delay * (1 - jitter * random());
}

/** The error `withTimeout` rejects with when no `onTimeout` is given. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  /** The timeout that ran out. */
  readonly ms: number;
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.ms = ms;
  }
}

/** A source of cancellable timers (the operator's Clock is one). */
export interface TimerSource {
  after(ms: number, fn: () => void): { cancel(): void };
}

/** Extra options of `withTimeout`. */
export interface TimeoutOptions {
  /** Aborting it ends the wait early, the same way the timeout does. */
  readonly signal?: AbortSignal;
  /** Where the timer comes from (default: an unref'd setTimeout, which never keeps the process alive). */
  readonly timer?: TimerSource;
}

const realTimers: TimerSource = {
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Settles like `work` if it settles within `ms`; otherwise with `onTimeout()`'s value (or its
 * error), or rejects with a TimeoutError when there is no `onTimeout`. The timer is cleared as
 * soon as either side wins. `work` is left to finish on its own; its late answer (or error) is
 * ignored.
 */
export function withTimeout<T, U = never>(
  work: Promise<T>,
  ms: number,
  onTimeout?: () => U | Promise<U>,
  opts: TimeoutOptions = {},
): Promise<T | U> {
  if (!(ms >= 0)) throw new RangeError(`timeout must be a number of milliseconds ≥ 0, got ${ms}`);
  const { signal, timer = realTimers } = opts;
  return new Promise<T | U>((resolve, reject) => {
    let done = false;
    let cancelTimer = (): void => {};
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      cancelTimer();
      signal?.removeEventListener('abort', expire);
      return true;
    };
    const expire = (): void => {
      if (!finish()) return;
      if (!onTimeout) return reject(new TimeoutError(ms));
      try {
        Promise.resolve(onTimeout()).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    };
    work.then(
      (value) => finish() && resolve(value),
      (err: unknown) => finish() && reject(err),
    );
    if (signal?.aborted) return expire();
    const handle = timer.after(ms, expire);
    if (done) return handle.cancel(); // a timer source that fired at once
    cancelTimer = () => handle.cancel();
    signal?.addEventListener('abort', expire, { once: true });
  });
}
