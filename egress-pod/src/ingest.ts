/**
 * RTP ingest of one stream: a UDP socket per leg. Each datagram is checked (sender address,
 * RTP version, payload type, SSRC) before it is parsed; RTCP from FFmpeg (its sender reports
 * arrive on the RTP port) is dropped, except that a BYE tells the source it stopped.
 *
 * Who may send: with `sourceAddressFile` (the operator's pin, docs/security.md "RTP ingest") only
 * the addresses the file names, and nobody while it is empty; with `sourceAddresses` only those
 * blocks; with neither, anyone. Among the senders let in, one leg follows one SSRC: a new SSRC
 * (a restarted FFmpeg) is taken from the pinned address, or — without a pin — from the address
 * the current SSRC comes from, or from anyone once the current one said BYE or went silent for
 * the source timeout. A BYE counts only from the same address and only for the current SSRC.
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { BlockList, isIP, isIPv4 } from 'node:net';
import type { EgressStream } from '@corecast/api';
// werift's packet class without the rest of werift: the main thread parses RTP and nothing more.
import { parseRtp, type RtpPacket } from '@corecast/rtc-fastpath/rtp-packet';
import type { Logger } from './log.ts';
import { checkRtp, type DropReason, rtcpByeSsrcs } from './rtp/check.ts';
import type { Source } from './source.ts';

/** Counters ingest reports to. */
export interface IngestStats {
  /** A packet was accepted. */
  accepted(kind: 'video' | 'audio', bytes: number): void;
  /** A datagram was dropped. */
  dropped(kind: 'video' | 'audio', reason: DropReason): void;
}

/** The bound ports of a stream's ingest. */
export interface IngestPorts {
  /** UDP port of the video leg. */
  readonly video: number;
  /** UDP port of the audio leg. */
  readonly audio: number;
}

/** What the ingest needs besides the stream's configuration. */
export interface IngestOptions {
  /** A leg silent for this long (ms) gives up its SSRC to any sender let in (the source timeout). */
  readonly timeoutMs: number;
  /** Where dropped senders and pin changes are logged (at most one drop line per `logEveryMs`). */
  readonly log?: Logger;
  /** Milliseconds between two lines about dropped senders (default 10 s). */
  readonly logEveryMs?: number;
  /** Now in ms (tests). */
  readonly now?: () => number;
  /** Hears every accepted datagram as it arrived, and the source's BYE (replica 0's relay to its siblings). */
  readonly relay?: ((kind: 'video' | 'audio', datagram: Buffer) => void) | undefined;
}

/** What one leg follows: the SSRC it takes packets from, and where and when they came. */
interface Leg {
  ssrc: number | undefined;
  sender: string;
  lastAt: number;
  /** The current SSRC said BYE. */
  ended: boolean;
}

/** Kernel receive buffer asked for: a keyframe arrives as a burst of a hundred-odd packets. */
const RECV_BUFFER = 4 * 1024 * 1024;

