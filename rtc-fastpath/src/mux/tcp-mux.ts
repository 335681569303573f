/**
 * Passive ICE-TCP (RFC 6544) on one TCP port for every viewer, on the UDP mux's principle: the
 * first RFC 4571 frame of a connection must be a STUN Binding request; its USERNAME's local
 * ufrag names the session (and the thread that owns it), and only a valid MESSAGE-INTEGRITY and
 * FINGERPRINT hand the connection to that session's werift TCP protocol (`registerSocket`, which
 * does the framing from there). Anything else closes the connection unanswered.
 *
 * Each thread listens on the port with SO_REUSEPORT; a connection accepted by a thread that does
 * not own its session stays there and its bytes are piped to the owner over the thread link
 * (a virtual socket on the owner's side) — so for a TCP viewer, unlike UDP, media crosses
 * threads. TCP viewers are the few whose UDP is blocked.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { localUfragOf, readStun, verifyIntegrity } from './stun.ts';
import { ownerOf } from './credentials.ts';
import type { UdpMux } from './udp-mux.ts';

/** The first frame must arrive within this long (ms), and be at most this big. */
const FIRST_FRAME_MS = 5000;
const FIRST_FRAME_MAX = 1500;

/** What the owner needs to take a connection: its first bytes and the viewer's address. */
export interface TcpOpen {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly first: Uint8Array;
}

/** The werift TCP protocol a session's connections are given to. */
export interface TcpTarget {
  registerSocket(socket: unknown, remoteAddr: [string, number]): unknown;
}

/** A socket of another thread, as werift's TCP protocol uses one: 'data', 'close', write, destroy. */
export class PipedSocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #send: (data: Uint8Array | undefined) => void;

  constructor(host: string, port: number, send: (data: Uint8Array | undefined) => void) {
    super();
    this.remoteAddress = host;
    this.remotePort = port;
    this.#send = send;
  }

  write(data: Uint8Array, callback?: (err?: Error) => void): boolean {
    if (this.destroyed) {
      callback?.(new Error('the connection is closed'));
      return false;
    }
    this.#send(data);
    callback?.();
    return true;
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.#send(undefined);
      this.emit('close');
    }
    return this;
  }

  /** The other thread's socket closed. */
  closed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

/** Reads the first RFC 4571 frame of a connection, or undefined when it is not one in time. */
function firstFrame(socket: Socket): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (value: Buffer | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (length > FIRST_FRAME_MAX) return done(undefined);
        if (buffered.length >= 2 + length) return done(buffered);
      }
      if (buffered.length > FIRST_FRAME_MAX + 2) done(undefined);
    };
    const timer = setTimeout(() => done(undefined), FIRST_FRAME_MS);
    socket.on('data', onData);
    socket.once('close', () => done(undefined));
  });
}

/**
 * Checks a connection's first bytes against the sessions of `mux`: the target protocol when the
 * frame is an authenticated check for one of them, else undefined (counted by the UDP mux's
 * reasons: unknown-ufrag, bad-integrity, malformed).
 */
export function authenticateTcp(mux: UdpMux, first: Uint8Array): TcpTarget | undefined {
  const frame = first.subarray(2, 2 + ((first[0]! << 8) | first[1]!));
  const stun = readStun(frame);
  if (!stun || stun.class !== 'request' || stun.method !== 1) return mux.demux.countDrop('malformed');
  const ufrag = localUfragOf(stun.username);
  const entry = ufrag === undefined ? undefined : mux.demux.table.credentials(ufrag);
  if (!entry) return mux.demux.countDrop('unknown-ufrag');
  if (stun.fingerprintAt < 0 || !verifyIntegrity(frame, stun, entry.password)) return mux.demux.countDrop('bad-integrity');
  return entry.session.tcpTarget() ?? mux.demux.countDrop('unknown-ufrag');
}

/** The owner of a connection's session, from its first frame (undefined: not a check of ours). */
export function tcpOwner(first: Uint8Array): number | undefined {
  const stun = readStun(first.subarray(2, 2 + ((first[0]! << 8) | first[1]!)));
  const ufrag = stun?.class === 'request' ? localUfragOf(stun.username) : undefined;
  return ufrag === undefined ? undefined : ownerOf(ufrag);
}

/** One thread's listener on the ICE-TCP port. */
export class TcpMux {
  readonly #server: Server;
  readonly #mux: UdpMux;
  /** Connections this thread accepted for other threads, by id. */
  readonly #piped = new Map<string, Socket>();
  /** Every open connection (the server's close waits for them). */
  readonly #open = new Set<Socket>();
  #next = 0;

  private constructor(server: Server, mux: UdpMux) {
    this.#server = server;
    this.#mux = mux;
    server.on('connection', (socket) => void this.#accept(socket));
  }

  /** Listens on `port` (all threads the same, SO_REUSEPORT when shared). */
  static async open(port: number, mux: UdpMux, shared: boolean): Promise<TcpMux> {
    const server = createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '0.0.0.0', reusePort: shared }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const tcp = new TcpMux(server, mux);
    mux.useTcp(tcp);
    return tcp;
  }

  /** The listening port. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Connections piped to other threads. */
  get piped(): number {
    return this.#piped.size;
  }

  async #accept(socket: Socket): Promise<void> {
    socket.on('error', () => {});
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    const first = await firstFrame(socket);
    const host = socket.remoteAddress?.replace(/^::ffff:/, '');
    const port = socket.remotePort;
    if (!first || !host || !port) return void socket.destroy();
    const owner = tcpOwner(first);
    if (owner === undefined) {
      this.#mux.demux.countDrop('unknown-ufrag');
      return void socket.destroy();
    }
    if (owner === this.#mux.owner) {
      const target = authenticateTcp(this.#mux, first);
      if (!target) return void socket.destroy();
      target.registerSocket(socket, [host, port]);
      socket.emit('data', first);
      socket.resume();
      return;
    }
    // Another thread's session: pipe the bytes there; it authenticates and answers through us.
    const id = `${this.#mux.owner}:${this.#next++}`;
    this.#piped.set(id, socket);
    socket.on('data', (data: Buffer) => this.#mux.link?.send(owner, { t: 'tcp-data', id, data }));
    socket.on('close', () => {
      if (this.#piped.delete(id)) this.#mux.link?.send(owner, { t: 'tcp-close', id });
    });
    this.#mux.link?.send(owner, { t: 'tcp-open', id, host, port, first, from: this.#mux.owner });
    socket.resume();
  }

  /** Bytes the owner thread writes to a connection of ours; undefined closes it. */
  write(id: string, data: Uint8Array | undefined): void {
    const socket = this.#piped.get(id);
    if (!socket) return;
    if (data === undefined) {
      this.#piped.delete(id);
      socket.destroy();
    } else socket.write(data);
  }

  /** Stops listening and closes the connections held for others. */
  async close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    this.#piped.clear();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
