/**
 * The start-up configuration check, run in a thread of its own (config-worker.ts): the schema
 * of @corecast/api and zod (~5 MiB of heap) live only as long as that thread, which posts back
 * the validated configuration (plain data) or the ValidationError's field errors, and ends. The
 * main thread keeps neither; it then resolves the secrets (config-resolve.ts) itself.
 */
import { Worker } from 'node:worker_threads';
import type { EgressConfig } from '@corecast/api';
import { EGRESS_CONFIG_ENV, type FieldError, ValidationError } from '@corecast/api/light';
import { type Env, type ResolvedConfig, resolveValidated } from './config-resolve.ts';

/** The thread's module beside this one: config-worker.ts as written, or .js where it was compiled (dist/, the image). */
const CHECK_SCRIPT = import.meta.url.endsWith('.ts') ? './config-worker.ts' : './config-worker.js';

/** What the check's thread posts: the configuration, or why it was refused. */
export type ConfigCheck =
  | { readonly config: EgressConfig }
  | { readonly invalid: { readonly what: string; readonly errors: readonly FieldError[] } }
  | { readonly failed: string };

/**
 * Reads, validates and resolves the configuration as config.ts's `loadConfig` does, with the
 * validation in a short-lived thread; rejects with the same ValidationError (same message).
 */
export async function loadConfigInThread(env: Env): Promise<ResolvedConfig> {
  return resolveValidated(await checkInThread(env[EGRESS_CONFIG_ENV]), env);
}

/** Validates the text of CORECAST_EGRESS_CONFIG in a thread of its own; settles once it has ended. */
export function checkInThread(raw: string | undefined): Promise<EgressConfig> {
  return new Promise((resolve, reject) => {
    // No copy of the environment: the thread reads only the text it is given.
    const thread = new Worker(new URL(CHECK_SCRIPT, import.meta.url), { workerData: raw, env: {} });
    let answer: ConfigCheck | undefined;
    let error: unknown;
    thread.once('message', (m: ConfigCheck) => (answer = m));
    thread.once('error', (err) => (error = err));
    // Settled on exit, not on the message: the thread's heap is gone before the pod goes on.
    thread.once('exit', (code) => {
      if (answer === undefined) {
        reject(error ?? new Error(`the configuration check's thread ended (exit code ${code}) without an answer`));
      } else if ('config' in answer) resolve(answer.config);
      else if ('invalid' in answer) reject(new ValidationError(answer.invalid.what, answer.invalid.errors));
      else reject(new Error(answer.failed));
    });
  });
}
