/** Structured logs (pino), one event per line. Tokens and secrets are never logged. */
import { type Logger, pino } from 'pino';

/** The pod's logger type. */
export type { Logger };

/** Paths pino blanks out wherever a request or config slips into a log line. */
const REDACT = ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'query.token', '*.credential', '*.secret'];

/** A logger at `level`, writing JSON lines to stdout (or to `destination`, for tests). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { component: 'egress' }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
