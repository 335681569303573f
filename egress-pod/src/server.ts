/**
 * The HTTP side of the pod (koa): errors mapped to statuses in one place, CORS and nosniff on
 * every response, request logs without tokens, health, readiness, the player page and WHEP.
 * Metrics are served by a separate server on their own port (`metricsHandler`): never on the
 * WHEP port, which the ingress routes from outside and which answers any origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { playerPath } from '@corecast/api/light';
import { Router } from './http-cjs.ts';
import Koa from 'koa';
import type { Logger } from './log.ts';
import type { EgressMetrics } from './metrics.ts';
import { PLAYER_CSP, PLAYER_SCRIPT, playerHtml } from './player/page.ts';
import type { Stream } from './stream.ts';
import type { Room } from './replica/siblings.ts';
import type { PoolHealth } from './workers/pool.ts';
import { problem, statusOf, WhepError } from './whep/errors.ts';
import { corsHeaders } from './whep/http.ts';
import { type WhepDeps, whepRouter } from './whep/routes.ts';

/** What the HTTP app serves. */
export interface AppDeps extends WhepDeps {
  /** The pod's metrics. */
  readonly metrics: EgressMetrics;
  /** The pod's logger. */
  readonly log: Logger;
  /** False once shutdown began (readiness turns off first). */
  readonly accepting: () => boolean;
  /** Fan-out worker threads running and wanted (absent without workers). */
  readonly workers?: (() => PoolHealth) | undefined;
  /** This replica's viewers, cap and drain (GET /room; replica/replica.ts). */
  readonly room: () => Room;
}

/** Builds the koa application. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(async (ctx, next) => {
    const started = performance.now();
    // Browsers must take every body as the type it is sent with (a problem+json, the SDP answer).
    ctx.set('X-Content-Type-Options', 'nosniff');
    corsHeaders(ctx, deps.config.cors);
    try {
      await next();
    } catch (err) {
      respondError(ctx, err, deps);
    }
    // The path only: a query may hold an embed token.
    deps.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'http');
  });
  // A connection that fails under a response (a client gone, a request timeout) is the
  // client's business: logged at debug level, not printed to stderr by koa.
  app.on('error', (err: Error, ctx?: Koa.Context) => deps.log.debug({ err: err.message, path: ctx?.path }, 'http connection error'));
  app.use(healthRouter(deps).routes());
  app.use(playerRouter(deps.streams).routes());
  const whep = whepRouter(deps);
  app.use(whep.routes());
  return app;
}

function respondError(ctx: Koa.Context, err: unknown, deps: AppDeps): void {
  const e = err instanceof WhepError ? err : new WhepError('internal', 'internal error');
  if (!(err instanceof WhepError)) deps.log.error({ err, path: ctx.path, method: ctx.method }, 'request failed');
  ctx.status = statusOf(e.kind);
  for (const [name, value] of Object.entries(e.headers)) ctx.set(name, value);
  jsonBody(ctx, problem(e), 'application/problem+json');
  deps.metrics.requestsRefused.inc({ status: String(ctx.status) });
}

/**
 * A JSON body, serialized here as koa would (`JSON.stringify`, `application/json; charset=utf-8`).
 * Given an object, koa tests it against the web `ReadableStream`, `Blob` and `Response` globals,
 * and Node loads the first and last of those on first use — `Response` with all of its fetch
 * implementation (undici: ~0.75 MiB of source and ~2 MiB of heap in all), on the pod's first
 * readiness probe. A string body is taken as it is.
 */
function jsonBody(ctx: Koa.Context, value: unknown, type = 'json'): void {
  ctx.type = type;
  ctx.body = JSON.stringify(value);
}

function healthRouter(deps: AppDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = 'ok\n';
  });
  // Ready once RTP flows for every stream and every fan-out worker runs (and not shutting down);
  // the body says what is missing.
  router.get('/readyz', (ctx) => {
    const streams = Object.fromEntries([...deps.streams.values()].map((s) => [s.id, s.source.state]));
    const workers = deps.workers?.();
    const ready =
      deps.accepting() &&
      Object.values(streams).every((state) => state === 'up') &&
      (workers === undefined || workers.running === workers.wanted);
    ctx.status = ready ? 200 : 503;
    jsonBody(ctx, { ready, accepting: deps.accepting(), streams, ...(workers ? { workers } : {}) });
  });
  // Replica 0 asks each sibling every second where a new viewer fits (replica/siblings.ts). Like
  // the health URLs, not below the ingress path: only reachable inside the cluster.
  router.get('/room', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    jsonBody(ctx, deps.room());
  });
  return router;
}

/**
 * The metrics port's request handler: `GET /metrics` (Prometheus text format), 404 for
 * anything else. No CORS header: nothing in a browser has any business reading it.
 */
export function metricsHandler(metrics: EgressMetrics, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const path = req.url?.split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(path === '/metrics' ? 405 : 404, {
        'Content-Type': 'text/plain; charset=utf-8',
        ...(path === '/metrics' ? { Allow: 'GET, HEAD' } : {}),
      });
      res.end(path === '/metrics' ? 'method not allowed\n' : 'not found; metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('metrics failed\n');
      },
    );
  };
}

function playerRouter(streams: ReadonlyMap<string, Stream>): Router {
  const router = new Router();
  const page = playerPath(':id');
  const known = (ctx: Koa.Context): boolean => {
    if (streams.has(ctx.params.id!)) return true;
    throw new WhepError('not-found', `no process "${ctx.params.id}" is served here`);
  };
  router.get(page, (ctx) => {
    known(ctx);
    ctx.set('Content-Security-Policy', PLAYER_CSP);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = playerHtml(ctx.params.id!);
  });
  router.get(`${page}/player.js`, (ctx) => {
    known(ctx);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = PLAYER_SCRIPT;
  });
  return router;
}
