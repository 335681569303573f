/**
 * lastTransitionTime follows the Kubernetes API conventions (metav1.Condition): the last time the
 * condition went from one status to another. A new reason or message alone is no transition.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Condition } from '@corecast/api';
import { condition, rfc3339 } from '../src/reconcile/status.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const T1 = T0 + 60_000;

const was = (status: 'True' | 'False', reason: string, message: string): Condition[] => [
  { type: 'Ready', status, reason, message, observedGeneration: 1, lastTransitionTime: rfc3339(T0) },
];

describe('condition lastTransitionTime', () => {
  const cases: [string, Condition[], { status: 'True' | 'False'; reason: string; message: string }, number][] = [
    ['a first condition takes the time of now', [], { status: 'False', reason: 'Starting', message: 'm' }, T1],
    [
      'the same status, reason and message keep the old time',
      was('False', 'Starting', 'm'),
      { status: 'False', reason: 'Starting', message: 'm' },
      T0,
    ],
    [
      'a new reason with the same status keeps the old time (moved on every reason before)',
      was('False', 'Starting', 'waiting'),
      { status: 'False', reason: 'EgressNotReady', message: 'still waiting' },
      T0,
    ],
    [
      'a new message with the same status keeps the old time',
      was('True', 'Running', 'a'),
      { status: 'True', reason: 'Running', message: 'b' },
      T0,
    ],
    ['a new status takes the time of now', was('False', 'Starting', 'm'), { status: 'True', reason: 'Running', message: 'm' }, T1],
  ];
  for (const [name, old, spec, expected] of cases) {
    test(name, () => {
      const c = condition('Ready', spec, old, 2, T1);
      assert.equal(c.lastTransitionTime, rfc3339(expected));
      assert.equal(c.reason, spec.reason);
      assert.equal(c.message, spec.message);
      assert.equal(c.observedGeneration, 2);
    });
  }
});
