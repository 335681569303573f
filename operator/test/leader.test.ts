/**
 * Leader election's renew deadline when a request hangs. The API server cannot be made to leave
 * a request unanswered, so these tests give the elector a Lease API whose read or replace never
 * resolves; the election itself runs against the real API server in leader.int.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Kube } from '../src/kube/client.ts';
import { LeaderElector } from '../src/runtime/leader.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const tick = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const RETRY_MS = 2_000;
const RENEW_DEADLINE_MS = 10_000;

/** A Lease API over one stored Lease; `hang` makes that call never answer. */
function leaseApi() {
  let stored: V1Lease = {
    metadata: { name: 'lease', namespace: 'ns', resourceVersion: '1' },
    spec: { holderIdentity: '' },
  };
  const state = { hang: undefined as 'read' | 'replace' | undefined, reads: 0, replaces: 0 };
  const never = new Promise<never>(() => {});
  const coordination = {
    readNamespacedLease: async () => {
      state.reads++;
      if (state.hang === 'read') return never;
      return structuredClone(stored);
    },
    replaceNamespacedLease: async ({ body }: { body: V1Lease }) => {
      state.replaces++;
      if (state.hang === 'replace') return never;
      if (body.metadata?.resourceVersion !== stored.metadata?.resourceVersion)
        throw Object.assign(new Error('conflict'), { statusCode: 409 });
      const rv = String(Number(stored.metadata?.resourceVersion) + 1);
      stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: rv } };
      return structuredClone(stored);
    },
    createNamespacedLease: async () => assert.fail('the Lease exists'),
  };
  return { kube: { coordination } as unknown as Kube, state, holder: () => stored.spec?.holderIdentity };
}

/** An elector on a manual clock that has just become the leader. */
async function leader() {
  const clock = new ManualClock();
  const api = leaseApi();
  const events: string[] = [];
  const elector = new LeaderElector(
    api.kube,
    {
      namespace: 'ns',
      name: 'lease',
      identity: 'me',
      leaseDurationMs: 15_000,
      renewDeadlineMs: RENEW_DEADLINE_MS,
      retryPeriodMs: RETRY_MS,
    },
    { onStartedLeading: () => events.push('started'), onStoppedLeading: (reason) => events.push(`stopped: ${reason}`) },
    pino({ level: 'silent' }),
    clock,
  );
  elector.start();
  await tick();
  assert.deepEqual(events, ['started']);
  assert.equal(api.holder(), 'me');
  /** Moves the clock and lets the elector's promises settle. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await tick();
  };
  return { elector, api, events, advance };
}

describe('leader election: renewals that hang', () => {
  test('renewals that answer keep the leadership', async () => {
    const { elector, api, events, advance } = await leader();
    for (let i = 0; i < 10; i++) await advance(RETRY_MS);
    assert.equal(api.state.replaces, 11, 'the acquisition and one renewal per retry period');
    assert.deepEqual(events, ['started']);
    assert.equal(elector.isLeader, true);
    await elector.stop();
    assert.deepEqual(events, ['started', 'stopped: released']);
    assert.equal(api.holder(), '', 'released on stop');
  });

  for (const hang of ['read', 'replace'] as const) {
    test(`a renewal whose ${hang} never answers is a failed renewal: leadership is lost at the renew deadline`, async () => {
      const { elector, api, events, advance } = await leader();
      api.state.hang = hang;
      await advance(RETRY_MS); // the renewal starts and hangs
      assert.equal(hang === 'read' ? api.state.reads : api.state.replaces, 2);
      await advance(RENEW_DEADLINE_MS - 1);
      assert.deepEqual(events, ['started'], 'still the leader before the deadline');
      assert.equal(elector.isLeader, true);
      await advance(1);
      assert.deepEqual(events, ['started', 'stopped: lost']);
      assert.equal(elector.isLeader, false);
      // Lost for good: no more attempts, and stop does not report a second change.
      const calls = api.state.reads + api.state.replaces;
      await advance(RENEW_DEADLINE_MS);
      assert.equal(api.state.reads + api.state.replaces, calls);
      await elector.stop();
      assert.deepEqual(events, ['started', 'stopped: lost']);
    });
  }

  test('stop during a hanging renewal returns and gives up a release that hangs too', async () => {
    const { elector, api, events, advance } = await leader();
    api.state.hang = 'read';
    await advance(RETRY_MS);
    let stopped = false;
    const stopping = elector.stop().then(() => (stopped = true));
    await tick();
    assert.equal(stopped, false, 'the release (its read hangs too) is waited for');
    await advance(RENEW_DEADLINE_MS);
    await stopping;
    assert.deepEqual(events, ['started', 'stopped: released']);
  });
});
