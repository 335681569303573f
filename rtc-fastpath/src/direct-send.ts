/**
 * `socket.send(buf, port, address)` on an unconnected UDP socket first resolves `address`
 * through the socket's lookup function, and the default one (dns.lookup) answers even an IP
 * literal on the next tick. For the fan-out that is a nextTick, a closure and a deferred send
 * per packet and viewer — and the sends of a fan-out worker's time slice all run after the
 * slice has ended, outside its budget (egress-pod/src/workers/media-worker.ts).
 *
 * `sendDirectly(socket)` gives a socket a lookup that answers IP literals at once, so the send
 * reaches libuv (and, unless the socket's kernel buffer is full, the kernel) before `send`
 * returns — the same synchronous path Node takes for a connected socket. Host names still go
 * to the original lookup. The socket's lookup lives in Node's internal socket state (found by
 * its symbol's description); on a Node whose sockets look different, nothing is changed and
 * sends stay correct, only slower.
 */
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';

type Lookup = (address: string | undefined, callback: (err: Error | null, ip?: string) => void) => void;

interface SocketState {
  handle?: { lookup?: Lookup; fd?: number } | null;
}

/** Marks a handle whose lookup was replaced. */
const DIRECT = Symbol('corecast.directLookup');

/** Node's symbol for a dgram socket's state, found on the first socket asked about (one for all). */
let stateKey: symbol | undefined;

/** Node's internal state of a dgram socket (its `handle` is null once closed). Read per batch: allocates nothing once the symbol is known. */
export function stateOf(socket: Socket): SocketState | undefined {
  if (stateKey === undefined || !(stateKey in socket)) {
    stateKey = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    if (stateKey === undefined) return undefined;
  }
  return (socket as unknown as Record<symbol, SocketState | undefined>)[stateKey] ?? undefined;
}

/** Makes sends of IP-literal destinations on `socket` synchronous; true when it did (or had). */
export function sendDirectly(socket: Socket): boolean {
  const handle = stateOf(socket)?.handle;
  const original = handle?.lookup;
  if (!handle || typeof original !== 'function') return false;
  if ((original as unknown as Record<symbol, boolean>)[DIRECT]) return true;
  const direct: Lookup = (address, callback) => {
    if (address !== undefined && isIP(address) !== 0) callback(null, address);
    else original.call(handle, address, callback);
  };
  (direct as unknown as Record<symbol, boolean>)[DIRECT] = true;
  handle.lookup = direct;
  return true;
}
