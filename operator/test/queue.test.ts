import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ConflictError, Controller, type Outcome, type Result, TerminalError } from '../src/runtime/controller.ts';
import { CONTROLLER_NAME, OperatorMetrics } from '../src/runtime/metrics.ts';
import { WorkQueue } from '../src/runtime/queue.ts';
import { BucketLimiter, DefaultRateLimiter, ItemExponentialBackoff } from '../src/runtime/rate-limiter.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const quiet = pino({ level: 'silent' });
/** Lets pending promise callbacks run. */
const tick = () => new Promise((r) => setImmediate(r));

describe('work queue (client-go contract)', () => {
  test('adds of a waiting key coalesce; order is FIFO', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), 'ns/a');
    assert.equal(await q.get(), 'ns/b');
  });

  test('a key is never handed out twice at once; added while processing, it comes back after done', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('ns/a');
    const first = await q.get();
    assert.equal(first, 'ns/a');
    q.add('ns/a');
    q.add('ns/a');
    assert.equal(q.len(), 0, 'not queued while it is processed');
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await tick();
    assert.equal(second, undefined, 'a waiting worker does not get the key being processed');
    q.done('ns/a');
    await tick();
    assert.equal(second, 'ns/a', 'handed out again, once, after done');
    assert.equal(q.len(), 0);
  });

  test('done without a new add does not requeue', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('ns/a');
    q.done((await q.get()) as string);
    assert.equal(q.len(), 0);
  });

  test('addAfter waits for the clock; an earlier requeue wins over a later one', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock });
    q.addAfter('ns/a', 1000);
    q.addAfter('ns/a', 5000);
    clock.advance(999);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), 'ns/a');
    assert.equal(clock.pending(), 0, 'the later timer was dropped');
  });

  test('addRateLimited backs off per key (5 ms doubling) and forget resets it', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, rateLimiter: new ItemExponentialBackoff() });
    for (const wait of [5, 10, 20, 40]) {
      q.addRateLimited('ns/a');
      clock.advance(wait - 1);
      assert.equal(q.len(), 0, `not before ${wait} ms`);
      clock.advance(1);
      assert.equal(q.len(), 1, `after ${wait} ms`);
      q.done((await q.get()) as string);
    }
    assert.equal(q.retries('ns/a'), 4);
    q.forget('ns/a');
    assert.equal(q.retries('ns/a'), 0);
  });

  test('shutDown wakes waiting workers with undefined and drops delayed adds', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('ns/a', 100);
    q.shutDown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pending(), 0);
    q.add('ns/b');
    assert.equal(await q.get(), undefined);
  });

  test('metrics hooks see adds, depth, latency and retries', async () => {
    const clock = new ManualClock();
    const seen = { added: 0, retried: 0, depth: [] as number[], queued: [] as number[], worked: [] as number[] };
    const q = new WorkQueue({
      clock,
      rateLimiter: new ItemExponentialBackoff(),
      metrics: {
        added: () => seen.added++,
        retried: () => seen.retried++,
        depth: (n) => seen.depth.push(n),
        queued: (s) => seen.queued.push(s),
        worked: (s) => seen.worked.push(s),
      },
    });
    q.add('ns/a');
    clock.advance(250);
    const key = (await q.get()) as string;
    clock.advance(500);
    q.done(key);
    q.addRateLimited('ns/a');
    assert.equal(seen.added, 1);
    assert.equal(seen.retried, 1);
    assert.deepEqual(seen.queued, [0.25]);
    assert.deepEqual(seen.worked, [0.5]);
    assert.deepEqual(seen.depth, [1, 0]);
  });
});

describe('rate limiters', () => {
  test('per-item backoff is capped at 1000 s', () => {
    const b = new ItemExponentialBackoff();
    let last = 0;
    for (let i = 0; i < 40; i++) last = b.when('k');
    assert.equal(last, 1_000_000);
    assert.equal(b.when('other'), 5, 'keys back off independently');
  });

  test('the bucket allows a burst of 100, then 10 per second', () => {
    const clock = new ManualClock();
    const bucket = new BucketLimiter(clock, 10, 100);
    for (let i = 0; i < 100; i++) assert.equal(bucket.reserve(), 0);
    assert.equal(bucket.reserve(), 100);
    clock.advance(1000);
    assert.equal(bucket.reserve(), 0, 'refilled after a second');
  });

  test('the default limiter takes the larger of both', () => {
    const clock = new ManualClock();
    const limiter = new DefaultRateLimiter(clock);
    assert.equal(limiter.when('k'), 5);
    for (let i = 0; i < 99; i++) limiter.when(`k${i}`);
    assert.equal(limiter.when('fresh'), 100, 'the bucket is empty: it decides');
  });
});

