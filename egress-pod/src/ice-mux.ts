/**
 * The pod's one media port (ice.udpPort): every viewer's ICE, DTLS and SRTP on one UDP port per
 * address family, through the ICE mux of @corecast/rtc-fastpath (its README, "ICE UDP mux").
 *
 * With fan-out workers, each worker binds the port itself (SO_REUSEPORT) and sends its viewers'
 * media from its own socket; the kernel spreads incoming datagrams over the sockets by remote
 * address, and a worker passes on what belongs to another one. Without workers the main thread
 * binds it alone, exclusively. Before the workers bind, the main thread checks the port: a fixed
 * port is bound exclusively for a moment (it fails when anything else holds it — SO_REUSEPORT
 * would otherwise let a second pod on the same host network share it silently); port 0 is
 * picked by the kernel and held until every worker has joined it. A worker joins it with
 * `joinPodMux` (workers/join-mux.ts).
 */
import type { Socket } from 'node:dgram';
import type { EgressIce } from '@corecast/api';
import { createServer } from 'node:net';
import { bindMuxSocket, MUX_DROP_REASONS, TcpMux, UdpMux, useThreadMux } from '@corecast/rtc-fastpath';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './log.ts';
import type { Resources } from './workers/resources.ts';

/** What a worker needs to join the pod's media port. */
export interface MuxSetup {
  readonly port: number;
  readonly ipv6: boolean;
  /** The ICE-TCP port (ice.tcpPort), when set. */
  readonly tcpPort?: number | undefined;
}

/** The port, reserved (workers) or opened (main thread). */
export interface PodMux {
  /** What the workers bind (undefined without workers). */
  readonly setup: MuxSetup | undefined;
  /** The main thread's mux (without workers). */
  readonly mux: UdpMux | undefined;
  /** The UDP port viewers reach. */
  readonly port: number;
  /** Lets go of the reservation once the workers have bound the port. */
  release(): Promise<void>;
  /** Closes the main thread's mux. */
  close(): Promise<void>;
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/**
 * Opens (no workers) or reserves (workers) the media port; throws a clear error when it is taken.
 * `enabled: false` leaves werift its own socket per viewer (benchmarks compare the two).
 */
export async function openPodMux(ice: EgressIce, workers: number, log: Logger, enabled = true): Promise<PodMux> {
  if (!enabled) {
    log.warn('ICE mux off: werift binds a UDP socket per viewer and address (comparison runs only)');
    const none = async () => {};
    return { setup: undefined, mux: undefined, port: 0, release: none, close: none };
  }
  if (ice.portRange) {
    log.warn({ portRange: ice.portRange, udpPort: ice.udpPort }, 'ice.portRange is ignored: every viewer shares ice.udpPort');
  }
  const taken = (err: unknown) =>
    new Error(`ice.udpPort ${ice.udpPort} cannot be bound (${(err as Error).message}); is another egress using it?`);
  if (workers === 0) {
    const mux = await UdpMux.open({
      port: ice.udpPort,
      ipv6: ice.ipv6,
      owner: 0,
      shared: false,
      onError: (err) => log.warn({ err: err.message }, 'media socket error'),
    }).catch((err: unknown) => Promise.reject(taken(err)));
    if (ice.tcpPort !== undefined) {
      await TcpMux.open(ice.tcpPort, mux, false).catch(async (err: unknown) => {
        await mux.close();
        throw new Error(`ice.tcpPort ${ice.tcpPort} cannot be listened on (${(err as Error).message})`);
      });
    }
    useThreadMux(mux);
    log.info({ udpPort: mux.port, tcpPort: mux.tcpPort }, 'every viewer on one UDP port');
    return {
      setup: undefined,
      mux,
      port: mux.port,
      release: async () => {},
      close: async () => {
        useThreadMux(undefined);
        await mux.close();
      },
    };
  }
  // A fixed port: an exclusive bind fails if anything holds it, then the workers share it.
  // Port 0: the kernel picks one; held (shareable) until the workers have joined.
  const held = await bindMuxSocket(4, ice.udpPort, ice.udpPort === 0).catch((err: unknown) => Promise.reject(taken(err)));
  const port = held.address().port;
  if (ice.udpPort !== 0) await closeSocket(held);
  if (ice.tcpPort !== undefined) await probeTcp(ice.tcpPort);
  log.info({ udpPort: port, workers }, 'every viewer on one UDP port, shared by the fan-out workers');
  return {
    setup: { port, ipv6: ice.ipv6, tcpPort: ice.tcpPort },
    mux: undefined,
    port,
    release: async () => {
      if (ice.udpPort === 0) await closeSocket(held).catch(() => {});
    },
    close: async () => {},
  };
}

/** Listens on a TCP port exclusively for a moment: throws when anything else holds it. */
async function probeTcp(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`ice.tcpPort ${port} cannot be listened on (${err.message})`)));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => resolve());
  });
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * `corecast_egress_ice_mux_dropped_total{reason}` (datagrams on the media port dropped unanswered:
 * unknown ufrag, bad integrity, unbound address, …), `corecast_egress_ice_mux_forwarded_total`
 * (handed to the worker that owns the session) and `corecast_egress_ice_mux_entries{kind}` (table
 * entries of every thread), read from the threads' resource counts (`mux-…`, resources.ts; the
 * counters, `mux-count-…`, are left out of the resources gauge, where growth means a leak).
 */
export function registerMuxMetrics(registry: Registry, threads: () => Promise<Record<string, Resources>>): void {
  const sum = async (key: string) => Object.values(await threads()).reduce((n, r) => n + (r[key] ?? 0), 0);
  new Counter({
    name: 'corecast_egress_ice_mux_dropped_total',
    help: 'Datagrams on the media port dropped without an answer, by reason (unknown-ufrag, bad-integrity, unbound, …).',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const all = await threads();
      this.reset();
      for (const reason of MUX_DROP_REASONS) {
        this.inc(
          { reason },
          Object.values(all).reduce((n, r) => n + (r[`mux-count-dropped-${reason}`] ?? 0), 0),
        );
      }
    },
  });
  new Counter({
    name: 'corecast_egress_ice_mux_forwarded_total',
    help: 'Datagrams the kernel gave one thread that belonged to a session of another, passed on to it.',
    registers: [registry],
    async collect() {
      this.reset();
      this.inc(await sum('mux-count-forwarded'));
    },
  });
  new Gauge({
    name: 'corecast_egress_ice_mux_entries',
    help: 'ICE mux table entries of all threads: sessions, ufrags, bound addresses, transactions, routes; and sockets.',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const all = await threads();
      for (const kind of ['sessions', 'ufrags', 'addresses', 'transactions', 'routes', 'sockets']) {
        this.set(
          { kind },
          Object.values(all).reduce((n, r) => n + (r[`mux-${kind}`] ?? 0), 0),
        );
      }
    },
  });
}
