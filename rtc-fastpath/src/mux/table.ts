/**
 * The demultiplexing table of one thread's share of the port, with no sockets in it: which
 * session a local ufrag names (with the password that authenticates its checks), which session
 * a remote address is bound to, which session waits for the answer to a STUN transaction, and
 * — for sessions other threads own — which thread a remote address's packets go to. Every entry
 * of a session is also indexed by the session, so removing it frees all of them at once.
 */

/** A remote address as a map key: `host|port`. */
export type AddressKey = string;

/** The key of a remote address. */
export function addressKey(host: string, port: number): AddressKey {
  return `${host}|${port}`;
}

/** The address of a key. */
export function fromKey(key: AddressKey): [string, number] {
  const bar = key.lastIndexOf('|');
  return [key.slice(0, bar), Number(key.slice(bar + 1))];
}

/** Local credentials a session answers to: the current ones and the ones before an ICE restart. */
const KEEP_CREDENTIALS = 2;
/** Remote addresses one session may have bound at once (host, server-reflexive, a NAT move…). */
export const MAX_ADDRESSES_PER_SESSION = 8;

/** How an address reaches another thread: bound by an authenticated check, or expected to answer a check. */
export type RouteKind = 'bound' | 'expect';

interface Owned {
  readonly ufrags: string[];
  readonly addresses: Set<AddressKey>;
  readonly transactions: Set<string>;
  /** The last checks' transaction ids and where they came from (replay detection). */
  readonly checks: Map<string, AddressKey>;
}

/** Checks remembered per session: retransmissions of one arrive within seconds (RFC 8489 §6.2.1). */
const RECENT_CHECKS = 32;

/** Entry counts, for the gauge and the leak tests. */
export interface TableSizes {
  readonly sessions: number;
  readonly ufrags: number;
  readonly addresses: number;
  readonly transactions: number;
  readonly routes: number;
}

/** One thread's table. `S` is whatever stands for a session (the mux's session object). */
export class MuxTable<S> {
  readonly #ufrags = new Map<string, { readonly session: S; readonly password: string }>();
  readonly #addresses = new Map<AddressKey, S>();
  readonly #transactions = new Map<string, { readonly session: S; readonly until: number }>();
  readonly #routes = new Map<AddressKey, { readonly owner: number; readonly kind: RouteKind; readonly until: number }>();
  readonly #owned = new Map<S, Owned>();

