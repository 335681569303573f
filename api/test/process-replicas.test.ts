/**
 * spec.webrtc.replicas, autoscale and drainSeconds in the zod schema: what is accepted, what is
 * defaulted, and the exact message of each refusal (operator/test/scale-out.int.test.ts pins
 * the API server's messages for the same objects).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcess, ValidationError } from '../src/index.ts';
import { scaleOutInvalid } from './fixtures/scale-out.ts';
import { process, withWebrtc } from './fixtures/processes.ts';

describe('Process schema: egress replicas', () => {
  it('leaves replicas, autoscale and drainSeconds absent by default', () => {
    const w = parseProcess(process('demo', withWebrtc())).spec.webrtc;
    assert.equal(w.replicas, undefined);
    assert.equal(w.autoscale, undefined);
    assert.equal(w.drainSeconds, undefined);
  });

  it('takes a fixed count and a drain time', () => {
    const w = parseProcess(process('demo', withWebrtc({ replicas: 3, drainSeconds: 10 }))).spec.webrtc;
    assert.equal(w.replicas, 3);
    assert.equal(w.drainSeconds, 10);
  });

  it('defaults the autoscaler minimum and cool-down', () => {
    const w = parseProcess(process('demo', withWebrtc({ autoscale: { maxReplicas: 4, targetViewersPerReplica: 50 } }))).spec.webrtc;
    assert.deepEqual(w.autoscale, { minReplicas: 1, maxReplicas: 4, targetViewersPerReplica: 50, scaleDownCooldownSeconds: 120 });
  });

  for (const fixture of scaleOutInvalid) {
    it(`refuses ${fixture.name}`, () => {
      assert.throws(
        () => parseProcess(fixture.process),
        (error: unknown) => error instanceof ValidationError && error.message === fixture.message,
      );
    });
  }
});