describe('controller (result handling)', () => {
  function harness(reconcile: (key: string) => Promise<Result>) {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, rateLimiter: new ItemExponentialBackoff() });
    const outcomes: Outcome[] = [];
    const errors: boolean[] = [];
    const controller = new Controller({
      name: 'test',
      queue,
      reconcile,
      workers: 2,
      log: quiet,
      metrics: { reconciled: (o) => outcomes.push(o), errored: (t) => errors.push(t) },
    });
    controller.start();
    return { clock, queue, outcomes, errors, controller };
  }

  test('a thrown error is retried with backoff, then success forgets the backoff', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      if (calls < 3) throw new Error('boom');
      return {};
    });
    h.queue.add('ns/a');
    await tick();
    assert.equal(calls, 1);
    h.clock.advance(5);
    await tick();
    assert.equal(calls, 2);
    h.clock.advance(10);
    await tick();
    assert.equal(calls, 3);
    assert.deepEqual(h.outcomes, ['error', 'error', 'success']);
    assert.deepEqual(h.errors, [false, false]);
    assert.equal(h.queue.retries('ns/a'), 0);
    h.queue.shutDown();
    await h.controller.stopped();
  });

  test('a terminal error is not retried', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      throw new TerminalError('invalid');
    });
    h.queue.add('ns/a');
    await tick();
    h.clock.advance(60_000);
    await tick();
    assert.equal(calls, 1);
    assert.deepEqual(h.errors, [true]);
    h.queue.shutDown();
    await h.controller.stopped();
  });

  test('errors are counted as controller-runtime counts them: a terminal one in both error counters', async () => {
    const metrics = new OperatorMetrics(new Registry());
    const queue = new WorkQueue({ clock: new ManualClock(), rateLimiter: new ItemExponentialBackoff() });
    const failures: Record<string, Error> = { 'ns/terminal': new TerminalError('invalid'), 'ns/error': new Error('boom') };
    const controller = new Controller({
      name: 'test',
      queue,
      reconcile: async (key) => {
        const err = failures[key];
        if (err) throw err;
        return {};
      },
      workers: 1,
      log: quiet,
      metrics: metrics.controllerMetrics,
    });
    controller.start();
    for (const key of ['ns/terminal', 'ns/error', 'ns/ok']) queue.add(key);
    for (let i = 0; i < 5; i++) await tick();
    const count = async (name: string) =>
      (await metrics.registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.controller === CONTROLLER_NAME)?.value;
    assert.equal(await count('controller_runtime_reconcile_errors_total'), 2, 'the terminal error and the retried one');
    assert.equal(await count('controller_runtime_terminal_reconcile_errors_total'), 1);
    queue.shutDown();
    await controller.stopped();
  });

  test('a conflict is retried without counting an error', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      if (calls === 1) throw new ConflictError('stale');
      return {};
    });
    h.queue.add('ns/a');
    await tick();
    h.clock.advance(5);
    await tick();
    assert.equal(calls, 2);
    assert.deepEqual(h.outcomes, ['requeue', 'success']);
    assert.deepEqual(h.errors, []);
    h.queue.shutDown();
    await h.controller.stopped();
  });

  test('requeueAfter runs the key again after that delay', async () => {
    let calls = 0;
    const h = harness(async () => (++calls === 1 ? { requeueAfterMs: 15_000 } : {}));
    h.queue.add('ns/a');
    await tick();
    h.clock.advance(14_999);
    await tick();
    assert.equal(calls, 1);
    h.clock.advance(1);
    await tick();
    assert.equal(calls, 2);
    assert.deepEqual(h.outcomes, ['requeue_after', 'success']);
    h.queue.shutDown();
    await h.controller.stopped();
  });

  test('two workers never run one key at once; a change during a run runs it again after', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    let release: () => void = () => {};
    const h = harness(async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) await new Promise<void>((r) => (release = r));
      running--;
      return {};
    });
    h.queue.add('ns/a');
    await tick();
    h.queue.add('ns/a'); // changed while running
    await tick();
    assert.equal(calls, 1, 'the second worker waits');
    release();
    await tick();
    await tick();
    assert.equal(calls, 2, 'ran again after the first run');
    assert.equal(maxRunning, 1);
    h.queue.shutDown();
    await h.controller.stopped();
  });
});
