/**
 * The ICE UDP mux of one thread: a UDP socket per address family on the pod's one media port,
 * shared by every session of the thread (and, with SO_REUSEPORT, by every thread of the pod),
 * and the sessions that use it. Each session hands werift virtual transports (transport.ts)
 * instead of sockets of its own; demux.ts decides where each datagram goes, thread-link.ts
 * carries what another thread owns.
 */
import { createSocket, type Socket } from 'node:dgram';
import { newCredentials } from './credentials.ts';
import { Demux, type DropReason } from './demux.ts';
import { type AddressKey, addressKey, type TableSizes } from './table.ts';
import { type LinkMessage, ThreadLink } from './thread-link.ts';
import { MuxSession } from './session.ts';
import { authenticateTcp, PipedSocket, type TcpMux } from './tcp-mux.ts';

/** How a thread's mux is opened. */
export interface MuxOptions {
  /** The UDP port (every thread of the pod the same; 0 only without other threads: any free port). */
  readonly port: number;
  /** Also an IPv6 socket on the same port. */
  readonly ipv6: boolean;
  /** This thread's owner index (0 for the only thread). */
  readonly owner: number;
  /** Other threads bind the same port (SO_REUSEPORT) and exchange what the kernel gave the wrong one. */
  readonly shared: boolean;
  /** A socket error (a failed send): reported, never thrown. */
  readonly onError?: (err: Error) => void;
}

/** What the mux gauge and the leak tests read. */
export interface MuxStats extends TableSizes {
  readonly port: number;
  /** UDP sockets this thread's mux holds (one per family). */
  readonly sockets: number;
  readonly dropped: Record<DropReason, number>;
  /** Datagrams handed to another thread / received from one. */
  readonly forwarded: number;
  readonly received: number;
  /** The IPv4 socket's kernel send buffer (bytes), as granted. */
  readonly sendBuffer: number;
  /** ICE-TCP connections piped between this thread and another. */
  readonly tcpPiped: number;
}

/** How long another thread routes a STUN answer to us after we sent a check (ms). */
const EXPECT_MS = 30_000;

/** The sockets of every mux of this thread. */
const muxSockets = new WeakSet<object>();

/** True for a socket the ICE mux owns (shared by every session: no per-peer listener on it). */
export function isMuxSocket(socket: object): boolean {
  return muxSockets.has(socket);
}

/**
 * Kernel buffer asked for each mux socket (bytes). One socket now carries what a socket per
 * viewer did: a keyframe sent to every viewer at once is a burst of thousands of datagrams, and
 * the default send buffer (~208 KiB) would make libuv queue them. The kernel caps the size at
 * net.core.wmem_max / rmem_max; what it granted is in the mux's stats.
 */
const SOCKET_BUFFER = 8 * 1024 * 1024;

