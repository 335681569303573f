/**
 * A fan-out thread's log events (src/workers/thread-log.ts) are written by the pod's pino logger
 * in the main thread: its level, bindings, redaction and error serializer apply as to the main
 * thread's own lines, and nothing a thread logs can break the thread or the line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import type { FromWorker } from '../src/workers/protocol.ts';
import { writeThreadLog } from '../src/workers/thread-log.ts';
import { logSink } from './helpers.ts';

/** Runs thread-log-worker.ts with its logger at `level`; its events written by a pod logger at `podLevel`. */
async function runThread(level: string, podLevel = 'info'): Promise<Record<string, unknown>[]> {
  const sink = logSink();
  const log = createLogger(podLevel, sink.stream);
  const worker = new Worker(new URL('./thread-log-worker.ts', import.meta.url), { workerData: level });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FromWorker | { t: 'done' }) => {
      if (m.t === 'log') writeThreadLog(log, m.level, m.fields, m.msg);
      if (m.t === 'done') resolve();
    });
    worker.on('error', reject);
  });
  await worker.terminate();
  await new Promise((r) => setImmediate(r));
  return sink.lines();
}

describe("a fan-out thread's logger", () => {
  it('hands its events to the pod logger with their bindings, errors serialized and secrets redacted', async () => {
    const lines = await runThread('info');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['plain message', 'viewer socket failed', 'a cyclic field', undefined],
      'the debug line is below the level; every other event is written once, in order',
    );
    for (const line of lines) {
      assert.equal(line.component, 'egress', 'the pod logger’s base fields');
      assert.equal(line.worker, 3, 'the thread’s binding');
      assert.equal(typeof line.time, 'number');
    }
    const [plain, failed, cyclic, fieldsOnly] = lines as [
      Record<string, unknown>,
      Record<string, any>,
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    assert.equal(plain.level, 30);
    assert.equal(failed.level, 40);
    assert.equal(failed.process, 'cam', 'a child’s binding');
    assert.equal(failed.viewers, 2);
    assert.equal(failed.token, '[redacted]', 'redaction applies to a thread’s fields');
    assert.equal(failed.err.type, 'TypeError');
    assert.equal(failed.err.message, 'socket went away');
    assert.equal(failed.err.code, 'ECONNRESET');
    assert.match(failed.err.stack, /^TypeError: socket went away\n\s+at /);
    assert.equal(cyclic.level, 50);
    assert.equal(cyclic.cycle, '[unserializable]', 'a field JSON cannot hold is named, not thrown');
    assert.match(String(cyclic.logError), /circular/i);
    assert.equal(fieldsOnly.only, 'fields');
  });

  it('posts debug events only when its level lets them through', async () => {
    const both = await runThread('debug', 'debug');
    assert.deepEqual(both[0], { ...both[0], level: 20, msg: 'a debug line', n: 1, worker: 3 });
    assert.equal(both.length, 5);
    const threadAtInfo = await runThread('info', 'debug');
    assert.equal(threadAtInfo.length, 4, 'a thread at info does not post its debug events');
  });
});
