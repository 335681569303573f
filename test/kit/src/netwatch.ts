/**
 * Watches this process's outbound traffic from the inside: every UDP datagram's destination
 * (dgram send), every TCP connect, and every DNS lookup, while a test runs. Together with
 * network namespaces (netns.ts) for whole programs, it proves nothing outside is contacted.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { networkInterfaces } from 'node:os';

/** What the process tried to reach. */
export interface Outbound {
  /** UDP destinations (address). */
  readonly udp: Set<string>;
  /** TCP destinations (host). */
  readonly tcp: Set<string>;
  /** Host names looked up (IP literals, which resolve without a query, are left out). */
  readonly lookups: string[];
  /** Destinations that are neither loopback nor one of this machine's addresses. */
  outside(): string[];
  /** Stops watching. */
  stop(): void;
}

/** This machine's own addresses (any interface) and loopback. */
export function localAddresses(): Set<string> {
  const out = new Set(['127.0.0.1', '::1', 'localhost']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** Starts recording; patches are removed by `stop()`. */
export function watchOutbound(): Outbound {
  const udp = new Set<string>();
  const tcp = new Set<string>();
  const lookups: string[] = [];
  const proto = dgram.Socket.prototype as unknown as { send: (...args: unknown[]) => unknown };
  const send = proto.send;
  proto.send = function (this: unknown, ...args: unknown[]) {
    // send(msg, [offset, length,] port, address, cb): the address is the last string argument.
    const address = args.filter((a) => typeof a === 'string').at(-1) as string | undefined;
    udp.add(address ?? '(connected socket)');
    return send.apply(this, args);
  };
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0] as { host?: string; path?: string } | number | string;
    if (typeof first === 'object' && first && !first.path) tcp.add(first.host ?? 'localhost');
    else if (typeof first === 'number') tcp.add(typeof args[1] === 'string' ? args[1] : 'localhost');
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
  const lookup = dns.lookup;
  const promisesLookup = dns.promises.lookup;
  (dns as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
    if (net.isIP(host) === 0) lookups.push(host);
    return (lookup as (...a: unknown[]) => unknown)(host, ...rest);
  };
  (dns.promises as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
    if (net.isIP(host) === 0) lookups.push(host);
    return (promisesLookup as (...a: unknown[]) => unknown)(host, ...rest);
  };
  const local = localAddresses();
  return {
    udp,
    tcp,
    lookups,
    outside: () => [...udp, ...tcp].filter((a) => !local.has(a) && !a.startsWith('127.')),
    stop: () => {
      proto.send = send;
      net.Socket.prototype.connect = connect;
      (dns as { lookup: unknown }).lookup = lookup;
      (dns.promises as { lookup: unknown }).lookup = promisesLookup;
    },
  };
}
