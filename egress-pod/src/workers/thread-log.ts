/**
 * A fan-out thread's logger. The thread does not load pino (about half a MiB of heap in every
 * thread, for the few lines a thread writes): each event at or above the pod's level is posted
 * to the main thread as its bindings, fields and message, and the main thread writes it through
 * the pod's own pino logger (pool.ts), so redaction, serializers, format and destination are
 * exactly those of the pod's other lines.
 */
import type { LogFields, Logger } from '../log.ts';
import type { LogLevel } from './protocol.ts';

/** pino's level numbers (a level logs what is at or above it). */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Posts one event to the main thread (its fields as JSON text: anything may be in them). */
export type PostLog = (level: LogLevel, fields: string, msg: string | undefined) => void;

/** A logger at `level` whose events go to `post`, with `bindings` in every event. */
export function threadLogger(level: string, post: PostLog, bindings: LogFields = {}): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info!;
  const at =
    (name: LogLevel) =>
    (first: LogFields | string, msg?: string): void => {
      if (LEVELS[name]! < threshold) return;
      const [fields, text] = typeof first === 'string' ? [{}, first] : [first, msg];
      post(name, toJson({ ...bindings, ...fields }), text);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => threadLogger(level, post, { ...bindings, ...more }),
  };
}

/** Writes a thread's event with the pod's logger, as if it had been logged there. */
export function writeThreadLog(log: Logger, level: LogLevel, fields: string, msg: string | undefined): void {
  const parsed = JSON.parse(fields) as LogFields;
  // pino's serializer formats `err` (type, message with causes, stack, own properties): it gets an
  // Error again, so a thread's error reads like one of the main thread's.
  if (isSentError(parsed.err)) parsed.err = revive(parsed.err);
  if (msg === undefined) log[level](parsed);
  else log[level](parsed, msg);
}

/** An error as the thread sent it (toJson). */
interface SentError {
  readonly [ERROR]: string;
  readonly message: string;
  readonly stack?: string;
  readonly [own: string]: unknown;
}

/** The key marking a sent error; it holds the error's class name. */
const ERROR = '$error';

function isSentError(value: unknown): value is SentError {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[ERROR] === 'string';
}

/** An Error of a class with the sent one's name (pino takes the type from the constructor). */
function revive(sent: SentError): Error {
  const { [ERROR]: type, message, stack, ...own } = sent;
  const Named = { [type]: class extends Error {} }[type]!;
  const err = Object.assign(new Named(String(message)), own);
  if (stack !== undefined) err.stack = stack;
  return err;
}

/**
 * The fields as JSON, each error as its class name, message, stack and own properties (such as
 * `code`); a value JSON cannot hold (a cycle) is named, not thrown.
 */
function toJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields, replacer);
  } catch (err) {
    const each = Object.entries(fields).map(([key, value]) => {
      try {
        JSON.stringify(value, replacer);
        return [key, value];
      } catch {
        return [key, '[unserializable]'];
      }
    });
    return JSON.stringify({ ...Object.fromEntries(each), logError: String(err) }, replacer);
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { ...value, [ERROR]: value.constructor?.name ?? value.name, message: value.message, stack: value.stack };
  return typeof value === 'bigint' ? value.toString() : value;
}
