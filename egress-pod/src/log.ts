/** Structured logs (pino), one event per line. Tokens and secrets are never logged. */
import { pino } from 'pino';

/** An event's fields. */
export type LogFields = Record<string, unknown>;

/** Logs one event: its fields (optional) and message. */
type LogFn = (fieldsOrMessage: LogFields | string, message?: string) => void;

/**
 * What the egress calls on a logger: the pod's pino logger, or a fan-out thread's, which hands
 * its events to the main thread's pino (workers/thread-log.ts).
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: LogFields): Logger;
}

/** Paths pino blanks out wherever a request or config slips into a log line. */
const REDACT = ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'query.token', '*.credential', '*.secret'];

/** A logger at `level`, writing JSON lines to stdout (or to `destination`, for tests). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): pino.Logger {
  const options = { level, base: { component: 'egress' }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
