/**
 * How the threads that share the port talk (worker threads of one process, or the main thread
 * alone). Every thread binds the port with SO_REUSEPORT, and the kernel hands each remote
 * address's datagrams to one of those sockets — not necessarily the one of the thread that owns
 * the session. So a thread passes on what belongs elsewhere, over BroadcastChannels named after
 * the port: one per owner (`…:owner:<n>`, only thread n listens: point to point, and a replaced
 * worker gets its messages by opening the same name) and one for all (`…:all`).
 *
 * Only inbound traffic crosses threads, and only what the kernel sent to the wrong socket: STUN
 * checks (until the owner has bound the address, then the receiving thread learns the route),
 * the DTLS handshake, SRTCP from the viewer. Media goes out from the owner's own socket on the
 * same port, so the viewer sees one server address.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { AddressKey, RouteKind } from './table.ts';

/** A datagram received by thread `from` for the thread it is sent to. */
export interface ForwardedPacket {
  readonly t: 'packet';
  readonly data: Uint8Array;
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly from: number;
}

/** What threads tell each other. */
export type LinkMessage =
  | ForwardedPacket
  /** Send `key`'s datagrams to `owner` (bound: it authenticated a check; expect: it waits for a STUN answer). */
  | { readonly t: 'route'; readonly key: AddressKey; readonly owner: number; readonly kind: RouteKind; readonly until: number }
  /** Send these addresses' datagrams to `owner`: its bindings, told to a thread that just started. */
  | { readonly t: 'routes'; readonly keys: readonly AddressKey[]; readonly owner: number }
  /** `owner` let these addresses go (its session closed). */
  | { readonly t: 'unroute'; readonly keys: readonly AddressKey[]; readonly owner: number }
  /** Thread `owner` started: whatever routes led to an earlier thread of that index are stale. */
  | { readonly t: 'hello'; readonly owner: number }
  /** An ICE-TCP connection thread `from` accepted for a session of the receiving thread (tcp-mux.ts). */
  | { readonly t: 'tcp-open'; readonly id: string; readonly host: string; readonly port: number; readonly first: Uint8Array; readonly from: number }
  /** Bytes read from such a connection, or its end. */
  | { readonly t: 'tcp-data'; readonly id: string; readonly data: Uint8Array }
  | { readonly t: 'tcp-close'; readonly id: string }
  /** Bytes the owner writes to such a connection (undefined: close it). */
  | { readonly t: 'tcp-write'; readonly id: string; readonly data: Uint8Array | undefined };

/** One thread's end of the links. */
export class ThreadLink {
  readonly #prefix: string;
  readonly #own: BroadcastChannel;
  readonly #all: BroadcastChannel;
  readonly #to = new Map<number, BroadcastChannel>();
  #sent = 0;

  /** Opens thread `owner`'s end for the port `port`; `onMessage` gets what others send it. */
  constructor(port: number, owner: number, onMessage: (m: LinkMessage) => void) {
    this.#prefix = `corecast-ice-mux:${port}`;
    this.#own = new BroadcastChannel(`${this.#prefix}:owner:${owner}`);
    this.#all = new BroadcastChannel(`${this.#prefix}:all`);
    for (const channel of [this.#own, this.#all]) {
      channel.onmessage = (event) => onMessage((event as { data: LinkMessage }).data);
      // The sockets keep the thread alive, not these.
      channel.unref();
    }
  }

  /** Messages this thread sent. */
  get sent(): number {
    return this.#sent;
  }

  /** To thread `owner` only. */
  send(owner: number, message: LinkMessage): void {
    let channel = this.#to.get(owner);
    if (!channel) {
      channel = new BroadcastChannel(`${this.#prefix}:owner:${owner}`);
      channel.unref();
      this.#to.set(owner, channel);
    }
    this.#sent++;
    channel.postMessage(message);
  }

  /** To every other thread. */
  broadcast(message: LinkMessage): void {
    this.#sent++;
    this.#all.postMessage(message);
  }

  /** Closes this end. */
  close(): void {
    this.#own.close();
    this.#all.close();
    for (const c of this.#to.values()) c.close();
    this.#to.clear();
  }
}
