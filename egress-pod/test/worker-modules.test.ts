/**
 * What a fan-out thread loads: werift, but not werift's certificate library (@peculiar/x509 and
 * the ~200 modules it brings) nor noble's curves — rtc-fastpath's thread-crypto.ts keeps them out
 * and the thread makes its DTLS certificate and key exchanges with node:crypto — nor the
 * configuration schemas and zod, nor pino (its log events are written by the main thread's), nor werift's CommonJS RTP classes
 * (it has werift's bundle); tweetnacl and multicast-dns wait for a use the warm-up does not
 * have (an Ed25519 key, a `.local` candidate). The thread is the real one, warm-up included: two werift peers
 * complete ICE and DTLS over loopback on the thread's certificate before it reports ready.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { KEPT_OUT_MODULES, ON_DEMAND_MODULES } from '@corecast/rtc-fastpath';
import type { WorkerSetup } from '../src/workers/protocol.ts';

describe('a fan-out thread', () => {
  it('warms werift up on its own certificate without loading the certificate libraries or zod', async () => {
    const setup: WorkerSetup = {
      index: 0,
      processes: ['cam'],
      fanout: {},
      logLevel: 'info',
      mux: undefined,
    };
    const worker = new Worker(new URL('./module-log-worker.ts', import.meta.url), { workerData: setup });
    const logs: string[] = [];
    let ready = false;
    try {
      const loaded = await new Promise<string[]>((resolve, reject) => {
        worker.on('message', (m: { t: string; msg?: string; loaded?: string[] }) => {
          if (m.t === 'log') logs.push(m.msg ?? '');
          if (m.t === 'ready') ready = true;
          if (m.t === 'modules') resolve(m.loaded!);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`the thread exited (${code}) before it was ready; logs: ${logs.join('')}`)));
      });
      assert.ok(ready, 'the thread reported ready');
      assert.deepEqual(
        logs.filter((line) => line.includes('warm-up')),
        [],
        'the warm-up connected (ICE and DTLS on the thread’s certificate)',
      );
      assert.ok(
        loaded.some((url) => url.includes('/werift/lib/index.mjs')),
        'werift was loaded (the log sees it)',
      );
      // Its RTP classes come from that bundle, not a second copy from werift's CommonJS build.
      assert.deepEqual(
        loaded.filter((url) => /\/werift\/lib\//.test(url) && !url.endsWith('/werift/lib/index.mjs')),
        [],
      );
      assert.deepEqual(
        loaded.filter((url) => KEPT_OUT_MODULES.test(url) || ON_DEMAND_MODULES.test(url)),
        [],
      );
      assert.deepEqual(
        loaded.filter((url) => /\/node_modules\/zod\/|\/api\/(src|dist)\/(process|egress-config)\./.test(url)),
        [],
      );
      // Its log events go to the main thread's logger (thread-log.ts): pino stays out.
      assert.deepEqual(
        loaded.filter((url) => /\/node_modules\/(pino|pino-[a-z-]+|sonic-boom|thread-stream|fast-redact|@pinojs\/[a-z-]+)\//.test(url)),
        [],
      );
    } finally {
      await worker.terminate();
    }
  });
});
