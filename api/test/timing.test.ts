import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, TimeoutError, type TimerSource, withTimeout } from '../src/index.ts';

/** Timers that fire only when the test says so, and a count of those still pending. */
function manualTimers() {
  const pending = new Set<() => void>();
  const source: TimerSource = {
    after(_ms, fn) {
      pending.add(fn);
      return { cancel: () => pending.delete(fn) };
    },
  };
  const fire = () => {
    for (const fn of [...pending]) {
      pending.delete(fn);
      fn();
    }
  };
  return { source, fire, pending: () => pending.size };
}

const never = new Promise<never>(() => {});

describe('backoffDelay', () => {
  const cases: { name: string; attempts: number[]; opts: Parameters<typeof backoffDelay>[1]; want: number[] }[] = [
    {
      name: 'doubles from the base up to the cap',
      attempts: [0, 1, 2, 3, 4, 5],
      opts: { baseMs: 1000, capMs: 30_000 },
      want: [1000, 2000, 4000, 8000, 16_000, 30_000],
    },
    { name: 'grows by another factor', attempts: [0, 1, 2], opts: { baseMs: 10, capMs: 1000, factor: 3 }, want: [10, 30, 90] },
    { name: 'factor 1 is a constant delay', attempts: [0, 7], opts: { baseMs: 250, capMs: 250, factor: 1 }, want: [250, 250] },
    {
      name: 'a huge attempt gives the cap, not Infinity or NaN',
      attempts: [5000],
      opts: { baseMs: 5, capMs: 1_000_000 },
      want: [1_000_000],
    },
    { name: 'base 0 stays 0', attempts: [0, 10], opts: { baseMs: 0, capMs: 100 }, want: [0, 0] },
    {
      name: 'jitter takes up to its fraction off',
      attempts: [0, 3],
      opts: { baseMs: 500, capMs: 15_000, jitter: 0.5, random: () => 0.5 },
      want: [375, 3000],
    },
    {
      name: 'jitter with random 0 leaves the delay whole',
      attempts: [2],
      opts: { baseMs: 500, capMs: 15_000, jitter: 1, random: () => 0 },
      want: [2000],
    },
    {
      name: 'jitter applies below the cap',
      attempts: [20],
      opts: { baseMs: 500, capMs: 15_000, jitter: 0.2, random: () => 0.999 },
      want: [15_000 * (1 - 0.2 * 0.999)],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(
        c.attempts.map((a) => backoffDelay(a, c.opts)),
        c.want,
      );
    });
  }

  const bad: { name: string; attempt: number; opts: Parameters<typeof backoffDelay>[1]; message: string }[] = [
    { name: 'negative attempt', attempt: -1, opts: { baseMs: 1, capMs: 2 }, message: 'backoff attempt must be a whole number ≥ 0, got -1' },
    {
      name: 'fractional attempt',
      attempt: 1.5,
      opts: { baseMs: 1, capMs: 2 },
      message: 'backoff attempt must be a whole number ≥ 0, got 1.5',
    },
    { name: 'negative base', attempt: 0, opts: { baseMs: -1, capMs: 2 }, message: 'backoff baseMs must be a finite number ≥ 0, got -1' },
    { name: 'cap below base', attempt: 0, opts: { baseMs: 10, capMs: 5 }, message: 'backoff capMs must be ≥ baseMs (10), got 5' },
    {
      name: 'shrinking factor',
      attempt: 0,
      opts: { baseMs: 1, capMs: 2, factor: 0.5 },
      message: 'backoff factor must be a finite number ≥ 1, got 0.5',
    },
    {
      name: 'jitter above 1',
      attempt: 0,
      opts: { baseMs: 1, capMs: 2, jitter: 1.5 },
      message: 'backoff jitter must be between 0 and 1, got 1.5',
    },
  ];
  for (const c of bad) {
    it(`refuses a ${c.name}`, () => {
      assert.throws(() => backoffDelay(c.attempt, c.opts), { name: 'RangeError', message: c.message });
    });
  }
});

describe('withTimeout', () => {
  it('answers like the work when it settles first, and clears its timer', async () => {
    const t = manualTimers();
    const answer = withTimeout(Promise.resolve(42), 1000, undefined, { timer: t.source });
    assert.equal(t.pending(), 1);
    assert.equal(await answer, 42);
    assert.equal(t.pending(), 0);
  });

  it('passes the work’s own error on', async () => {
    const t = manualTimers();
    await assert.rejects(
      withTimeout(Promise.reject(new Error('refused')), 1000, () => 'late', { timer: t.source }),
      { message: 'refused' },
    );
    assert.equal(t.pending(), 0);
  });

  it('rejects with a TimeoutError when the time runs out and there is no onTimeout', async () => {
    const t = manualTimers();
    const answer = withTimeout(never, 1500, undefined, { timer: t.source });
    t.fire();
    await assert.rejects(
      answer,
      (err: unknown) => err instanceof TimeoutError && err.name === 'TimeoutError' && err.message === 'no answer within 1500 ms',
    );
  });

  it('answers with onTimeout’s value when the time runs out, and ignores the late answer', async () => {
    const t = manualTimers();
    let settle!: (v: string) => void;
    const work = new Promise<string>((r) => (settle = r));
    const answer = withTimeout(work, 10, () => undefined, { timer: t.source });
    t.fire();
    settle('too late');
    assert.equal(await answer, undefined);
  });

  it('rejects with what onTimeout throws', async () => {
    const t = manualTimers();
    const answer = withTimeout(
      never,
      10,
      () => {
        throw new Error('gave up');
      },
      { timer: t.source },
    );
    t.fire();
    await assert.rejects(answer, { message: 'gave up' });
  });

  it('a late rejection of the work is not left unhandled', async () => {
    const t = manualTimers();
    let fail!: (e: Error) => void;
    const work = new Promise<never>((_, r) => (fail = r));
    const answer = withTimeout(work, 10, () => 'timed out', { timer: t.source });
    t.fire();
    fail(new Error('late failure'));
    assert.equal(await answer, 'timed out');
    // An unhandled rejection would fail the test run.
    await new Promise((r) => setImmediate(r));
  });

  it('an abort ends the wait like the timeout, and clears the timer', async () => {
    const t = manualTimers();
    const stop = new AbortController();
    const answer = withTimeout(never, 60_000, () => 'stopped', { timer: t.source, signal: stop.signal });
    stop.abort();
    assert.equal(await answer, 'stopped');
    assert.equal(t.pending(), 0);
  });

  it('an already aborted signal ends it at once without setting a timer', async () => {
    const t = manualTimers();
    const answer = withTimeout(never, 60_000, undefined, { timer: t.source, signal: AbortSignal.abort() });
    assert.equal(t.pending(), 0);
    await assert.rejects(answer, TimeoutError);
  });

  it('the default timer never keeps the process alive', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const answer = withTimeout(never, 60_000, () => 'late');
    assert.equal(timers(), before, 'an unref’d timer is not an active resource');
    assert.equal(await withTimeout(Promise.resolve('now'), 60_000), 'now');
    void answer;
  });

  it('the default timer fires', async () => {
    assert.equal(await withTimeout(never, 1, () => 'fired'), 'fired');
  });

  it('refuses a negative timeout', () => {
    assert.throws(() => withTimeout(never, -5), { name: 'RangeError', message: 'timeout must be a number of milliseconds ≥ 0, got -5' });
  });
});
