/** Which managers hold a field against the Core API (ownership.ts), as a table of named cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conflictPath, defaultAt, protectingOwners } from '../src/core-api/ownership.ts';
import type { ManagedFieldsEntry, ProcessObject } from '../src/core-api/view.ts';

const SELF = 'corecast-core-api';

function proc(spec: Record<string, unknown>, ...entries: ManagedFieldsEntry[]): ProcessObject {
  return { metadata: { name: 'p', managedFields: entries }, spec };
}

const owns = (
  manager: string,
  operation: 'Apply' | 'Update',
  fields: Record<string, unknown>,
  subresource?: string,
): ManagedFieldsEntry => ({
  manager,
  operation,
  fieldsV1: fields,
  ...(subresource ? { subresource } : {}),
});
const order = { 'f:spec': { 'f:order': {} } };
const delay = { 'f:spec': { 'f:reconnectDelaySeconds': {} } };

describe('protectingOwners', () => {
  const cases: [string, ProcessObject, string[], string[]][] = [
    [
      'a server-side applier holds its field even at the default',
      proc({ order: 'start' }, owns('flux', 'Apply', order)),
      ['spec', 'order'],
      ['flux'],
    ],
    [
      'an imperative writer does not hold a field left at the default',
      proc({ order: 'start' }, owns('kubectl-create', 'Update', order)),
      ['spec', 'order'],
      [],
    ],
    [
      'an imperative writer holds a field it set to another value',
      proc({ order: 'stop' }, owns('kubectl-edit', 'Update', order)),
      ['spec', 'order'],
      ['kubectl-edit'],
    ],
    [
      'a number at its default (15 s) is free of imperative writers',
      proc({ reconnectDelaySeconds: 15 }, owns('kubectl', 'Update', delay)),
      ['spec', 'reconnectDelaySeconds'],
      [],
    ],
    [
      'the API itself never holds a field against itself',
      proc({ order: 'stop' }, owns(SELF, 'Update', order), owns(SELF, 'Apply', order)),
      ['spec', 'order'],
      [],
    ],
    [
      'the status subresource manager holds nothing',
      proc({ order: 'stop' }, owns('corecast-operator', 'Apply', order, 'status')),
      ['spec', 'order'],
      [],
    ],
    ['a manager of other fields holds nothing here', proc({ order: 'stop' }, owns('flux', 'Apply', delay)), ['spec', 'order'], []],
    [
      'a field without a default (reference) is held by an imperative writer',
      proc({ reference: 'x' }, owns('kubectl-create', 'Update', { 'f:spec': { 'f:reference': {} } })),
      ['spec', 'reference'],
      ['kubectl-create'],
    ],
  ];
  for (const [name, p, path, expected] of cases) {
    test(name, () => assert.deepEqual(protectingOwners(p, path, SELF), expected));
  }
});

test('defaults and conflict paths', () => {
  assert.equal(defaultAt(['spec', 'reconnectDelaySeconds']), 15);
  assert.equal(defaultAt(['spec', 'webrtc', 'maxViewers']), 8);
  assert.equal(defaultAt(['spec', 'input']), undefined);
  assert.deepEqual(conflictPath('.spec.limits.cpuUsage'), ['spec', 'limits', 'cpuUsage']);
});
