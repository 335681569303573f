import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { derivativeDiff, isDerivative, objectDiff } from '../src/children/derivative.ts';
import { exitOf, lastErrorLine } from '../src/reconcile/pod-state.ts';
import { type RouteCandidate, routeHolder } from '../src/reconcile/route-holder.ts';
import { exited } from './helpers/fixtures.ts';

describe('derivative comparison', () => {
  const cases: [string, unknown, unknown, string | undefined][] = [
    ['server defaults are ignored', { a: 1 }, { a: 1, b: 2 }, undefined],
    ['a changed scalar is found', { spec: { a: 1 } }, { spec: { a: 2 } }, 'spec.a'],
    ['a missing field is found', { spec: { a: 1 } }, { spec: {} }, 'spec.a'],
    [
      'keyed list items match by name, in any order, extras ignored',
      { c: [{ name: 'x', v: 1 }] },
      { c: [{ name: 'y' }, { name: 'x', v: 1, d: 0 }] },
      undefined,
    ],
    ['a keyed item that is gone is found', { c: [{ name: 'x' }] }, { c: [{ name: 'y' }] }, 'c[name=x]'],
    ['owner references match by uid', { o: [{ uid: 'u1', name: 'p' }] }, { o: [{ uid: 'u2', name: 'p' }] }, 'o[uid=u1]'],
    ['plain lists must match item by item', { args: ['a', 'b'] }, { args: ['a', 'b', 'c'] }, 'args.length'],
    ['an empty desired object is met by an absent field', { emptyDir: {} }, {}, undefined],
    ['an empty desired list is met by an absent field', { args: [] }, {}, undefined],
    ['a desired value against no object', { spec: { a: 1 } }, undefined, '.'],
    [
      'repeated keys identify nothing: such a list matches item by item (parentRefs, one Gateway per listener)',
      {
        p: [
          { name: 'gw', sectionName: 'http' },
          { name: 'gw', sectionName: 'https' },
        ],
      },
      {
        p: [
          { name: 'gw', sectionName: 'http', kind: 'Gateway' },
          { name: 'gw', sectionName: 'https', kind: 'Gateway' },
        ],
      },
      undefined,
    ],
    [
      '… and a changed item among them is found by its position',
      {
        p: [
          { name: 'gw', sectionName: 'http' },
          { name: 'gw', sectionName: 'https' },
        ],
      },
      {
        p: [
          { name: 'gw', sectionName: 'http' },
          { name: 'gw', sectionName: 'web' },
        ],
      },
      'p[1].sectionName',
    ],
  ];
  for (const [name, desired, live, path] of cases) {
    test(name, () => {
      assert.equal(derivativeDiff(desired, live), path);
      assert.equal(isDerivative(desired, live), path === undefined);
    });
  }
  test('apiVersion and kind are not compared (list items lack them)', () => {
    assert.equal(objectDiff({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' } } as never, { metadata: { name: 'a' } }), undefined);
  });
});

describe('reading an exit', () => {
  const lines: [string, string, string | undefined][] = [
    ['the last line', 'Input #0\nrtmp://src: Connection refused\n', 'rtmp://src: Connection refused'],
    ['statistics lines are skipped', 'Error opening output\nframe=  25 fps= 25 q=-1.0 size=N/A\r', 'Error opening output'],
    ['progress lines are skipped', 'Conversion failed!\nprogress=end\nspeed=1x\n', 'Conversion failed!'],
    ['nothing', '\n\n', undefined],
  ];
  for (const [name, message, line] of lines) test(`last error line: ${name}`, () => assert.equal(lastErrorLine(message), line));

  test('exit code 0 is finished, 1 failed, OOMKilled and 137 killed', () => {
    const pod = (status: ReturnType<typeof exited>) => ({ status }) as never;
    assert.equal(exitOf(pod(exited(0)))?.exec, 'finished');
    assert.equal(exitOf(pod(exited(1, 'x')))?.exec, 'failed');
    assert.equal(exitOf(pod(exited(137, '', { reason: 'OOMKilled' })))?.exec, 'killed');
    assert.equal(
      exitOf(pod(exited(137, '', { reason: 'OOMKilled' })))?.lastError,
      'OOMKilled: FFmpeg used more memory than limits.memoryMbytes allows',
    );
    assert.equal(exitOf(pod(exited(137)))?.exec, 'killed');
    assert.equal(exitOf(pod(exited(2)))?.lastError, 'Error (exit code 2)', 'no message: the reason says it');
    assert.equal(exitOf(pod({ phase: 'Running' } as never)), undefined);
  });
});

describe('route holder', () => {
  const c = (namespace: string, created: string, over: Partial<RouteCandidate> = {}): RouteCandidate => ({
    namespace,
    name: 'demo',
    creationTimestamp: created,
    webrtc: true,
    deleting: false,
    ...over,
  });
  const a = c('a', '2026-01-01T00:00:00Z');
  const b = c('b', '2026-01-02T00:00:00Z');
  test('the older keeps the path', () => {
    assert.equal(routeHolder(a, [a, b]), undefined);
    assert.deepEqual(routeHolder(b, [a, b]), { namespace: 'a', name: 'demo' });
  });
  test('same age: the namespace name decides', () => {
    const z = c('z', '2026-01-01T00:00:00Z');
    assert.deepEqual(routeHolder(z, [a, z]), { namespace: 'a', name: 'demo' });
    assert.equal(routeHolder(a, [a, z]), undefined);
  });
  test('a holder without WebRTC, or being deleted, does not count', () => {
    assert.equal(routeHolder(b, [c('a', a.creationTimestamp, { webrtc: false }), b]), undefined);
    assert.equal(routeHolder(b, [c('a', a.creationTimestamp, { deleting: true }), b]), undefined);
  });
});
