/**
 * A worker thread that logs through threadLogger (src/workers/thread-log.ts) the way a fan-out
 * thread does, posting each event as the thread's `log` message (thread-log.test.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { threadLogger } from '../src/workers/thread-log.ts';

const log = threadLogger(workerData as string, (level, fields, msg) => parentPort!.postMessage({ t: 'log', level, fields, msg }), {
  worker: 3,
});
const err = Object.assign(new TypeError('socket went away'), { code: 'ECONNRESET' });
const cycle: Record<string, unknown> = { name: 'loop' };
cycle.self = cycle;

log.debug({ n: 1 }, 'a debug line');
log.info('plain message');
log.child({ process: 'cam' }).warn({ err, token: 'secret-token', viewers: 2 }, 'viewer socket failed');
log.error({ cycle }, 'a cyclic field');
log.info({ only: 'fields' });
parentPort!.postMessage({ t: 'done' });
