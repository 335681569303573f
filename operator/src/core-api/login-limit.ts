/**
 * Failed logins per client address, in fixed one-minute windows: past the limit `POST
 * /api/login` answers 429 with Retry-After (RFC 6585 §4) until the window ends, so a password
 * cannot be guessed at the speed of the network. A success does not reset the count.
 */
import type { Clock } from '../runtime/clock.ts';

const WINDOW_MS = 60_000;
/** Most addresses tracked at once; the oldest windows are dropped first past it. */
const MAX_TRACKED = 10_000;

/** The limiter `POST /api/login` consults. */
export interface LoginLimit {
  /** Seconds until `client` may try again, or 0 when it may now. */
  retryAfter(client: string): number;
  /** Records a failed attempt of `client`. */
  failed(client: string): void;
}

/** A limiter allowing `perMinute` failed logins per client address and minute. */
export function createLoginLimit(perMinute: number, clock: Clock): LoginLimit {
  const windows = new Map<string, { start: number; failures: number }>();
  const current = (client: string) => {
    const w = windows.get(client);
    return w && clock.now() - w.start < WINDOW_MS ? w : undefined;
  };
  return {
    retryAfter(client) {
      const w = current(client);
      return w && w.failures >= perMinute ? Math.ceil((w.start + WINDOW_MS - clock.now()) / 1000) : 0;
    },
    failed(client) {
      const w = current(client);
      if (w) {
        w.failures++;
        return;
      }
      windows.delete(client);
      if (windows.size >= MAX_TRACKED) windows.delete(windows.keys().next().value!);
      windows.set(client, { start: clock.now(), failures: 1 });
    },
  };
}
