/**
 * The real fan-out thread (src/workers/media-worker.ts) with a log of every module it loads,
 * posted as `{ t: 'modules', loaded }` once the thread is ready (worker-modules.test.ts).
 */
import { registerHooks } from 'node:module';
import { parentPort } from 'node:worker_threads';

const loaded: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
// Resolves once the thread has warmed up and posted 'ready' (its module's top-level await).
await import('../src/workers/media-worker.ts');
parentPort!.postMessage({ t: 'modules', loaded });
