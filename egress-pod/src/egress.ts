/**
 * The egress pod put together: streams (ingest, source, fan-out), the session store, auth and
 * the HTTP server, plus a graceful stop that closes every peer. `main.ts` and the local demo
 * call `startEgress`; tests do too, in-process.
 */
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAuth } from './auth/auth.ts';
import { createServer } from './http-cjs.ts';
import type { ResolvedConfig } from './config.ts';
import type { IngestPorts } from './ingest.ts';
import { openPodMux, registerMuxMetrics } from './ice-mux.ts';
import { createLogger, type Logger } from './log.ts';
import { sendPath, srtpPath } from '@corecast/rtc-fastpath';
import {
  EgressMetrics,
  registerMemoryMetrics,
  registerResourceMetrics,
  registerSendPathMetric,
  registerSrtpPathMetric,
} from './metrics.ts';
import { createApp, metricsHandler } from './server.ts';
import { Replica } from './replica/replica.ts';
import { Stream } from './stream.ts';
import { SessionStore } from './whep/sessions.ts';
import { workerCount } from './workers/cores.ts';
import { WorkerPool } from './workers/pool.ts';
import { threadMemory } from './workers/memory.ts';
import { threadResources } from './workers/resources.ts';

/** A running egress. */
export interface Egress {
  /** Base URL of the HTTP server (http://host:port). */
  readonly url: string;
  /** Bound HTTP port. */
  readonly httpPort: number;
  /** Base URL of the metrics server (http://host:port; /metrics below it). */
  readonly metricsUrl: string;
  /** Bound metrics port. */
  readonly metricsPort: number;
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
  /** The UDP port of every viewer's media (ice.udpPort, or the one picked for 0). */
  readonly mediaPort: number;
  /** This pod as an egress replica: its index, relay, siblings and drain (alone: replica 0 without siblings). */
  readonly replica: Replica;
  /** Stops accepting, closes every session and socket. */
  stop(): Promise<void>;
}

/** Options of `startEgress` that are not configuration. */
export interface StartOptions {
  /** Logger to use (default: a new one at the configured level). */
  readonly log?: Logger;
  /** Register Node's default process metrics (default true). */
  readonly defaultMetrics?: boolean;
  /** Every viewer on ice.udpPort (default true); false: werift's socket per viewer, for comparisons. */
  readonly iceMux?: boolean;
  /** The fan-out worker thread's module (default: the real one; tests give one that fails on purpose). */
  readonly workerScript?: URL;
  /** With `media.workers: auto`, viewers a thread holds before the next starts (default: pool.ts; tests give a small number). */
  readonly nextThreadAt?: number;
}

