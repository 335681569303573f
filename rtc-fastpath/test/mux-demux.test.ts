import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newCredentials } from '../src/mux/credentials.ts';
import { Demux } from '../src/mux/demux.ts';
import { bindingRequest } from '../src/mux/stun.ts';
import { addressKey, MAX_ADDRESSES_PER_SESSION } from '../src/mux/table.ts';

/** A session of thread `demux`: a name, registered with fresh credentials. */
function session(demux: Demux<string>, name: string): { name: string; ufrag: string; password: string } {
  const c = newCredentials(demux.owner);
  demux.table.addCredentials(name, c.ufrag, c.password);
  return { name, ...c };
}

const check = (s: { ufrag: string; password: string }, options: { useCandidate?: boolean } = {}) =>
  bindingRequest(`${s.ufrag}:viewer`, s.password, options);
const DTLS = Buffer.from([22, 254, 253, 0, 0]);
const SRTCP = Buffer.from([0x81, 201, 0, 7]);
const now = 1000;

describe('ICE mux demultiplexing (RFC 8445 §7.3, as pion UDPMux)', () => {
  it('binds an address only by an authenticated check, then routes its DTLS and SRTCP to that session', () => {
    const demux = new Demux<string>(0);
    const a = session(demux, 'a');
    session(demux, 'b');
    assert.deepEqual(demux.inbound(DTLS, '10.0.0.1', 5000, now), { t: 'drop', reason: 'unbound' });
    const d = demux.inbound(check(a), '10.0.0.1', 5000, now);
    assert.equal(d.t === 'deliver' && d.session, 'a');
    assert.equal(d.t === 'deliver' && d.check?.moved, false);
    assert.equal(demux.inbound(DTLS, '10.0.0.1', 5000, now).t, 'deliver');
    assert.equal((demux.inbound(SRTCP, '10.0.0.1', 5000, now) as { session: string }).session, 'a');
    assert.equal(demux.dropped().unbound, 1);
  });

  it('never binds from a check with a wrong integrity, an unknown ufrag or no fingerprint; counts each', () => {
    const demux = new Demux<string>(0);
    const a = session(demux, 'a');
    demux.inbound(check(a), '10.0.0.1', 5000, now);
    // A third address tries to take the session: valid ufrag, wrong password.
    const spoof = bindingRequest(`${a.ufrag}:viewer`, 'not-the-password-at-all');
    assert.deepEqual(demux.inbound(spoof, '10.0.0.66', 6666, now), { t: 'drop', reason: 'bad-integrity' });
    assert.deepEqual(demux.inbound(DTLS, '10.0.0.66', 6666, now), { t: 'drop', reason: 'unbound' });
    const stranger = bindingRequest(`${newCredentials(0).ufrag}:viewer`, a.password);
    assert.deepEqual(demux.inbound(stranger, '10.0.0.66', 6666, now), { t: 'drop', reason: 'unknown-ufrag' });
    assert.deepEqual(demux.inbound(bindingRequest('abcd:viewer', a.password), '10.0.0.66', 6666, now), {
      t: 'drop',
      reason: 'unknown-ufrag',
    });
    const noFingerprint = check(a).subarray(0, -8);
    noFingerprint.writeUInt16BE(noFingerprint.length - 20, 2);
    assert.deepEqual(demux.inbound(noFingerprint, '10.0.0.66', 6666, now), { t: 'drop', reason: 'bad-integrity' });
    assert.deepEqual(demux.inbound(Buffer.from([64, 1, 2]), '10.0.0.66', 6666, now), { t: 'drop', reason: 'malformed' });
    assert.deepEqual(demux.table.addressesOf('a'), [addressKey('10.0.0.1', 5000)], 'the session kept its one address');
    assert.deepEqual(demux.dropped(), {
      malformed: 1,
      'unknown-ufrag': 2,
      'bad-integrity': 2,
      replayed: 0,
      unbound: 1,
      'no-transaction': 0,
      'not-binding': 0,
    });
  });

  it('a signed check replayed from another address is dropped; its retransmission from the same address is not', () => {
    const demux = new Demux<string>(0);
    const a = session(demux, 'a');
    const captured = check(a, { useCandidate: true });
    assert.equal(demux.inbound(captured, '10.0.0.1', 5000, now).t, 'deliver');
    assert.equal(demux.inbound(captured, '10.0.0.1', 5000, now).t, 'deliver', 'a retransmission');
    assert.deepEqual(demux.inbound(captured, '10.0.0.66', 6666, now), { t: 'drop', reason: 'replayed' });
    assert.deepEqual(demux.inbound(SRTCP, '10.0.0.66', 6666, now), { t: 'drop', reason: 'unbound' });
    assert.deepEqual(demux.table.addressesOf('a'), [addressKey('10.0.0.1', 5000)]);
  });

  it('a moved viewer (NAT rebinding) is re-learned from its next authenticated check', () => {
    const demux = new Demux<string>(0);
    const a = session(demux, 'a');
    demux.inbound(check(a), '10.0.0.1', 5000, now);
    assert.equal(demux.inbound(SRTCP, '10.0.0.1', 5001, now).t, 'drop');
    const moved = demux.inbound(check(a), '10.0.0.1', 5001, now);
    assert.equal(moved.t === 'deliver' && moved.check?.moved, true);
    assert.equal(demux.inbound(SRTCP, '10.0.0.1', 5001, now).t, 'deliver');
  });

  it('an ICE restart: the new credentials bind, the previous ones still answer, older ones no longer', () => {
    const demux = new Demux<string>(0);
    const first = session(demux, 'a');
    const second = newCredentials(0);
    demux.table.addCredentials('a', second.ufrag, second.password);
    assert.equal(demux.inbound(check(second), '10.0.0.2', 7000, now).t, 'deliver');
    assert.equal(demux.inbound(check(first), '10.0.0.1', 5000, now).t, 'deliver');
    const third = newCredentials(0);
    demux.table.addCredentials('a', third.ufrag, third.password);
    assert.deepEqual(demux.inbound(check(first), '10.0.0.1', 5000, now), { t: 'drop', reason: 'unknown-ufrag' });
  });

  it('routes answers to the session that asked, and only within the transaction time', () => {
    const demux = new Demux<string>(0);
    session(demux, 'a');
    const request = bindingRequest('viewer:local', 'the-viewers-password-xx');
    assert.ok(demux.sentRequest('a', request, now));
    const answer = Buffer.from(request);
    answer.writeUInt16BE(0x0101, 0);
    assert.equal((demux.inbound(answer, '10.0.0.9', 9, now) as { session: string }).session, 'a');
    assert.deepEqual(demux.inbound(answer, '10.0.0.9', 9, now), { t: 'drop', reason: 'no-transaction' }, 'used up');
    demux.sentRequest('a', request, now);
    assert.deepEqual(demux.inbound(answer, '10.0.0.9', 9, now + 60_000), { t: 'drop', reason: 'no-transaction' }, 'too late');
  });

  it("across threads: a check goes to the thread its ufrag names; the receiver learns the owner's binding", () => {
    const t0 = new Demux<string>(0);
    const t1 = new Demux<string>(1);
    const a = session(t1, 'a');
    // The kernel gave thread 0 the viewer's check: forwarded by the ufrag alone.
    assert.deepEqual(t0.inbound(check(a), '10.0.0.1', 5000, now), { t: 'forward', owner: 1 });
    // Forwarded once only: thread 1 never sends it back.
    assert.deepEqual(t1.inbound(check({ ...a, ufrag: newCredentials(0).ufrag }), '10.0.0.1', 5000, now, true), {
      t: 'drop',
      reason: 'unknown-ufrag',
    });
    assert.equal(t1.inbound(check(a), '10.0.0.1', 5000, now, true).t, 'deliver');
    assert.deepEqual(t0.inbound(DTLS, '10.0.0.1', 5000, now), { t: 'drop', reason: 'unbound' });
    t0.table.route(addressKey('10.0.0.1', 5000), 1, 'bound');
    assert.deepEqual(t0.inbound(DTLS, '10.0.0.1', 5000, now), { t: 'forward', owner: 1 });
    // An expected answer route carries STUN answers only, never media.
    t0.table.route(addressKey('10.0.0.7', 7), 1, 'expect', now + 100);
    assert.deepEqual(t0.inbound(SRTCP, '10.0.0.7', 7, now), { t: 'drop', reason: 'unbound' });
    const answer = bindingRequest('x:y', 'z');
    answer.writeUInt16BE(0x0101, 0);
    assert.deepEqual(t0.inbound(answer, '10.0.0.7', 7, now), { t: 'forward', owner: 1 });
    t0.table.forgetOwner(1);
    assert.equal(t0.table.sizes().routes, 0);
  });

  it('one session holds a bounded number of addresses', () => {
    const demux = new Demux<string>(0);
    const a = session(demux, 'a');
    for (let p = 0; p < MAX_ADDRESSES_PER_SESSION + 5; p++) demux.inbound(check(a), '10.0.0.1', 5000 + p, now);
    assert.equal(demux.table.addressesOf('a').length, MAX_ADDRESSES_PER_SESSION);
    assert.equal(demux.inbound(DTLS, '10.0.0.1', 5000, now).t, 'drop', 'the oldest was let go');
  });

  it('1000 join/leave cycles leave no entry', () => {
    const demux = new Demux<string>(0);
    const keep = session(demux, 'kept');
    demux.inbound(check(keep), '10.9.9.9', 9999, now);
    for (let i = 0; i < 1000; i++) {
      const name = `s${i}`;
      const s = session(demux, name);
      demux.inbound(check(s), '10.0.0.1', 10000 + (i % 5000), now);
      demux.inbound(check(s), '10.0.0.2', 10000 + (i % 5000), now);
      demux.sentRequest(name, bindingRequest('v:l', 'p'), now);
      demux.table.addCredentials(name, newCredentials(0).ufrag, 'restarted-password-1234');
      const freed = demux.table.remove(name);
      assert.equal(freed.length, 2);
    }
    assert.deepEqual(demux.table.sizes(), { sessions: 1, ufrags: 1, addresses: 1, transactions: 0, routes: 0 });
    demux.table.remove('kept');
    assert.deepEqual(demux.table.sizes(), { sessions: 0, ufrags: 0, addresses: 0, transactions: 0, routes: 0 });
  });
});
