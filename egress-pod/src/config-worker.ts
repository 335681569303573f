/**
 * The start-up configuration check's thread (config-thread.ts): validates the text it is given
 * with config.ts, posts the configuration or the field errors, and ends, taking zod and the
 * schemas with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ValidationError } from '@corecast/api';
import { parseConfigText } from './config.ts';
import type { ConfigCheck } from './config-thread.ts';

function check(raw: unknown): ConfigCheck {
  try {
    return { config: parseConfigText(typeof raw === 'string' ? raw : undefined) };
  } catch (err) {
    if (err instanceof ValidationError) return { invalid: { what: err.what, errors: err.errors } };
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

parentPort!.postMessage(check(workerData));
