/**
 * The real media worker, made to fail the way a bug would — an uncaught exception in the
 * thread — when a test says so (worker-failure.int.test.ts):
 * - a message `{ worker: <n> }` on the BroadcastChannel FAIL_CHANNEL makes running worker n throw;
 * - while the environment variable FAIL_AT_START holds n, a new worker n throws before it is ready
 *   (a worker thread copies the environment when it is created).
 */
import { BroadcastChannel, workerData } from 'node:worker_threads';

/** The channel a test fails a running worker on. */
export const FAIL_CHANNEL = 'corecast-test-fail-worker';
/** The variable naming the worker that fails as it starts. */
export const FAIL_AT_START = 'CORECAST_TEST_FAIL_AT_START';

if (workerData !== null && typeof workerData === 'object' && 'index' in workerData) {
  const index = String(workerData.index);
  if (process.env[FAIL_AT_START] === index) throw new Error(`deliberate failure as media worker ${index} starts`);
  const channel = new BroadcastChannel(FAIL_CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    const data: unknown = event instanceof MessageEvent ? event.data : undefined;
    if (data !== null && typeof data === 'object' && 'worker' in data && String(data.worker) === index) {
      throw new Error(`deliberate failure in media worker ${index}`);
    }
  };
  await import('../src/workers/media-worker.ts');
}