/** Receives a stream's two RTP legs and hands checked packets to its Source. */
export class Ingest {
  readonly #stream: EgressStream;
  readonly #source: Source;
  readonly #stats: IngestStats;
  readonly #allowed: BlockList | undefined;
  readonly #sockets: Socket[] = [];
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #logEveryMs: number;
  readonly #now: () => number;
  readonly #relay: IngestOptions['relay'];
  readonly #legs: Record<'video' | 'audio', Leg> = {
    video: { ssrc: undefined, sender: '', lastAt: 0, ended: false },
    audio: { ssrc: undefined, sender: '', lastAt: 0, ended: false },
  };
  /** The pinned addresses (sourceAddressFile); undefined without a pin file. Empty: none known yet. */
  #pin: ReadonlySet<string> | undefined;
  /** Drops not logged yet, and when the last line was written. */
  #unlogged = 0;
  #loggedAt = -Infinity;

  constructor(stream: EgressStream, source: Source, stats: IngestStats, options: IngestOptions = { timeoutMs: 2000 }) {
    this.#stream = stream;
    this.#source = source;
    this.#stats = stats;
    this.#allowed = stream.sourceAddresses.length > 0 ? allowList(stream.sourceAddresses) : undefined;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log;
    this.#logEveryMs = options.logEveryMs ?? 10_000;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#relay = options.relay;
    if (stream.sourceAddressFile !== undefined) this.#pin = new Set();
  }

  /** The SSRC a leg follows now (undefined before its first packet). */
  ssrc(kind: 'video' | 'audio'): number | undefined {
    return this.#legs[kind].ssrc;
  }

  /** The pinned source addresses, or undefined when the stream has no pin file. */
  get pinned(): readonly string[] | undefined {
    return this.#pin && [...this.#pin];
  }

  /**
   * Pins the source to `addresses` (the pin file's content): from now on only they may send,
   * restart (new SSRC) or say BYE. An empty list lets nobody in. Only for a stream with a pin file.
   */
  pin(addresses: readonly string[]): void {
    const next = new Set(addresses.map(plainAddress));
    const same = this.#pin !== undefined && next.size === this.#pin.size && [...next].every((a) => this.#pin!.has(a));
    if (same) return;
    this.#pin = next;
    this.#log?.info({ pinned: [...next] }, next.size > 0 ? 'RTP source pinned' : 'RTP source pin cleared: no sender is accepted');
  }

  /** Binds both sockets (port 0 picks a free port) and returns the ports. */
  async start(): Promise<IngestPorts> {
    const video = await this.#bind('video', this.#stream.video.port, this.#stream.video.payloadType);
    const audio = await this.#bind('audio', this.#stream.audio.port, this.#stream.audio.payloadType);
    return { video, audio };
  }

  /** Closes both sockets. */
  async close(): Promise<void> {
    await Promise.all(this.#sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#sockets.length = 0;
  }

  async #bind(kind: 'video' | 'audio', port: number, payloadType: number): Promise<number> {
    const socket = await bindDualStack(port);
    this.#sockets.push(socket);
    try {
      socket.setRecvBufferSize(RECV_BUFFER);
    } catch {
      // The kernel caps the size at net.core.rmem_max; the default still works.
    }
    socket.on('message', (datagram, rinfo) => this.#receive(kind, payloadType, datagram, rinfo));
    return socket.address().port;
  }

  #receive(kind: 'video' | 'audio', payloadType: number, datagram: Buffer, rinfo: RemoteInfo): void {
    const sender = plainAddress(rinfo.address);
    if (!this.#lets(sender)) {
      this.#drop(kind, 'source', sender);
      return;
    }
    const reason = checkRtp(datagram, payloadType);
    if (reason === 'rtcp') this.#rtcp(kind, datagram, sender);
    if (reason) {
      this.#stats.dropped(kind, reason);
      return;
    }
    // checkRtp saw at least the 12-byte fixed header: the SSRC is at offset 8.
    const leg = this.#legs[kind];
    const ssrc = datagram.readUInt32BE(8);
    const now = this.#now();
    if (leg.ssrc !== undefined && ssrc !== leg.ssrc && !this.#mayRestart(leg, sender, now)) {
      this.#drop(kind, 'ssrc', sender, ssrc);
      return;
    }
    leg.ssrc = ssrc;
    leg.sender = sender;
    leg.lastAt = now;
    leg.ended = false;
    let packet: RtpPacket;
    try {
      packet = parseRtp(datagram);
    } catch {
      this.#stats.dropped(kind, 'malformed');
      return;
    }
    this.#stats.accepted(kind, datagram.length);
    this.#relay?.(kind, datagram);
    if (kind === 'video') this.#source.pushVideo(packet);
    else this.#source.pushAudio(packet);
  }

  /** May `sender` send at all: the pin (when there is a pin file) and sourceAddresses. */
  #lets(sender: string): boolean {
    if (this.#pin && !this.#pin.has(sender)) return false;
    return !this.#allowed || this.#allowed.check(sender, isIPv4(sender) ? 'ipv4' : 'ipv6');
  }

  /** A new SSRC on a leg: from the pinned (or the current) address, or after the current one ended. */
  #mayRestart(leg: Leg, sender: string, now: number): boolean {
    if (this.#pin) return true; // #lets: the sender is the pinned source.
    return sender === leg.sender || leg.ended || now - leg.lastAt > this.#timeoutMs;
  }

  /** An RTCP packet from a sender let in: a BYE for the leg's SSRC, from where it comes, takes the source down. */
  #rtcp(kind: 'video' | 'audio', datagram: Buffer, sender: string): void {
    const ssrcs = rtcpByeSsrcs(datagram);
    if (ssrcs.length === 0) return;
    const leg = this.#legs[kind];
    if (leg.ssrc !== undefined && ssrcs.includes(leg.ssrc) && (this.#pin !== undefined || sender === leg.sender)) {
      leg.ended = true;
      this.#source.bye();
      // Siblings relayed to take the goodbye too: their source goes down now, not at its timeout.
      this.#relay?.(kind, datagram);
      return;
    }
    this.#note(kind, sender, 'a BYE not for the current source ignored', ssrcs[0]);
  }

  #drop(kind: 'video' | 'audio', reason: 'source' | 'ssrc', sender: string, ssrc?: number): void {
    this.#stats.dropped(kind, reason);
    const what =
      reason === 'source'
        ? this.#pin?.size === 0
          ? 'RTP dropped: no source pinned yet'
          : 'RTP from a sender that is not the source dropped'
        : 'RTP with another SSRC than the current source dropped';
    this.#note(kind, sender, what, ssrc);
  }

  /** Logs a refused sender, at most once per logEveryMs (the line counts what was not logged). */
  #note(kind: 'video' | 'audio', sender: string, what: string, ssrc: number | undefined): void {
    this.#unlogged++;
    const now = this.#now();
    if (!this.#log || now - this.#loggedAt < this.#logEveryMs) return;
    this.#log.warn(
      { kind, from: sender, ...(ssrc === undefined ? {} : { ssrc }), refused: this.#unlogged, pinned: this.pinned },
      `${what} (refused ${this.#unlogged} since the last such line)`,
    );
    this.#unlogged = 0;
    this.#loggedAt = now;
  }
}

/**
 * Parses a pin file's content: IP addresses separated by commas or white space. Returns the
 * addresses, or an error naming the first entry that is not an address.
 */
export function parsePin(text: string): { addresses: string[] } | { error: string } {
  const addresses = text.split(/[\s,]+/).filter((a) => a !== '');
  const bad = addresses.find((a) => isIP(a) === 0);
  return bad === undefined ? { addresses } : { error: `"${bad}" is not an IP address` };
}

/** Binds IPv6 with IPv4-mapped addresses when the host has IPv6, else IPv4. */
async function bindDualStack(port: number): Promise<Socket> {
  try {
    return await bind(createSocket({ type: 'udp6', ipv6Only: false }), port, '::');
  } catch {
    return bind(createSocket('udp4'), port, '0.0.0.0');
  }
}

function bind(socket: Socket, port: number, address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    socket.bind(port, address, () => {
      socket.off('error', fail);
      // Receive errors on a bound UDP socket are transient; never let one end the process.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

function allowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const type = isIPv4(address!) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}

/** A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d: the plain IPv4 address. */
function plainAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIPv4(lower.slice(7)) ? lower.slice(7) : lower;
}
