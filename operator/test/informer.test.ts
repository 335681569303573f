/**
 * The informer's recovery logic. The API server cannot be made to fail a watch on demand, so
 * these tests drive a stand-in for client-node's Watch (same call shape: path, query, event
 * callback, done callback) and a list function; the happy path runs against the real API
 * server in every integration test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Watch } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer, type ListResult } from '../src/kube/informer.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const tick = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const obj = (name: string, rv: string): KubeObject => ({ metadata: { namespace: 'ns', name, resourceVersion: rv } });

/** One watch call the informer made. */
interface WatchCall {
  query: Record<string, unknown>;
  event(type: string, o: object): void;
  end(err?: unknown): void;
}

function harness(lists: (ListResult<KubeObject> | Error)[]) {
  const clock = new ManualClock();
  const calls: WatchCall[] = [];
  let listCalls = 0;
  const watch = {
    async watch(_path: string, query: Record<string, unknown>, cb: (t: string, o: object) => void, done: (e: unknown) => void) {
      calls.push({ query, event: cb, end: (err) => done(err ?? null) });
      return new AbortController();
    },
  } as unknown as Watch;
  const seen: string[] = [];
  const errors: unknown[] = [];
  const inf = new Informer<KubeObject>(
    {
      name: 'things',
      watchPath: '/api/v1/things',
      list: async () => {
        const next = lists[Math.min(listCalls++, lists.length - 1)];
        if (next instanceof Error) throw next;
        return structuredClone(next as ListResult<KubeObject>);
      },
    },
    watch,
    { clock, log: pino({ level: 'silent' }), relistMs: 60_000, onError: (e) => errors.push(e) },
  );
  inf.on({
    add: (o) => seen.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    update: (_, o) => seen.push(`update ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    delete: (o) => seen.push(`delete ${o.metadata?.name}`),
  });
  return { clock, calls, seen, errors, inf, lists: () => listCalls };
}

describe('informer', () => {
  test('lists, then watches from the list resourceVersion with bookmarks', async () => {
    const h = harness([{ items: [obj('a', '1')], resourceVersion: '10' }]);
    h.inf.start();
    await tick();
    assert.equal(h.inf.hasSynced(), true);
    assert.deepEqual(h.seen, ['add a@1']);
    assert.equal(h.calls[0]?.query.resourceVersion, '10');
    assert.equal(h.calls[0]?.query.allowWatchBookmarks, true);
    h.calls[0]?.event('MODIFIED', obj('a', '11'));
    h.calls[0]?.event('ADDED', obj('b', '12'));
    h.calls[0]?.event('DELETED', obj('a', '13'));
    h.calls[0]?.event('BOOKMARK', { metadata: { resourceVersion: '14' } });
    assert.deepEqual(h.seen, ['add a@1', 'update a@11', 'add b@12', 'delete a']);
    assert.equal(h.inf.get('ns/b')?.metadata?.resourceVersion, '12');
    // A clean end of the watch: reconnect from the last resourceVersion, no new list.
    h.calls[0]?.end();
    await tick();
    assert.equal(h.calls[1]?.query.resourceVersion, '14');
    assert.equal(h.lists(), 1);
    void h.inf.stop();
  });

  test('a failed list is retried with backoff (1 s, then 2 s)', async () => {
    const h = harness([new Error('connection refused'), new Error('again'), { items: [obj('a', '1')], resourceVersion: '5' }]);
    h.inf.start();
    await tick();
    assert.equal(h.lists(), 1);
    assert.equal(h.errors.length, 1);
    h.clock.advance(999);
    await tick();
    assert.equal(h.lists(), 1);
    h.clock.advance(1);
    await tick();
    assert.equal(h.lists(), 2);
    h.clock.advance(1999);
    await tick();
    assert.equal(h.lists(), 2, 'the backoff doubled');
    h.clock.advance(1);
    await tick();
    assert.equal(h.lists(), 3);
    assert.equal(h.inf.hasSynced(), true);
    assert.equal(h.inf.lastError, undefined);
    void h.inf.stop();
  });

  test("a watch error (which stops client-node's own informer) restarts it with a fresh list, reporting the difference", async () => {
    const h = harness([
      { items: [obj('a', '1'), obj('b', '1')], resourceVersion: '10' },
      { items: [obj('a', '2'), obj('c', '1')], resourceVersion: '20' },
    ]);
    h.inf.start();
    await tick();
    h.calls[0]?.end(Object.assign(new Error('Internal Server Error'), { statusCode: 500 }));
    await tick();
    assert.equal(h.errors.length, 1);
    h.clock.advance(1000);
    await tick();
    assert.equal(h.lists(), 2);
    assert.deepEqual(h.seen.slice(2), ['update a@2', 'add c@1', 'delete b']);
    assert.equal(h.calls[1]?.query.resourceVersion, '20');
    void h.inf.stop();
  });

  test('410 Gone lists again at once', async () => {
    const h = harness([
      { items: [], resourceVersion: '10' },
      { items: [obj('x', '30')], resourceVersion: '30' },
    ]);
    h.inf.start();
    await tick();
    h.calls[0]?.event('ERROR', { code: 410, message: 'too old resource version' });
    h.calls[0]?.end();
    await tick();
    assert.equal(h.lists(), 2, 'no backoff for 410');
    assert.deepEqual(h.seen, ['add x@30']);
    assert.equal(h.errors.length, 0);
    void h.inf.stop();
  });

  test('a stalled watch (silent too long) reconnects without a list', async () => {
    const h = harness([{ items: [], resourceVersion: '10' }]);
    h.inf.start();
    await tick();
    h.calls[0]?.event('BOOKMARK', { metadata: { resourceVersion: '15' } });
    h.calls[0]?.end(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    await tick();
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]?.query.resourceVersion, '15');
    assert.equal(h.lists(), 1);
    assert.equal(h.errors.length, 0);
    void h.inf.stop();
  });

  test('it re-lists periodically', async () => {
    const h = harness([
      { items: [obj('a', '1')], resourceVersion: '10' },
      { items: [], resourceVersion: '50' },
    ]);
    h.inf.start();
    await tick();
    h.clock.advance(60_000);
    h.calls[0]?.end(); // the server ends the watch at its timeoutSeconds (the re-list time)
    await tick();
    assert.equal(h.lists(), 2);
    assert.deepEqual(h.seen, ['add a@1', 'delete a'], 'an object deleted while unseen is reported');
    void h.inf.stop();
  });
});
