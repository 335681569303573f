/**
 * Replica 0's relay (docs/scale-out.md): every RTP packet its ingest accepted — after the pin,
 * the RTP checks and the parse — goes on unchanged to each sibling replica's RTP ports, draining
 * ones too (their viewers are still watching). A sibling takes it as its source: the same
 * ingest, the same GOP cache, so its late joiners start at a keyframe as fast as replica 0's.
 * FFmpeg is not involved: a `tee` output would need an FFmpeg restart for every change of
 * replicas, the relay only a new targets file. One level, no tree: the cost is one send per
 * sibling per packet (egress-pod/README.md, "Replicas"), batched with the thread's other sends
 * (`sendBatched`: sendmmsg where rtc-fastpath's addon loaded, else one dgram send each).
 *
 * The relay sends from sockets of its own, not the ingest's: those are dual-stack IPv6 sockets,
 * which sendmmsg cannot aim at a plain IPv4 address. Siblings pin replica 0 by address only.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import type { RelayTarget } from '@corecast/api';
import { sendBatched } from '@corecast/rtc-fastpath';
import type { Logger } from '../log.ts';

/**
 * Kernel send buffer asked for: a keyframe is a burst of a hundred-odd packets, sent on to
 * every sibling at once (eight siblings: ~1 MB in a few milliseconds).
 */
const SEND_BUFFER = 4 * 1024 * 1024;

/** What the relay reports. */
export interface RelayStats {
  /** The targets changed: how many there are now. */
  targets(count: number): void;
  /** Datagrams sent on (one per target per packet). */
  sent(datagrams: number): void;
}

/** Sends accepted RTP on to the sibling replicas. */
export class Relay {
  readonly #bindAddress: string | undefined;
  readonly #stats: RelayStats;
  readonly #log: Logger | undefined;
  #v4: Socket | undefined;
  #v6: Socket | undefined;
  /** Per target: the socket for its address family, its address, and its video and audio ports. */
  #routes: { socket: Socket; address: string; video: number; audio: number }[] = [];
  #targets: readonly RelayTarget[] = [];

  /**
   * `bindAddress`: the pod's own address to send from (http.host when it names one), so a
   * sibling's pin sees the address it expects; otherwise the kernel picks the route's source.
   */
  constructor(stats: RelayStats, options: { bindAddress?: string | undefined; log?: Logger | undefined } = {}) {
    this.#stats = stats;
    this.#bindAddress = options.bindAddress;
    this.#log = options.log;
  }

  /** Binds the relay's sockets (IPv6 only where the host has it). */
  async start(): Promise<void> {
    const v4 = this.#bindAddress !== undefined && isIPv4(this.#bindAddress) ? this.#bindAddress : '0.0.0.0';
    const v6 = this.#bindAddress !== undefined && isIPv6(this.#bindAddress) && this.#bindAddress !== '::' ? this.#bindAddress : '::';
    this.#v4 = await bind(createSocket('udp4'), v4);
    this.#v6 = await bind(createSocket({ type: 'udp6', ipv6Only: true }), v6).catch(() => undefined);
    this.#route();
    this.#stats.targets(this.#routes.length);
  }

  /** The siblings now listed (the relay-targets file). */
  get targets(): readonly RelayTarget[] {
    return this.#targets;
  }

  /** Replaces the list of siblings: the next packet goes to the new list. */
  setTargets(targets: readonly RelayTarget[]): void {
    this.#targets = targets;
    this.#route();
    this.#stats.targets(this.#routes.length);
    this.#log?.info({ targets: targets.map((t) => `${t.index}=${t.address}${t.draining ? ' (draining)' : ''}`) }, 'relay targets');
  }

  /** Sends one accepted datagram of a leg to every sibling. */
  send(kind: 'video' | 'audio', datagram: Buffer): void {
    const routes = this.#routes;
    if (routes.length === 0) return;
    for (const r of routes) sendBatched(r.socket, datagram, kind === 'video' ? r.video : r.audio, r.address);
    this.#stats.sent(routes.length);
  }

  /** Closes the sockets; nothing is relayed after. */
  async close(): Promise<void> {
    this.#routes = [];
    await Promise.all([this.#v4, this.#v6].map((s) => s && new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#v4 = this.#v6 = undefined;
  }

  #route(): void {
    this.#routes = this.#targets.flatMap((t) => {
      const socket = isIPv4(t.address) ? this.#v4 : this.#v6;
      if (!socket) {
        if (this.#v4)
          this.#log?.warn({ replica: t.index, address: t.address }, 'relay target unreachable: no socket of its address family');
        return [];
      }
      return [{ socket, address: t.address, video: t.videoPort, audio: t.audioPort }];
    });
  }
}

function bind(socket: Socket, address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    socket.bind(0, address, () => {
      socket.off('error', fail);
      try {
        socket.setSendBufferSize(SEND_BUFFER);
      } catch {
        // The kernel caps the size at net.core.wmem_max; what the sends do not fit goes through dgram's queue.
      }
      // A sibling gone away answers with ICMP errors; a send error must never end the pod.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}
