/**
 * RTP ingest of one stream: a UDP socket per leg. Each datagram is checked (RTP version,
 * payload type, sender address) before it is parsed; RTCP from FFmpeg (its sender reports
 * arrive on the RTP port) is dropped, except that a BYE tells the source it stopped.
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { BlockList, isIPv4 } from 'node:net';
import type { EgressStream } from '@corecast/api';
import { RtpPacket } from 'werift';
import { checkRtp, type DropReason, rtcpHasBye } from './rtp/check.ts';
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

/** Kernel receive buffer asked for: a keyframe arrives as a burst of a hundred-odd packets. */
const RECV_BUFFER = 4 * 1024 * 1024;

/** Receives a stream's two RTP legs and hands checked packets to its Source. */
export class Ingest {
  readonly #stream: EgressStream;
  readonly #source: Source;
  readonly #stats: IngestStats;
  readonly #allowed: BlockList | undefined;
  readonly #sockets: Socket[] = [];

  constructor(stream: EgressStream, source: Source, stats: IngestStats) {
    this.#stream = stream;
    this.#source = source;
    this.#stats = stats;
    this.#allowed = stream.sourceAddresses.length > 0 ? allowList(stream.sourceAddresses) : undefined;
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
    let reason: DropReason | undefined = this.#allowed && !allowedSender(this.#allowed, rinfo.address) ? 'source' : undefined;
    reason ??= checkRtp(datagram, payloadType);
    if (reason === 'rtcp' && rtcpHasBye(datagram)) this.#source.bye();
    if (reason) {
      this.#stats.dropped(kind, reason);
      return;
    }
    let packet: RtpPacket;
    try {
      packet = RtpPacket.deSerialize(datagram);
    } catch {
      this.#stats.dropped(kind, 'malformed');
      return;
    }
    this.#stats.accepted(kind, datagram.length);
    if (kind === 'video') this.#source.pushVideo(packet);
    else this.#source.pushAudio(packet);
  }
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

function allowedSender(list: BlockList, address: string): boolean {
  // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d.
  const plain = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
}
