/**
 * One ICE agent's share of the mux: its local credentials (in the mux table while it lives), and
 * the virtual transports werift's STUN protocols use instead of sockets of their own. A virtual
 * transport has the shape of werift's `UdpTransport` (common/src/transport.ts): `send`,
 * `onData`, `address`, `close`, and `socket` — the shared socket, on which the fast path
 * (viewer-sender.ts) writes SRTP straight to the selected pair's address.
 */
import type { Socket } from 'node:dgram';
import { type AddressKey, addressKey } from './table.ts';
import type { TcpTarget } from './tcp-mux.ts';
import type { UdpMux } from './udp-mux.ts';

/** What an authenticated check did (demux.ts). */
export interface CheckInfo {
  readonly useCandidate: boolean;
  /** The address is new for a session that had others bound (a NAT rebinding, a new path). */
  readonly moved: boolean;
}

/** Transactions of ours whose answers are routed to the transport that asked. */
const MAX_PENDING = 256;

/** A werift-shaped UDP transport backed by the mux. */
export class VirtualTransport {
  readonly type = 'udp';
  readonly family: 4 | 6;
  /** The shared socket of the family (the fast path sends on it; never close it from here). */
  readonly socket: Socket;
  /** The last sender, as werift's UdpTransport keeps it (its default destination). */
  rinfo: { address: string; port: number } | undefined;
  /** Set by werift's StunProtocol. */
  onData: (data: Buffer, addr: [string, number]) => void = () => {};
  closed = false;
  readonly #session: MuxSession;

  constructor(session: MuxSession, family: 4 | 6, socket: Socket) {
    this.#session = session;
    this.family = family;
    this.socket = socket;
  }

  /** werift's `send(data, addr?)`: to `addr`, or back to the last sender. */
  send = async (data: Buffer, addr?: readonly [string, number]): Promise<void> => {
    if (this.closed) return;
    const to = addr ?? (this.rinfo ? [this.rinfo.address, this.rinfo.port] : undefined);
    if (!to) throw new Error('no destination for the datagram');
    this.#session.sendFrom(this, data, to[0], to[1]);
  };

  /** The bound address as werift reads it: its candidates get the mux's port. */
  get address(): { address: string; port: number; family: string } {
    return { address: this.family === 4 ? '0.0.0.0' : '::', port: this.socket.address().port, family: this.family === 4 ? 'IPv4' : 'IPv6' };
  }

  get addressFamily(): 4 | 6 {
    return this.family;
  }

  get host(): string {
    return this.address.address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** werift closes its protocols' transports with the agent; the session lets go of this one. */
  close = async (): Promise<void> => {
    this.closed = true;
    this.#session.transportClosed(this);
  };

  /** A datagram for werift. */
  receive(data: Buffer, host: string, port: number): void {
    this.rinfo = { address: host, port };
    try {
      this.onData(data, [host, port]);
    } catch {
      // werift's own UdpTransport swallows its handler's errors the same way.
    }
  }
}

/** One ICE agent on the mux. */
export class MuxSession {
  readonly #mux: UdpMux;
  #ufrag: string;
  #password: string;
  readonly #transports: VirtualTransport[] = [];
  readonly #pending = new Map<string, VirtualTransport>();
  readonly #heard = new Map<AddressKey, number>();
  #closed = false;
  /** werift's passive TCP protocols of this agent, whose port is the TCP mux's. */
  readonly #tcp: TcpTarget[] = [];
  /** Called for each authenticated check, before werift sees it. */
  onCheck: ((host: string, port: number, check: CheckInfo) => void) | undefined;

  constructor(mux: UdpMux, credentials: { ufrag: string; password: string }) {
    this.#mux = mux;
    this.#ufrag = credentials.ufrag;
    this.#password = credentials.password;
    mux.register(this, this.#ufrag, this.#password);
  }

  /** The local ufrag checks must name. */
  get ufrag(): string {
    return this.#ufrag;
  }

  /** The local password checks must be signed with. */
  get password(): string {
    return this.#password;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** New local credentials (an ICE restart); checks with the previous ones still reach the session. */
  renew(): { ufrag: string; password: string } {
    const next = this.#mux.credentials();
    this.#ufrag = next.ufrag;
    this.#password = next.password;
    if (!this.#closed) this.#mux.register(this, this.#ufrag, this.#password);
    return next;
  }

  /** A transport for one of werift's STUN protocols (one per gathered address). */
  transport(family: 4 | 6): VirtualTransport {
    const socket = this.#mux.socket(family);
    if (!socket) throw new Error(`the ICE mux has no IPv${family} socket`);
    if (this.#closed) throw new Error('the mux session is closed');
    const t = new VirtualTransport(this, family, socket);
    this.#transports.push(t);
    return t;
  }

  /** A passive TCP protocol of the agent takes the connections the TCP mux authenticates. */
  addTcp(protocol: TcpTarget): void {
    this.#tcp.push(protocol);
  }

  /** Where an authenticated ICE-TCP connection goes (undefined: the agent has no passive TCP). */
  tcpTarget(): TcpTarget | undefined {
    return this.#closed ? undefined : this.#tcp[0];
  }

  /** When the last datagram from `host:port` reached this session (performance.now() ms). */
  lastHeard(host: string, port: number): number | undefined {
    return this.#heard.get(addressKey(host, port));
  }

  /** A datagram the mux routed here. */
  deliver(data: Buffer | Uint8Array, host: string, port: number, family: 4 | 6, check: CheckInfo | undefined): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (check) this.onCheck?.(host, port, check);
    this.#heard.set(addressKey(host, port), performance.now());
    const stunAnswer = buf[0]! <= 3 && (buf[0]! & 0x01) === 0x01;
    const pending = stunAnswer ? this.#pending.get(buf.toString('hex', 8, 20)) : undefined;
    if (pending) this.#pending.delete(buf.toString('hex', 8, 20));
    const target = pending ?? this.#transports.find((t) => !t.closed && t.family === family);
    target?.receive(buf, host, port);
  }

  /** Sends for one of the transports. */
  sendFrom(transport: VirtualTransport, data: Buffer, host: string, port: number): void {
    const transaction = this.#mux.send(this, transport.family, data, host, port);
    if (transaction === undefined) return;
    if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
    this.#pending.set(transaction, transport);
  }

  /** werift closed a transport; when it was the last, the session leaves the mux. */
  transportClosed(transport: VirtualTransport): void {
    const i = this.#transports.indexOf(transport);
    if (i >= 0) this.#transports.splice(i, 1);
    for (const [id, t] of this.#pending) if (t === transport) this.#pending.delete(id);
  }

  /** Leaves the mux: every entry of the session is freed (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#transports) t.closed = true;
    this.#transports.length = 0;
    this.#pending.clear();
    this.#heard.clear();
    this.#tcp.length = 0;
    this.#mux.release(this);
  }
}
