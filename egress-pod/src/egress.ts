/**
 * The egress pod put together: streams (ingest, source, fan-out), the session store, auth and
 * the HTTP server, plus a graceful stop that closes every peer. `main.ts` and the local demo
 * call `startEgress`; tests do too, in-process.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuth } from './auth/auth.ts';
import type { ResolvedConfig } from './config.ts';
import type { IngestPorts } from './ingest.ts';
import { portCapacity } from './ice-ports.ts';
import { createLogger, type Logger } from './log.ts';
import { EgressMetrics } from './metrics.ts';
import { createApp } from './server.ts';
import { Stream } from './stream.ts';
import { SessionStore } from './whep/sessions.ts';
import { workerCount } from './workers/cores.ts';
import { WorkerPool } from './workers/pool.ts';
import { registerResourceMetrics, threadResources } from './workers/resources.ts';

/** A running egress. */
export interface Egress {
  /** Base URL of the HTTP server (http://host:port). */
  readonly url: string;
  /** Bound HTTP port. */
  readonly httpPort: number;
  /** Bound RTP ports by process id. */
  readonly rtpPorts: ReadonlyMap<string, IngestPorts>;
  /** Served streams by process id. */
  readonly streams: ReadonlyMap<string, Stream>;
  /** The session index. */
  readonly sessions: SessionStore;
  /** Metrics registry. */
  readonly metrics: EgressMetrics;
  /** Fan-out worker threads (0: the fan-out runs on the main thread). */
  readonly workers: number;
  /** Stops accepting, closes every session and socket. */
  stop(): Promise<void>;
}

/** Options of `startEgress` that are not configuration. */
export interface StartOptions {
  /** Logger to use (default: a new one at the configured level). */
  readonly log?: Logger;
  /** Register Node's default process metrics (default true). */
  readonly defaultMetrics?: boolean;
}

/** Starts an egress from a resolved configuration. */
export async function startEgress(resolved: ResolvedConfig, options: StartOptions = {}): Promise<Egress> {
  const { config } = resolved;
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = new EgressMetrics(
    config.streams.map((s) => s.processId),
    options.defaultMetrics === undefined ? {} : { defaultMetrics: options.defaultMetrics },
  );
  // Fan-out workers (media.workers, DESIGN.md §4): each owns a share of the viewers.
  const { gopCache } = config.media;
  const fanout = { gop: { maxBytes: gopCache.maxBytes, maxAgeMs: gopCache.maxAgeSeconds * 1000 }, timing: gopCache.timing };
  const workers = workerCount(config.media.workers);
  const pool =
    workers > 0
      ? await WorkerPool.start({
          workers,
          processes: config.streams.map((s) => s.processId),
          fanout,
          logLevel: config.logLevel,
          log,
          metrics,
        })
      : undefined;
  const sessions = new SessionStore(
    {
      maxViewers: viewerCap(config.maxViewers, portCapacity(config.ice, resolved.advertised), log),
      retryAfterFull: config.retryAfterSeconds.full,
      maxPerSubject: config.session.maxPerSubject,
      maxPerClient: config.session.maxPerClient,
      peer: () => ({ ice: config.ice, advertised: resolved.advertised, iceServers: resolved.iceServers() }),
      candidates: {
        ipv6: config.ice.ipv6,
        tcp: config.ice.tcp,
        allowLoopback: config.ice.allowLoopbackCandidates,
        maxCandidates: config.ice.maxRemoteCandidates,
      },
      gatherTimeoutMs: config.ice.gatherTimeoutSeconds * 1000,
      connectTimeoutMs: config.session.connectTimeoutSeconds * 1000,
      livenessTimeoutMs: config.session.livenessTimeoutSeconds * 1000,
      serializeGathering: config.ice.portRange !== undefined,
      ...(pool ? { open: pool.open } : {}),
    },
    metrics,
    log,
  );

  const streams = new Map<string, Stream>();
  const rtpPorts = new Map<string, IngestPorts>();
  const timing = { timeoutMs: config.source.timeoutSeconds * 1000, graceMs: config.source.graceSeconds * 1000 };
  for (const [index, s] of config.streams.entries()) {
    const slog = log.child({ process: s.processId });
    // A source gone for longer than the grace period closes its sessions: the player sees the
    // connection end and comes back (409 + Retry-After until the source is up again).
    const stream = new Stream(
      s,
      timing,
      metrics,
      slog,
      (state) => {
        if (state === 'gone') void sessions.closeAll('source-gone', s.processId);
      },
      pool ? { plane: pool.plane(index) } : { fanout },
    );
    streams.set(s.processId, stream);
  }
  registerResourceMetrics(metrics.registry, async () => ({
    main: threadResources(
      sessions.count(),
      [...streams.values()].reduce((n, s) => n + s.fanout.size, 0),
    ),
    ...(await pool?.resources()),
  }));
  try {
    for (const stream of streams.values()) rtpPorts.set(stream.id, await stream.start());
  } catch (err) {
    await Promise.all([...streams.values()].map((s) => s.stop()));
    await pool?.stop();
    throw err;
  }

  let accepting = true;
  const auth = createAuth(config, resolved, { log });
  const app = createApp({ streams, sessions, auth, config, iceServers: resolved.iceServers, metrics, log, accepting: () => accepting });
  const server = createServer(app.callback());
  // Browsers keep idle connections; the pod must still stop quickly.
  server.keepAliveTimeout = 5000;
  await listen(server, config.http.port, config.http.host);
  const httpPort = (server.address() as AddressInfo).port;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`;
  log.info({ http: httpPort, rtp: Object.fromEntries(rtpPorts) }, 'egress listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      accepting = false;
      await sessions.closeAll('shutdown');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...streams.values()].map((s) => s.stop()));
      await pool?.stop();
      log.info('egress stopped');
    })();
    return stopping;
  };
  return { url, httpPort, rtpPorts, streams, sessions, metrics, workers: pool?.size ?? 0, stop };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * The pod's viewer cap: maxViewers, or fewer when ice.portRange cannot hold that many viewers
 * (each takes a port per bound address, see ice-ports.ts); a viewer past it gets 503 instead of
 * an answer without candidates.
 */
function viewerCap(maxViewers: number, capacity: ReturnType<typeof portCapacity>, log: Logger): number {
  if (!capacity) return maxViewers;
  const figures = { ...capacity, maxViewers };
  if (capacity.viewers >= maxViewers) {
    log.info(figures, 'ICE port range: enough ports for maxViewers');
    return maxViewers;
  }
  const level = capacity.viewers === 0 ? 'error' : 'warn';
  log[level](
    figures,
    `ICE port range: ${capacity.ports} ports at ${capacity.perViewer} per viewer (one per bound address) carry ${capacity.viewers} viewers, fewer than maxViewers; capping at ${capacity.viewers} (widen ice.portRange or advertise fewer addresses)`,
  );
  return capacity.viewers;
}
