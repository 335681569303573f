import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DelaySample } from '../src/workers/delay-sample.ts';

describe('fan-out delay sample', () => {
  it('gives the exact percentile while it holds every delay, and 0 when there is none', () => {
    const s = new DelaySample(1000);
    assert.deepEqual(s.figures(99), { percentile: 0, max: 0 });
    for (let i = 1; i <= 100; i++) s.add(101 - i);
    assert.deepEqual(s.figures(99), { percentile: 100, max: 100 });
    assert.equal(s.figures(50).percentile, 51);
  });

  it('keeps a uniform sample of many more delays than it holds, and the exact largest', () => {
    const s = new DelaySample(4096);
    // 200,000 delays: 0–999 ms evenly, and one of 5 s.
    for (let i = 0; i < 200_000; i++) s.add(i % 1000);
    s.add(5000);
    assert.equal(s.count, 200_001);
    const { percentile, max } = s.figures(99);
    assert.equal(max, 5000, 'the largest is never sampled away');
    assert.ok(Math.abs(percentile - 990) <= 15, `p99 ${percentile} near 990`);
    assert.ok(Math.abs(s.figures(50).percentile - 500) <= 40, 'the median near 500');
  });

  it('starts a new window at reset', () => {
    const s = new DelaySample(16);
    for (let i = 0; i < 100; i++) s.add(1000);
    s.reset();
    s.add(3);
    assert.deepEqual(s.figures(99), { percentile: 3, max: 3 });
    assert.equal(s.count, 1);
  });
});
