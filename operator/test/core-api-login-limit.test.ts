/** Failed logins per client address: 429 past the limit until the minute ends; addresses apart. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLoginLimit } from '../src/core-api/login-limit.ts';
import { ManualClock } from './helpers/manual-clock.ts';

test('past the limit an address waits for the rest of its minute; another address does not', () => {
  const clock = new ManualClock();
  const limit = createLoginLimit(3, clock);
  for (let i = 0; i < 3; i++) {
    assert.equal(limit.retryAfter('10.0.0.1'), 0, `attempt ${i + 1} is allowed`);
    limit.failed('10.0.0.1');
    clock.advance(10_000);
  }
  assert.equal(limit.retryAfter('10.0.0.1'), 30, 'the window opened 30 s ago: 30 s to wait');
  assert.equal(limit.retryAfter('10.0.0.2'), 0);
  clock.advance(30_000);
  assert.equal(limit.retryAfter('10.0.0.1'), 0, 'a new minute, a new count');
  limit.failed('10.0.0.1');
  assert.equal(limit.retryAfter('10.0.0.1'), 0);
});
