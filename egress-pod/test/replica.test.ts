/**
 * The replica pieces that need no network: the `replica` configuration section and its
 * messages, the relay-targets file, the drain file, where placement tries a new viewer, which
 * session ids belong to which replica, and the drain's schedule of closes (on a mocked clock).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EGRESS_CONFIG_ENV, formatRelayTargets, parseRelayTargets } from '@corecast/api';
import { loadConfig } from '../src/config.ts';
import { Drain, parseDrain } from '../src/replica/drain.ts';
import { replicaOfSession, sessionPrefix } from '../src/replica/forward.ts';
import { placementOrder, type Room } from '../src/replica/siblings.ts';
import type { CloseReason, WhepSession } from '../src/whep/session-types.ts';
import { newSessionId } from '../src/whep/session-types.ts';

const stream = { streams: [{ processId: 'demo' }] };
const env = (config: unknown) => ({ [EGRESS_CONFIG_ENV]: JSON.stringify(config) });

describe('replica configuration', () => {
  it('is absent by default and fills its defaults when given', () => {
    assert.equal(loadConfig(env(stream)).config.replica, undefined);
    assert.deepEqual(loadConfig(env({ ...stream, replica: {} })).config.replica, { index: 0, drainSeconds: 30 });
    const full = {
      index: 0,
      relayTargetsFile: '/etc/corecast/rtp-source/relay-targets',
      drainFile: '/etc/corecast/rtp-source/drain',
      drainSeconds: 120,
    };
    assert.deepEqual(loadConfig(env({ ...stream, replica: full })).config.replica, full);
  });

  const bad: [string, unknown, string][] = [
    ['an index past 31', { ...stream, replica: { index: 32 } }, 'replica.index: Too big: expected number to be <=31'],
    ['a fractional index', { ...stream, replica: { index: 1.5 } }, 'replica.index: Invalid input: expected int, received number'],
    [
      'a relative relay-targets file',
      { ...stream, replica: { relayTargetsFile: 'relay-targets' } },
      'replica.relayTargetsFile: must be an absolute path',
    ],
    ['a relative drain file', { ...stream, replica: { drainFile: 'drain' } }, 'replica.drainFile: must be an absolute path'],
    ['a drain of 0 s', { ...stream, replica: { drainSeconds: 0 } }, 'replica.drainSeconds: Too small: expected number to be >=1'],
    [
      'a drain of over an hour',
      { ...stream, replica: { drainSeconds: 3601 } },
      'replica.drainSeconds: Too big: expected number to be <=3600',
    ],
    [
      'a relay on a pod with two streams',
      {
        streams: [{ processId: 'a' }, { processId: 'b', video: { port: 6000 }, audio: { port: 6002 } }],
        replica: { relayTargetsFile: '/x' },
      },
      'replica.relayTargetsFile: relays one stream; this pod serves 2',
    ],
    [
      'a relay on replica 2',
      { ...stream, replica: { index: 2, relayTargetsFile: '/x' } },
      'replica.relayTargetsFile: only replica 0 relays (this is replica 2)',
    ],
  ];
  for (const [name, config, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => loadConfig(env(config)), { message: `${EGRESS_CONFIG_ENV} is invalid: ${message}` }));
  }
});

describe('relay-targets file', () => {
  it('reads entries with IPv4 and bare IPv6 addresses, draining flags, spaces and an empty file', () => {
    assert.deepEqual(parseRelayTargets(''), { targets: [] });
    assert.deepEqual(parseRelayTargets(' \n'), { targets: [] });
    const parsed = parseRelayTargets('2=fd00::7:5004:5006:8080:draining, 1=10.0.0.5:5004:5006:8080\n');
    assert.deepEqual(parsed, {
      targets: [
        { index: 1, address: '10.0.0.5', videoPort: 5004, audioPort: 5006, httpPort: 8080, draining: false },
        { index: 2, address: 'fd00::7', videoPort: 5004, audioPort: 5006, httpPort: 8080, draining: true },
      ],
    });
    assert.ok('targets' in parsed);
    assert.deepEqual(parseRelayTargets(formatRelayTargets(parsed.targets)), parsed, 'what the operator writes reads back the same');
    assert.deepEqual(parseRelayTargets('3=[fd00::1]:1:2:3'), {
      targets: [{ index: 3, address: 'fd00::1', videoPort: 1, audioPort: 2, httpPort: 3, draining: false }],
    });
  });

  const bad: [string, string][] = [
    ['1=10.0.0.5:5004:5006', 'expected <index>=<ip>:<videoPort>:<audioPort>:<httpPort>[:draining]'],
    ['10.0.0.5:5004:5006:8080', 'expected <index>=<ip>:<videoPort>:<audioPort>:<httpPort>[:draining]'],
    ['1=10.0.0.5:5004:5006:8080:gone', 'expected <index>=<ip>:<videoPort>:<audioPort>:<httpPort>[:draining]'],
    ['0=10.0.0.5:5004:5006:8080', 'the index must be 1 to 31 (replica 0 is this pod)'],
    ['32=10.0.0.5:5004:5006:8080', 'the index must be 1 to 31 (replica 0 is this pod)'],
    ['1=pod-1.example:5004:5006:8080', '"pod-1.example" is not an IP address'],
    ['1=10.0.0.5:0:5006:8080', 'ports must be 1 to 65535'],
    ['1=10.0.0.5:5004:5006:70000', 'ports must be 1 to 65535'],
  ];
  for (const [text, why] of bad) {
    it(`refuses "${text}"`, () => assert.deepEqual(parseRelayTargets(text), { error: `"${text}": ${why}` }));
  }
  it('refuses a replica listed twice', () =>
    assert.deepEqual(parseRelayTargets('1=10.0.0.5:1:2:3,1=10.0.0.6:1:2:3'), { error: '"1=10.0.0.6:1:2:3": replica 1 is listed twice' }));
});

describe('drain file', () => {
  it('is empty (not draining), an RFC 3339 deadline, or anything else (drain over drainSeconds)', () => {
    assert.equal(parseDrain(''), undefined);
    assert.equal(parseDrain('  \n'), undefined);
    assert.equal(parseDrain('2026-12-06T14:00:30Z'), Date.UTC(2026, 11, 6, 14, 0, 30));
    assert.equal(parseDrain('2026-12-06T15:00:30.5+01:00\n'), Date.UTC(2026, 11, 6, 14, 0, 30, 500));
    assert.equal(parseDrain('true'), 'unspecified');
    assert.equal(parseDrain('2026-12-06'), 'unspecified', 'a date without a time is not a deadline');
    assert.equal(parseDrain('2026-13-45T99:00:00Z'), 'unspecified');
  });
});

describe('placement', () => {
  const room = (viewers: number, max = 2, draining = false): Room => ({ viewers, max, draining });
  const sib = (index: number, r: Room | undefined, draining = false) => ({ index, room: r, draining });

  it('keeps the viewer on replica 0 while it holds no more viewers than the least loaded sibling', () => {
    assert.deepEqual(placementOrder(room(0), []), ['local']);
    assert.deepEqual(placementOrder(room(1), [sib(1, room(1)), sib(2, room(1))]), ['local', 1, 2]);
  });
  it('sends it to the least loaded sibling with room first (ties: lowest index), replica 0 last', () => {
    assert.deepEqual(placementOrder(room(1), [sib(1, room(1)), sib(2, room(0))]), [2, 1, 'local']);
    assert.deepEqual(placementOrder(room(1), [sib(2, room(0)), sib(1, room(0))]), [1, 2, 'local']);
  });
  it('never tries a full, draining or silent replica', () => {
    assert.deepEqual(placementOrder(room(2), [sib(1, room(2)), sib(2, room(1))]), [2]);
    assert.deepEqual(placementOrder(room(1), [sib(1, room(0), true), sib(2, room(0, 2, true)), sib(3, undefined)]), ['local']);
    assert.deepEqual(placementOrder(room(0, 2, true), [sib(1, room(1))]), [1], 'a draining replica 0 places only on siblings');
    assert.deepEqual(placementOrder(room(2), [sib(1, room(2))]), [], 'all full: nowhere');
  });
});

describe('session ids', () => {
  it("carry the replica's prefix, and replica 0 never makes one that looks like a sibling's", () => {
    assert.equal(sessionPrefix(0), '');
    assert.equal(sessionPrefix(3), 'r3-');
    assert.match(newSessionId('r3-'), /^r3-[A-Za-z0-9_-]{22}$/);
    assert.equal(replicaOfSession(newSessionId('r3-')), 3);
    assert.equal(replicaOfSession(newSessionId('r31-')), 31);
    for (let i = 0; i < 20000; i++) {
      const id = newSessionId();
      assert.equal(replicaOfSession(id), 0, id);
      assert.doesNotMatch(id, /^r\d/);
    }
    assert.equal(replicaOfSession('r0-abc'), 0);
  });
});

describe('drain schedule', () => {
  /** A session that only records its close. */
  const fake = (id: string, closed: Map<string, CloseReason>, list: WhepSession[]): WhepSession =>
    ({
      id,
      close: (reason: CloseReason) => {
        closed.set(id, reason);
        list.splice(
          list.findIndex((s) => s.id === id),
          1,
        );
        return Promise.resolve();
      },
    }) as unknown as WhepSession;

  it('closes the viewers one by one, evenly over the time to the deadline, and stops when called off', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const closed = new Map<string, CloseReason>();
    const list: WhepSession[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e']) list.push(fake(id, closed, list));
    const changes: boolean[] = [];
    const drain = new Drain({ sessions: () => [...list] }, 30, { onChange: (on) => changes.push(on), now: () => Date.now() });
    drain.set(4000);
    assert.equal(drain.draining, true);
    t.mock.timers.tick(799);
    assert.equal(closed.size, 0);
    t.mock.timers.tick(1);
    assert.deepEqual([...closed], [['a', 'drain']], 'one of five after a fifth of the time');
    t.mock.timers.tick(800);
    assert.equal(closed.size, 2);
    drain.set(undefined);
    t.mock.timers.tick(10000);
    assert.equal(closed.size, 2, 'called off: nobody else is closed');
    assert.deepEqual(changes, [true, false]);
    drain.stop();
  });

  it('holds a far deadline to drainSeconds and closes everyone left at once past it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const closed = new Map<string, CloseReason>();
    const list: WhepSession[] = [];
    for (const id of ['a', 'b']) list.push(fake(id, closed, list));
    const drain = new Drain({ sessions: () => [...list] }, 10, { now: () => Date.now() });
    drain.set(3_600_000);
    t.mock.timers.tick(5000);
    assert.equal(closed.size, 1, 'a deadline an hour away drains over drainSeconds (10 s): one of two after 5 s');
    t.mock.timers.tick(5000);
    assert.equal(closed.size, 2);
    drain.stop();
    const late = new Drain({ sessions: () => [...list] }, 10, { now: () => Date.now() });
    for (const id of ['x', 'y', 'z']) list.push(fake(id, closed, list));
    late.set(Date.now() - 1000);
    t.mock.timers.tick(0);
    assert.equal(list.length, 0, 'a deadline already past closes every viewer at once');
    late.stop();
  });
});
