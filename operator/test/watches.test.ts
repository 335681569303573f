/**
 * The controller's declared watches (watches.ts): which changes reconcile which Processes, and
 * the index the route-conflict watch reads. Informers and the queue are exercised against the
 * real API server in the integration tests; here the declarations are checked as tables.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyIndex } from '../src/kube/key-index.ts';
import type { ProcessObject } from '../src/kube/sources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { type Change, PROCESS_CONTROLLER, PROCESS_NAME_INDEX, type WatchSpec } from '../src/watches.ts';

const proc = (ns: string, name: string, meta: Record<string, unknown> = {}, webrtc = false): ProcessObject => ({
  metadata: { namespace: ns, name, generation: 1, ...meta },
  spec: { webrtc: { enabled: webrtc } },
});

/** The Process keys a watch enqueues for a change, with an index over `cached`. */
function enqueued<T>(watch: WatchSpec<T>, c: Change<T>, cached: ProcessObject[] = []): readonly string[] {
  const index = new KeyIndex();
  for (const p of cached) index.set(`${p.metadata?.namespace}/${p.metadata?.name}`, PROCESS_NAME_INDEX.value(p));
  if (watch.when && !watch.when(c)) return [];
  return watch.map(c, (name, value) => (name === PROCESS_NAME_INDEX.name ? index.keys(value) : []));
}

describe('the controller setup reads like SetupWithManager', () => {
  test('For Process, Owns pods, services, ingresses, network policies (and HTTPRoutes where served), one more watch, one index', () => {
    const s = PROCESS_CONTROLLER;
    assert.deepEqual(
      {
        name: s.name,
        for: s.for.kind,
        owns: s.owns.kinds,
        ifServed: s.owns.ifServed,
        watches: s.watches.map((w) => w.kind),
        indexes: s.indexes.processes.map((i) => i.name),
      },
      {
        name: 'process',
        for: 'processes',
        owns: ['pods', 'services', 'ingresses', 'networkpolicies'],
        ifServed: 'httproutes',
        watches: ['processes'],
        indexes: ['process-name'],
      },
    );
  });
});

describe('For(Process): which of its own changes reconcile it', () => {
  const w = PROCESS_CONTROLLER.for.watch;
  const base = proc('a', 'demo', { annotations: { x: '1' }, labels: { l: '1' } });
  const cases: [string, Change<ProcessObject>, string[]][] = [
    ['a new Process', { type: 'add', obj: base }, ['a/demo']],
    ['a status-only update (the operator’s own write)', { type: 'update', old: base, obj: { ...base, status: { exec: 'running' } } }, []],
    [
      'a spec change (generation)',
      { type: 'update', old: base, obj: proc('a', 'demo', { generation: 2, annotations: { x: '1' }, labels: { l: '1' } }) },
      ['a/demo'],
    ],
    [
      'an annotation (restart, reload)',
      { type: 'update', old: base, obj: proc('a', 'demo', { annotations: { x: '2' }, labels: { l: '1' } }) },
      ['a/demo'],
    ],
    ['a label', { type: 'update', old: base, obj: proc('a', 'demo', { annotations: { x: '1' }, labels: {} }) }, ['a/demo']],
    [
      'deletion starts',
      { type: 'update', old: base, obj: proc('a', 'demo', { deletionTimestamp: 't', annotations: { x: '1' }, labels: { l: '1' } }) },
      ['a/demo'],
    ],
    ['gone', { type: 'delete', obj: base }, ['a/demo']],
  ];
  for (const [name, c, want] of cases) test(name, () => assert.deepEqual(enqueued(w, c), want));
});

describe('Watches(Process → same-name Processes): who may win or lose the path', () => {
  const [first] = PROCESS_CONTROLLER.watches;
  assert.ok(first);
  const w = first.watch;
  const cached = [proc('a', 'demo'), proc('b', 'demo'), proc('c', 'other')];
  const cases: [string, Change<ProcessObject>, string[]][] = [
    ['a new one: the others of its name', { type: 'add', obj: proc('a', 'demo') }, ['b/demo']],
    ['WebRTC turned on', { type: 'update', old: proc('a', 'demo'), obj: proc('a', 'demo', {}, true) }, ['b/demo']],
    [
      'a spec change that leaves WebRTC alone: nobody else',
      { type: 'update', old: proc('a', 'demo'), obj: proc('a', 'demo', { generation: 2 }) },
      [],
    ],
    ['deletion starts', { type: 'update', old: proc('a', 'demo'), obj: proc('a', 'demo', { deletionTimestamp: 't' }) }, ['b/demo']],
    ['gone', { type: 'delete', obj: proc('a', 'demo') }, ['b/demo']],
  ];
  for (const [name, c, want] of cases) test(name, () => assert.deepEqual(enqueued(w, c, cached), want));
});

describe('Owns(children): a change reconciles the Process its label names', () => {
  const w = PROCESS_CONTROLLER.owns.watch;
  const child = (labels?: Record<string, string>): KubeObject => ({
    metadata: { namespace: 'a', name: 'demo-egress', ...(labels ? { labels } : {}) },
  });
  const cases: [string, Change<KubeObject>, string[]][] = [
    [
      'labelled',
      { type: 'update', old: child({ 'corecast.dev/process': 'demo' }), obj: child({ 'corecast.dev/process': 'demo' }) },
      ['a/demo'],
    ],
    ['deleted', { type: 'delete', obj: child({ 'corecast.dev/process': 'demo' }) }, ['a/demo']],
    ['without the process label: nobody', { type: 'add', obj: child() }, []],
  ];
  for (const [name, c, want] of cases) test(name, () => assert.deepEqual(enqueued(w, c), want));
});

describe('KeyIndex', () => {
  test('files, moves and removes keys', () => {
    const i = new KeyIndex();
    i.set('a/x', 'x');
    i.set('b/x', 'x');
    i.set('b/x', 'x');
    assert.deepEqual(i.keys('x'), ['a/x', 'b/x']);
    i.set('a/x', 'y');
    assert.deepEqual([i.keys('x'), i.keys('y')], [['b/x'], ['a/x']]);
    i.delete('b/x');
    i.delete('never-filed');
    assert.deepEqual(i.keys('x'), []);
  });
});
