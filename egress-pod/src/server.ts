/**
 * The HTTP side of the pod (koa): errors mapped to statuses in one place, CORS on every
 * response, request logs without tokens, health, readiness, metrics, the player page and WHEP.
 */

import { playerPath } from '@corecast/api';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from './log.ts';
import type { EgressMetrics } from './metrics.ts';
import { PLAYER_CSP, PLAYER_SCRIPT, playerHtml } from './player/page.ts';
import type { Stream } from './stream.ts';
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
}

/** Builds the koa application. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(async (ctx, next) => {
    const started = performance.now();
    corsHeaders(ctx, deps.config.cors);
    try {
      await next();
    } catch (err) {
      respondError(ctx, err, deps);
    }
    // The path only: a query may hold an embed token.
    deps.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'http');
  });
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
  ctx.type = 'application/problem+json';
  ctx.body = problem(e);
  deps.metrics.requestsRefused.inc({ status: String(ctx.status) });
}

function healthRouter(deps: AppDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = 'ok\n';
  });
  // Ready once RTP flows for every stream (and not shutting down); the body says which is not.
  router.get('/readyz', (ctx) => {
    const streams = Object.fromEntries([...deps.streams.values()].map((s) => [s.id, s.source.state]));
    const ready = deps.accepting() && Object.values(streams).every((state) => state === 'up');
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready, accepting: deps.accepting(), streams };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
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