  #of(session: S): Owned {
    let owned = this.#owned.get(session);
    if (!owned) {
      owned = { ufrags: [], addresses: new Set(), transactions: new Set(), checks: new Map() };
      this.#owned.set(session, owned);
    }
    return owned;
  }

  /** A session answers to `ufrag` with `password` from now on; its oldest credentials beyond two are forgotten. */
  addCredentials(session: S, ufrag: string, password: string): void {
    const other = this.#ufrags.get(ufrag);
    if (other && other.session !== session) throw new Error('local ufrag already belongs to another session');
    const owned = this.#of(session);
    if (!owned.ufrags.includes(ufrag)) owned.ufrags.push(ufrag);
    this.#ufrags.set(ufrag, { session, password });
    while (owned.ufrags.length > KEEP_CREDENTIALS) this.#ufrags.delete(owned.ufrags.shift()!);
  }

  /** The session and password of a local ufrag. */
  credentials(ufrag: string): { readonly session: S; readonly password: string } | undefined {
    return this.#ufrags.get(ufrag);
  }

  /**
   * Binds a remote address to a session (the caller has authenticated a check from it). An
   * address bound to another session moves (a viewer's NAT gave its port to another viewer);
   * past MAX_ADDRESSES_PER_SESSION the session's oldest address is let go. Returns the addresses
   * that stopped being bound to anything.
   */
  bind(key: AddressKey, session: S): AddressKey[] {
    const freed: AddressKey[] = [];
    const previous = this.#addresses.get(key);
    if (previous === session) {
      // Most recently confirmed last: the oldest is evicted first.
      const set = this.#of(session).addresses;
      set.delete(key);
      set.add(key);
      return freed;
    }
    if (previous !== undefined) this.#owned.get(previous)?.addresses.delete(key);
    const set = this.#of(session).addresses;
    set.add(key);
    this.#addresses.set(key, session);
    this.#routes.delete(key);
    while (set.size > MAX_ADDRESSES_PER_SESSION) {
      const oldest = set.values().next().value!;
      set.delete(oldest);
      this.#addresses.delete(oldest);
      freed.push(oldest);
    }
    return freed;
  }

  /** Unbinds `key` from whichever session had it (another thread authenticated it since). */
  release(key: AddressKey): void {
    const session = this.#addresses.get(key);
    if (session === undefined) return;
    this.#addresses.delete(key);
    this.#owned.get(session)?.addresses.delete(key);
  }

  /**
   * Notes an authenticated check of `session` from `key`; false when the same transaction came
   * before from another address — a copy replayed by someone who saw it, not a retransmission.
   */
  noteCheck(session: S, transactionId: string, key: AddressKey): boolean {
    const checks = this.#of(session).checks;
    const seen = checks.get(transactionId);
    if (seen !== undefined) return seen === key;
    checks.set(transactionId, key);
    if (checks.size > RECENT_CHECKS) checks.delete(checks.keys().next().value!);
    return true;
  }

  /** The session a remote address is bound to. */
  boundTo(key: AddressKey): S | undefined {
    return this.#addresses.get(key);
  }

  /** Every address bound to a session of this thread. */
  boundKeys(): AddressKey[] {
    return [...this.#addresses.keys()];
  }

  /** The addresses bound to a session, oldest first. */
  addressesOf(session: S): AddressKey[] {
    return [...(this.#owned.get(session)?.addresses ?? [])];
  }

  /** A STUN request of `session` is under way: its answer goes to it until `until` (ms). */
  expect(transactionId: string, session: S, until: number): void {
    this.#transactions.set(transactionId, { session, until });
    this.#of(session).transactions.add(transactionId);
  }

  /** The session waiting for the answer to `transactionId` (the entry is used up). */
  answer(transactionId: string, now: number): S | undefined {
    const entry = this.#transactions.get(transactionId);
    if (!entry) return undefined;
    this.#transactions.delete(transactionId);
    this.#owned.get(entry.session)?.transactions.delete(transactionId);
    return entry.until >= now ? entry.session : undefined;
  }

  /** Another thread owns the session at `key` (bound), or waits for an answer from it (expect, until `until`). */
  route(key: AddressKey, owner: number, kind: RouteKind, until = Number.POSITIVE_INFINITY): void {
    if (this.#addresses.has(key)) return;
    const current = this.#routes.get(key);
    // An expectation never demotes a binding: only an authenticated check made that.
    if (current && current.kind === 'bound' && kind === 'expect' && current.owner !== owner) return;
    this.#routes.set(key, { owner, kind: current?.kind === 'bound' && current.owner === owner ? 'bound' : kind, until });
  }

  /** The thread a remote address's packets go to; `stunAnswer` also accepts an expectation. */
  routeOf(key: AddressKey, stunAnswer: boolean, now: number): number | undefined {
    const r = this.#routes.get(key);
    if (!r) return undefined;
    if (r.until < now) {
      this.#routes.delete(key);
      return undefined;
    }
    return r.kind === 'bound' || stunAnswer ? r.owner : undefined;
  }

  /** Forgets the route of `key` if it leads to `owner`. */
  unroute(key: AddressKey, owner: number): void {
    if (this.#routes.get(key)?.owner === owner) this.#routes.delete(key);
  }

  /** Forgets every route to `owner` (its thread ended). */
  forgetOwner(owner: number): void {
    for (const [key, r] of this.#routes) if (r.owner === owner) this.#routes.delete(key);
  }

  /** Removes a session and every entry it had; returns the addresses that were bound to it. */
  remove(session: S): AddressKey[] {
    const owned = this.#owned.get(session);
    if (!owned) return [];
    this.#owned.delete(session);
    for (const u of owned.ufrags) if (this.#ufrags.get(u)?.session === session) this.#ufrags.delete(u);
    for (const a of owned.addresses) if (this.#addresses.get(a) === session) this.#addresses.delete(a);
    for (const t of owned.transactions) this.#transactions.delete(t);
    return [...owned.addresses];
  }

  /** Drops transactions and routes whose time is up. */
  sweep(now: number): void {
    for (const [id, t] of this.#transactions) {
      if (t.until < now) {
        this.#transactions.delete(id);
        this.#owned.get(t.session)?.transactions.delete(id);
      }
    }
    for (const [key, r] of this.#routes) if (r.until < now) this.#routes.delete(key);
  }

  /** How many entries of each kind there are. */
  sizes(): TableSizes {
    return {
      sessions: this.#owned.size,
      ufrags: this.#ufrags.size,
      addresses: this.#addresses.size,
      transactions: this.#transactions.size,
      routes: this.#routes.size,
    };
  }
}