/** Starts an egress from a resolved configuration. */
export async function startEgress(resolved: ResolvedConfig, options: StartOptions = {}): Promise<Egress> {
  const { config } = resolved;
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = new EgressMetrics(
    config.streams.map((s) => s.processId),
    options.defaultMetrics === undefined ? {} : { defaultMetrics: options.defaultMetrics },
  );
  // Fan-out workers (media.workers; egress-pod/README.md, "Speed"): each owns a share of the viewers.
  const { gopCache } = config.media;
  const fanout = { gop: { maxBytes: gopCache.maxBytes, maxAgeMs: gopCache.maxAgeSeconds * 1000 }, timing: gopCache.timing };
  const workers = workerCount(config.media.workers);
  // Every viewer on one UDP port (ice.udpPort), every worker on it too (ice-mux.ts).
  const podMux = await openPodMux(config.ice, workers, log, options.iceMux ?? true);
  const pool =
    workers > 0
      ? await WorkerPool.start({
          workers,
          // auto: up to one per core, started and stopped with the load (pool.ts); a number: that many, always.
          onDemand: config.media.workers === 'auto',
          mux: podMux.setup,
          processes: config.streams.map((s) => s.processId),
          fanout,
          logLevel: config.logLevel,
          log,
          metrics,
          ...(options.workerScript ? { script: options.workerScript } : {}),
          ...(options.nextThreadAt === undefined ? {} : { nextThreadAt: options.nextThreadAt }),
        })
      : undefined;
  // Relay, placement and drain when this pod is one of several egress replicas (replica/replica.ts).
  const replica = new Replica(config, metrics, log);
  const sessions = new SessionStore(
    {
      maxViewers: config.maxViewers,
      retryAfterFull: config.retryAfterSeconds.full,
      maxPerSubject: config.session.maxPerSubject,
      maxPerClient: config.session.maxPerClient,
      // The one place a session's settings are made: passed as they are down to the peer's thread.
      settings: (processId) => ({
        processId,
        peer: { ice: config.ice, advertised: resolved.advertised, iceServers: resolved.iceServers() },
        timeouts: config.session,
        idPrefix: replica.sessionPrefix,
      }),
      serializeGathering: false,
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
      { ...(pool ? { plane: pool.plane(index) } : { fanout }), relay: replica.relaySink },
    );
    streams.set(s.processId, stream);
  }
  await podMux.release();
  const threads = async () => ({
    main: threadResources(
      sessions.count(),
      [...streams.values()].reduce((n, s) => n + s.fanout.size, 0),
    ),
    ...(await pool?.resources()),
  });
  registerResourceMetrics(metrics.registry, threads);
  registerMuxMetrics(metrics.registry, threads);
  // Viewers' media leave in batches (sendmmsg) where the rtc-fastpath addon loaded, else one dgram send each.
  const send = sendPath();
  registerSendPathMetric(metrics.registry, send.path);
  log.info(
    { path: send.path, why: send.why },
    send.path === 'sendmmsg' ? 'media sends batched with sendmmsg' : 'media sent with dgram, one send per datagram',
  );
  // SRTP protected in the same addon call as the send, or in JavaScript where the addon cannot.
  const srtp = srtpPath();
  registerSrtpPathMetric(metrics.registry, srtp.path);
  log.info(
    { path: srtp.path, why: srtp.why },
    srtp.path === 'native' ? 'SRTP protected in the native addon' : 'SRTP protected in JavaScript',
  );
  registerMemoryMetrics(metrics.registry, async () => ({ main: threadMemory(), ...(await pool?.memory()) }));
  try {
    for (const stream of streams.values()) rtpPorts.set(stream.id, await stream.start());
    await replica.start(sessions, streams);
  } catch (err) {
    await replica.stop();
    await Promise.all([...streams.values()].map((s) => s.stop()));
    await pool?.stop();
    await podMux.close();
    throw err;
  }

  let accepting = true;
  const auth = createAuth(config, resolved, { log });
  const app = createApp({
    streams,
    sessions,
    auth,
    config,
    iceServers: resolved.iceServers,
    metrics,
    log,
    accepting: () => accepting,
    workers: pool && (() => pool.health()),
    replica,
    room: () => replica.room(),
  });
  const server = createServer(httpTimeouts(config.http), app.callback());
  // Browsers keep idle connections; the pod must still stop quickly.
  server.keepAliveTimeout = 5000;
  // Metrics on a port of their own: not routed by the ingress, no CORS (server.ts).
  const metricsServer = createServer(httpTimeouts(config.http), metricsHandler(metrics, log));
  metricsServer.keepAliveTimeout = 5000;
  for (const s of [server, metricsServer]) s.on('clientError', clientErrorHandler(s));
  try {
    await listen(server, config.http.port, config.http.host);
    await listen(metricsServer, config.metrics.port, config.http.host);
  } catch (err) {
    server.close();
    await replica.stop();
    await Promise.all([...streams.values()].map((s) => s.stop()));
    await pool?.stop();
    await podMux.close();
    throw err;
  }
  const httpPort = (server.address() as AddressInfo).port;
  const metricsPort = (metricsServer.address() as AddressInfo).port;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const base = (port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = base(httpPort);
  const metricsUrl = base(metricsPort);
  log.info({ http: httpPort, metrics: metricsPort, rtp: Object.fromEntries(rtpPorts) }, 'egress listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      accepting = false;
      await replica.stop();
      await sessions.closeAll('shutdown');
      await Promise.all(
        [server, metricsServer].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
      await Promise.all([...streams.values()].map((s) => s.stop()));
      await pool?.stop();
      await podMux.close();
      log.info('egress stopped');
    })();
    return stopping;
  };
  return {
    url,
    httpPort,
    metricsUrl,
    metricsPort,
    rtpPorts,
    streams,
    sessions,
    metrics,
    workers: pool?.size ?? 0,
    mediaPort: podMux.port,
    replica,
    stop,
  };
}

/**
 * Node's own limits are far too generous for a public endpoint (headers 60 s, the whole request
 * 300 s, checked every 30 s): a client trickling bytes would hold a connection for minutes. The
 * request timeout covers receiving the request only, so a POST whose answer takes the whole ICE
 * gathering budget is still answered; a request past either limit gets 408 and is closed.
 */
function httpTimeouts(http: { headersTimeoutSeconds: number; requestTimeoutSeconds: number }) {
  return {
    headersTimeout: http.headersTimeoutSeconds * 1000,
    requestTimeout: http.requestTimeoutSeconds * 1000,
    connectionsCheckingInterval: 1000,
  };
}

/**
 * What Node itself answers to a request it cannot hand to a handler (a timeout: 408; a header
 * block too large: 431; anything unparsable: 400), as Node's default does, plus nosniff like
 * every other response. A connection whose response has begun is only closed: the server's
 * responses in progress are kept per connection (Node's own handler reads that from the
 * socket's private `_httpMessage`).
 */
function clientErrorHandler(server: Server): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  const inProgress = new WeakMap<object, ServerResponse>();
  server.on('request', (req, res: ServerResponse) => {
    inProgress.set(req.socket, res);
    const done = () => {
      if (inProgress.get(req.socket) === res) inProgress.delete(req.socket);
    };
    res.once('finish', done);
    res.once('close', done);
  });
  return (err, socket) => answerClientError(err, socket, inProgress.get(socket)?.headersSent === true);
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, started: boolean): void {
  if (err.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? '408 Request Timeout'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\nX-Content-Type-Options: nosniff\r\n\r\n`);
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