/** Binds one socket of the mux; resolves once it listens. */
export function bindMuxSocket(family: 4 | 6, port: number, reusePort: boolean): Promise<Socket> {
  const socket = createSocket({
    type: family === 4 ? 'udp4' : 'udp6',
    reusePort,
    ...(family === 6 ? { ipv6Only: true } : {}),
    sendBufferSize: SOCKET_BUFFER,
    recvBufferSize: SOCKET_BUFFER,
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: family === 4 ? '0.0.0.0' : '::' }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** One thread's mux. */
export class UdpMux {
  readonly demux: Demux<MuxSession>;
  readonly #options: MuxOptions;
  readonly #sockets: { readonly 4: Socket; readonly 6: Socket | undefined };
  readonly #link: ThreadLink | undefined;
  #tcp: TcpMux | undefined;
  /** ICE-TCP connections other threads accepted for sessions of this one. */
  readonly #pipes = new Map<string, PipedSocket>();
  readonly #sweep: NodeJS.Timeout;
  /** When each address was last announced as expected to answer (ms), and for which session. */
  readonly #announced = new Map<AddressKey, { readonly at: number; readonly session: MuxSession }>();
  #received = 0;
  #closed = false;

  private constructor(options: MuxOptions, sockets: { 4: Socket; 6: Socket | undefined }) {
    this.#options = options;
    this.#sockets = sockets;
    this.demux = new Demux(options.owner);
    for (const family of [4, 6] as const) {
      const socket = sockets[family];
      if (!socket) continue;
      muxSockets.add(socket);
      socket.on('message', (data, rinfo) => this.#inbound(data, rinfo.address, rinfo.port, family, undefined));
      socket.on('error', (err) => options.onError?.(err));
    }
    this.#link = options.shared ? new ThreadLink(this.port, options.owner, (m) => this.#fromThread(m)) : undefined;
    this.#link?.broadcast({ t: 'hello', owner: options.owner });
    this.#sweep = setInterval(() => this.#sweepNow(), 10_000);
    this.#sweep.unref();
  }

  /** Binds the port (both families with ipv6) and starts demultiplexing. */
  static async open(options: MuxOptions): Promise<UdpMux> {
    const v4 = await bindMuxSocket(4, options.port, options.shared);
    const port = v4.address().port;
    const v6 = options.ipv6 ? await bindMuxSocket(6, port, options.shared).catch((err: Error) => (v4.close(), Promise.reject(err))) : undefined;
    return new UdpMux({ ...options, port }, { 4: v4, 6: v6 });
  }

  /** The UDP port every session advertises. */
  get port(): number {
    return this.#sockets[4].address().port;
  }

  /** This thread's owner index. */
  get owner(): number {
    return this.#options.owner;
  }

  /** The links to the other threads (undefined when this thread is alone). */
  get link(): ThreadLink | undefined {
    return this.#link;
  }

  /** The ICE-TCP port (undefined: no ICE-TCP on one port). */
  get tcpPort(): number | undefined {
    return this.#tcp?.port;
  }

  /** The thread's ICE-TCP listener (tcp-mux.ts). */
  useTcp(tcp: TcpMux): void {
    this.#tcp = tcp;
  }

  /** The socket of a family (undefined: that family is off). */
  socket(family: 4 | 6): Socket | undefined {
    return this.#sockets[family];
  }

  /** A new session with fresh local credentials naming this thread. */
  session(): MuxSession {
    if (this.#closed) throw new Error('the ICE mux is closed');
    return new MuxSession(this, newCredentials(this.#options.owner));
  }

  /** Fresh local credentials naming this thread. */
  credentials(): { ufrag: string; password: string } {
    return newCredentials(this.#options.owner);
  }

  /** A session's credentials changed (first use, ICE restart). */
  register(session: MuxSession, ufrag: string, password: string): void {
    this.demux.table.addCredentials(session, ufrag, password);
  }

  /**
   * Sends for a session. A STUN request's answer is routed back to it: returns the request's
   * transaction id (undefined for anything else).
   */
  send(session: MuxSession, family: 4 | 6, data: Uint8Array, host: string, port: number): string | undefined {
    const socket = this.#sockets[family];
    if (!socket || this.#closed) return undefined;
    const now = performance.now();
    const transaction = this.demux.sentRequest(session, data, now);
    if (transaction !== undefined && this.#link) {
      // The answer may reach another thread's socket: that thread should pass it here.
      const key = addressKey(host, port);
      const last = this.#announced.get(key);
      if (this.demux.table.boundTo(key) !== session && (last === undefined || now - last.at > EXPECT_MS / 2)) {
        this.#announced.set(key, { at: now, session });
        this.#link.broadcast({ t: 'route', key, owner: this.owner, kind: 'expect', until: Date.now() + EXPECT_MS });
      }
    }
    socket.send(data, port, host);
    return transaction;
  }

  /** Removes a session and all its entries, here and in the other threads' routes. */
  release(session: MuxSession): void {
    const keys = this.demux.table.remove(session);
    for (const [key, a] of this.#announced) {
      if (a.session !== session) continue;
      this.#announced.delete(key);
      if (!keys.includes(key)) keys.push(key);
    }
    if (this.#link && keys.length > 0) this.#link.broadcast({ t: 'unroute', keys, owner: this.owner });
  }

  /** Entry counts, drops and thread traffic. */
  stats(): MuxStats {
    return {
      port: this.port,
      sockets: this.#sockets[6] ? 2 : 1,
      ...this.demux.table.sizes(),
      dropped: this.demux.dropped(),
      forwarded: this.demux.forwarded,
      received: this.#received,
      sendBuffer: this.#sockets[4].getSendBufferSize(),
      tcpPiped: this.#pipes.size + (this.#tcp?.piped ?? 0),
    };
  }

  /** Closes the sockets and the thread links. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#link?.close();
    for (const p of this.#pipes.values()) p.closed();
    this.#pipes.clear();
    await this.#tcp?.close();
    await Promise.all(
      [this.#sockets[4], this.#sockets[6]].filter((s) => s !== undefined).map((s) => new Promise<void>((r) => s.close(() => r()))),
    );
  }

  #inbound(data: Uint8Array, host: string, port: number, family: 4 | 6, from: number | undefined): void {
    const decision = this.demux.inbound(data, host, port, performance.now(), from !== undefined);
    if (decision.t === 'deliver') {
      if (decision.check) {
        this.#announced.delete(addressKey(host, port));
        // The thread that received it should send this address's datagrams here from now on.
        if (from !== undefined && from !== this.owner) {
          this.#link?.send(from, { t: 'route', key: addressKey(host, port), owner: this.owner, kind: 'bound', until: Number.POSITIVE_INFINITY });
        }
        if (decision.check.freed.length > 0) this.#link?.broadcast({ t: 'unroute', keys: decision.check.freed, owner: this.owner });
      }
      decision.session.deliver(data, host, port, family, decision.check);
    } else if (decision.t === 'forward') {
      this.#link?.send(decision.owner, { t: 'packet', data, host, port, family, from: this.owner });
    }
  }

  #fromThread(m: LinkMessage): void {
    switch (m.t) {
      case 'packet':
        this.#received++;
        this.#inbound(m.data, m.host, m.port, m.family, m.from);
        break;
      case 'route':
        // A check authenticated by another thread outranks an older binding here.
        if (m.kind === 'bound') this.demux.table.release(m.key);
        this.demux.table.route(m.key, m.owner, m.kind, m.kind === 'bound' ? Number.POSITIVE_INFINITY : performance.now() + (m.until - Date.now()));
        break;
      case 'unroute':
        for (const key of m.keys) this.demux.table.unroute(key, m.owner);
        break;
      case 'hello': {
        this.demux.table.forgetOwner(m.owner);
        // A new socket in the port's group moves some addresses' datagrams to it: tell it where
        // ours go, so their DTLS and RTCP need not wait for the next check to be re-learned.
        const keys = this.demux.table.boundKeys();
        if (keys.length > 0) this.#link?.send(m.owner, { t: 'routes', keys, owner: this.owner });
        break;
      }
      case 'routes':
        for (const key of m.keys) this.demux.table.route(key, m.owner, 'bound');
        break;
      case 'tcp-open':
        this.#tcpOpen(m.id, m.host, m.port, m.first, m.from);
        break;
      case 'tcp-data':
        this.#pipes.get(m.id)?.emit('data', Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
        break;
      case 'tcp-close':
        this.#pipes.get(m.id)?.closed();
        this.#pipes.delete(m.id);
        break;
      case 'tcp-write':
        this.#tcp?.write(m.id, m.data);
        break;
    }
  }

  /** Another thread accepted an ICE-TCP connection for one of our sessions: authenticate, then pipe. */
  #tcpOpen(id: string, host: string, port: number, first: Uint8Array, from: number): void {
    const target = authenticateTcp(this, first);
    if (!target) {
      this.#link?.send(from, { t: 'tcp-write', id, data: undefined });
      return;
    }
    const socket = new PipedSocket(host, port, (data) => {
      if (data === undefined) this.#pipes.delete(id);
      this.#link?.send(from, { t: 'tcp-write', id, data });
    });
    this.#pipes.set(id, socket);
    target.registerSocket(socket, [host, port]);
    socket.emit('data', Buffer.from(first.buffer, first.byteOffset, first.byteLength));
  }

  #sweepNow(): void {
    const now = performance.now();
    this.demux.table.sweep(now);
    for (const [key, a] of this.#announced) if (now - a.at > EXPECT_MS) this.#announced.delete(key);
  }
}
