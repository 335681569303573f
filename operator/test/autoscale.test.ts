/**
 * The wanted egress replica count (reconcile/autoscale.ts): a fixed spec.webrtc.replicas, or the
 * autoscaler — up at once, down one at a time after the cool-down and never while a replica drains.
 * Time is a number passed in; the memory between passes is the previous status.webrtc.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseProcess, type WebRtcSpec, type WebRtcStatus } from '@corecast/api';
import { process, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { decideScale, desiredReplicas, type ScaleInput } from '../src/reconcile/autoscale.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString().replace(/\.\d{3}Z$/, 'Z');

const webrtc = (w: NonNullable<Parameters<typeof withWebrtc>[0]>): WebRtcSpec => parseProcess(process('demo', withWebrtc(w))).spec.webrtc;
const auto = webrtc({ autoscale: { minReplicas: 1, maxReplicas: 4, targetViewersPerReplica: 10, scaleDownCooldownSeconds: 60 } });

function input(over: Partial<ScaleInput> & { replicas?: number; since?: number }): ScaleInput {
  const previous: WebRtcStatus | undefined =
    over.replicas !== undefined
      ? { replicas: over.replicas, ...(over.since !== undefined ? { scaleDownSince: iso(over.since) } : {}) }
      : undefined;
  return { webrtc: auto, previous, viewers: undefined, draining: false, now: at(0), ...over };
}

describe('egress replicas: the wanted count', () => {
  test('desiredReplicas: ceil(viewers / target) within min and max', () => {
    const a = auto.autoscale!;
    assert.deepEqual(
      [0, 1, 10, 11, 25, 40, 41, 1000].map((v) => desiredReplicas(v, a)),
      [1, 1, 1, 2, 3, 4, 4, 4],
    );
    assert.equal(desiredReplicas(0, { ...a, minReplicas: 2 }), 2);
  });

  test('fixed: the spec count, a change of it reported with the spec as reason', () => {
    assert.deepEqual(decideScale(input({ webrtc: webrtc({}) })), { replicas: 1 });
    assert.deepEqual(decideScale(input({ webrtc: webrtc({ replicas: 3 }) })), { replicas: 3 }, 'a new Process: no change to report');
    assert.deepEqual(decideScale(input({ webrtc: webrtc({ replicas: 3 }), replicas: 1 })), {
      replicas: 3,
      change: { from: 1, to: 3, reason: 'spec.webrtc.replicas is 3' },
    });
    // Viewers and drains do not hold a fixed count.
    assert.equal(decideScale(input({ webrtc: webrtc({ replicas: 1 }), replicas: 3, viewers: 100, draining: true })).replicas, 1);
  });

  test('autoscale: a new Process starts at the minimum, and holds while no viewer count is known', () => {
    assert.deepEqual(decideScale(input({})), { replicas: 1 });
    assert.deepEqual(decideScale(input({ replicas: 3 })), { replicas: 3 });
  });

  test('autoscale: up at once to the count the viewers need', () => {
    assert.deepEqual(decideScale(input({ replicas: 1, viewers: 25 })), {
      replicas: 3,
      change: { from: 1, to: 3, reason: '25 viewers at 10 per replica need 3 replicas' },
    });
    assert.equal(decideScale(input({ replicas: 1, viewers: 500 })).replicas, 4, 'never past maxReplicas');
  });

  test('autoscale: down only once fewer replicas sufficed for the whole cool-down', () => {
    const first = decideScale(input({ replicas: 3, viewers: 5 }));
    assert.deepEqual(first, { replicas: 3, scaleDownSince: iso(0), requeueAfterMs: 60_000 }, 'the cool-down starts');
    const during = decideScale(input({ replicas: 3, viewers: 5, since: 0, now: at(59) }));
    assert.deepEqual(during, { replicas: 3, scaleDownSince: iso(0), requeueAfterMs: 1000 });
    const due = decideScale(input({ replicas: 3, viewers: 5, since: 0, now: at(60) }));
    assert.equal(due.replicas, 2, 'one replica at a time');
    assert.equal(due.scaleDownSince, iso(0), 'still more than wanted: the next step needs no new cool-down');
    assert.equal(
      due.change?.reason,
      '5 viewers at 10 per replica need 1 replica and have for 60 s (scaleDownCooldownSeconds); removing one at a time',
    );
  });

  test('autoscale: no second step while a replica drains', () => {
    assert.deepEqual(decideScale(input({ replicas: 2, viewers: 5, since: 0, now: at(90), draining: true })), {
      replicas: 2,
      scaleDownSince: iso(0),
    });
    const last = decideScale(input({ replicas: 2, viewers: 5, since: 0, now: at(90) }));
    assert.equal(last.replicas, 1);
    assert.equal(last.scaleDownSince, undefined, 'at the wanted count: the cool-down is over');
  });

  test('autoscale: a rise during the cool-down cancels it', () => {
    assert.deepEqual(decideScale(input({ replicas: 3, viewers: 30, since: 0, now: at(30) })), { replicas: 3 });
    assert.equal(decideScale(input({ replicas: 3, viewers: 31, since: 0, now: at(30) })).replicas, 4);
  });

  test('autoscale: changed bounds apply at once', () => {
    const tighter = webrtc({ autoscale: { minReplicas: 1, maxReplicas: 2, targetViewersPerReplica: 10 } });
    assert.deepEqual(decideScale(input({ webrtc: tighter, replicas: 4 })), {
      replicas: 2,
      change: { from: 4, to: 2, reason: "within autoscale's bounds 1–2" },
    });
  });
});
