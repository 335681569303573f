/**
 * Where a datagram that reached the shared port goes — the rules of RFC 8445 and pion's UDPMux,
 * as one pure decision per packet (no sockets, no threads):
 *
 * - A STUN Binding request goes to the session its USERNAME's local ufrag names — in this
 *   thread, or forwarded to the thread the ufrag names (credentials.ts). The owner accepts it
 *   only with a MESSAGE-INTEGRITY made with that session's password and a valid FINGERPRINT;
 *   then, and only then, the remote address is bound to the session (a new one, or a moved one
 *   after a NAT rebinding or an ICE restart).
 * - A STUN answer goes to the session that asked (its transaction id); one from an address
 *   another thread expects an answer from goes there.
 * - Anything else (DTLS, SRTP, SRTCP, a STUN indication) goes to the session its remote address
 *   is bound to, here or in the thread that bound it.
 * - Everything else is dropped and counted, and never answered: an unknown ufrag, a wrong
 *   integrity, an address nobody bound, a datagram that is none of these protocols.
 */
import { localUfragOf, packetKind, readStun, type StunView, verifyIntegrity } from './stun.ts';
import { ownerOf } from './credentials.ts';
import { type AddressKey, addressKey, MuxTable } from './table.ts';

/** Why a datagram was dropped (the label of the drop counter). */
export type DropReason = 'malformed' | 'unknown-ufrag' | 'bad-integrity' | 'replayed' | 'unbound' | 'no-transaction' | 'not-binding';

/** Every drop reason, for zero-initialised counters. */
export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'unknown-ufrag',
  'bad-integrity',
  'replayed',
  'unbound',
  'no-transaction',
  'not-binding',
];

/** What to do with one datagram. */
export type Decision<S> =
  | {
      readonly t: 'deliver';
      readonly session: S;
      /** An authenticated check: the address was (re)bound by it. */
      readonly check?: { readonly useCandidate: boolean; readonly moved: boolean; readonly freed: AddressKey[] };
    }
  | { readonly t: 'forward'; readonly owner: number }
  | { readonly t: 'drop'; readonly reason: DropReason };

/** How long an answer to our STUN request is waited for (werift gives up well before: RFC 8489 §6.2.1 Rc·RTO). */
export const TRANSACTION_MS = 30_000;

/** One thread's demultiplexer. */
export class Demux<S> {
  /** This thread's owner index (the one its sessions' ufrags carry). */
  readonly owner: number;
  readonly table = new MuxTable<S>();
  readonly #dropped = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));
  #forwarded = 0;

  constructor(owner: number) {
    this.owner = owner;
  }

  /** Datagrams dropped so far, by reason. */
  dropped(): Record<DropReason, number> {
    return Object.fromEntries(this.#dropped) as Record<DropReason, number>;
  }

  /** Datagrams handed to another thread so far. */
  get forwarded(): number {
    return this.#forwarded;
  }

  /**
   * Decides about a datagram from `host:port`. `forwarded` is set when another thread received
   * it and sent it here: it is never forwarded again (a stale route would otherwise loop).
   */
  inbound(data: Uint8Array, host: string, port: number, now: number, forwarded = false): Decision<S> {
    const key = addressKey(host, port);
    const kind = packetKind(data);
    if (kind === 'other') return this.#drop('malformed');
    if (kind === 'stun') {
      const stun = readStun(data);
      if (!stun) return this.#drop('malformed');
      if (stun.class === 'request') return this.#request(data, stun, key, forwarded);
      if (stun.class === 'success' || stun.class === 'error') {
        const session = this.table.answer(stun.transactionId, now);
        if (session !== undefined) return { t: 'deliver', session };
        const owner = forwarded ? undefined : this.table.routeOf(key, true, now);
        if (owner !== undefined && owner !== this.owner) return this.#forward(owner);
        return this.#drop('no-transaction');
      }
      // An indication (a keepalive, RFC 8445 §11): only from a bound address, like media.
    }
    const session = this.table.boundTo(key);
    if (session !== undefined) return { t: 'deliver', session };
    const owner = forwarded ? undefined : this.table.routeOf(key, false, now);
    if (owner !== undefined && owner !== this.owner) return this.#forward(owner);
    return this.#drop('unbound');
  }

  /** A STUN request: only Binding, only to a ufrag we gave out, only with its password. */
  #request(data: Uint8Array, stun: StunView, key: AddressKey, forwarded: boolean): Decision<S> {
    if (stun.method !== 1) return this.#drop('not-binding');
    const ufrag = localUfragOf(stun.username);
    if (ufrag === undefined) return this.#drop('unknown-ufrag');
    const owner = ownerOf(ufrag);
    if (owner === undefined) return this.#drop('unknown-ufrag');
    if (owner !== this.owner) return forwarded ? this.#drop('unknown-ufrag') : this.#forward(owner);
    const entry = this.table.credentials(ufrag);
    if (!entry) return this.#drop('unknown-ufrag');
    // RFC 8445 §7.3: a check needs both; without them nobody learns anything from it.
    if (stun.fingerprintAt < 0 || !verifyIntegrity(data, stun, entry.password)) return this.#drop('bad-integrity');
    // A signed check copied and sent again from elsewhere must not move the session there.
    if (!this.table.noteCheck(entry.session, stun.transactionId, key)) return this.#drop('replayed');
    const before = this.table.boundTo(key);
    const known = this.table.addressesOf(entry.session);
    const freed = this.table.bind(key, entry.session);
    const moved = before !== entry.session && known.length > 0;
    return { t: 'deliver', session: entry.session, check: { useCandidate: stun.useCandidate, moved, freed } };
  }

  /** Called on send: a STUN request of `session` is under way; returns its transaction id. */
  sentRequest(session: S, data: Uint8Array, now: number): string | undefined {
    if (packetKind(data) !== 'stun') return undefined;
    const stun = readStun(data);
    if (!stun || stun.class !== 'request') return undefined;
    this.table.expect(stun.transactionId, session, now + TRANSACTION_MS);
    return stun.transactionId;
  }

  /** Counts a drop decided elsewhere (the TCP mux); returns undefined for the caller's convenience. */
  countDrop(reason: DropReason): undefined {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + 1);
    return undefined;
  }

  #forward(owner: number): Decision<S> {
    this.#forwarded++;
    return { t: 'forward', owner };
  }

  #drop(reason: DropReason): Decision<S> {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + 1);
    return { t: 'drop', reason };
  }
}
