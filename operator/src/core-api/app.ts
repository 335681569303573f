/**
 * datarhei Core's REST API v3 over Process resources: a koa app answering `/api`, Core's login
 * flow and the process endpoints, in Core's shapes and status codes. It is not started here:
 * whoever runs it listens with `app.listen` (or `app.callback()`) and routes `/api` to it,
 * leaving `/api/v3/process/<id>/whep` to the egress pods.
 */
import { whepPath } from '@corecast/api';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Kube } from '../kube/client.ts';
import type { Clock } from '../runtime/clock.ts';
import { CoreApiError } from './errors.ts';
import { coreIdProblem, processNameFor, quote } from './ids.ts';
import { processRoutes, readJson } from './routes.ts';
import { createLoginLimit } from './login-limit.ts';
import { type AboutOut, LoginIn } from './schemas.ts';
import { ProcessStore } from './store.ts';
import { type Credentials, createTokens, type TokenSettings } from './tokens.ts';

/** Everything the API needs, handed in by whoever wires it (main.ts or a test). */
export interface CoreApiOptions {
  /** API server client (the operator's pooled one). */
  readonly kube: Kube;
  /** The namespace whose Processes the API serves. */
  readonly namespace: string;
  /** Username and password of `POST /api/login` (from a Secret). */
  readonly credentials: Credentials;
  /** Token key and lifetimes; the key is the namespace's egress-pod HS256 key. */
  readonly tokens: TokenSettings;
  readonly clock: Clock;
  readonly log: Logger;
  /** What `GET /api` says about this server. */
  readonly about?: { readonly name?: string; readonly id?: string; readonly version?: string };
  /** Largest request body accepted (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /**
   * Origins whose pages may call the API (a UI served elsewhere, as Core's UI often is); '*'
   * (the default) allows any. Credentials travel in the Authorization header, never in cookies,
   * so a page of another origin still needs the user's password or token.
   */
  readonly corsOrigins?: '*' | readonly string[];
  /** Failed logins allowed per client address and minute before 429 (default 10). */
  readonly loginFailuresPerMinute?: number;
}

/** The Core API version whose endpoints and shapes this app follows (clients read it from `GET /api`). */
export const CORE_API_VERSION = '16.7.2';

/** Builds the koa app. Throws on settings the egress pods would not accept (a short key, a long lifetime). */
export function createCoreApi(options: CoreApiOptions): Koa {
  const { clock, log, namespace } = options;
  const tokens = createTokens(options.tokens, options.credentials, namespace, clock);
  const store = new ProcessStore(options.kube, namespace);
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const startedAt = clock.now();
  const name = options.about?.name ?? `corecast/${namespace}`;

  const limit = createLoginLimit(options.loginFailuresPerMinute ?? 10, clock);

  const app = new Koa();
  // Behind the ingress: the client address is the last X-Forwarded-For entry (the one the
  // ingress added), not the first, which the client can write itself.
  app.proxy = true;
  app.maxIpsCount = 1;
  app.use(async (ctx, next) => {
    try {
      await next();
      // Statuses the routers set without a body (404 no route, 405 from allowedMethods) get Core's shape too.
      if (ctx.status === 404 && ctx.body == null) throw new CoreApiError(404, `No such endpoint: ${ctx.method} ${ctx.path}`);
      if (ctx.status === 405 && ctx.body == null) throw new CoreApiError(405, `${ctx.method} is not allowed on ${ctx.path}`);
    } catch (err) {
      const e = err instanceof CoreApiError ? err : internal(err, log, ctx);
      ctx.status = e.status;
      ctx.set(e.headers);
      ctx.body = e.body();
    }
  });

  app.use(cors(options.corsOrigins ?? '*'));

  const router = new Router();
  /** The subject of a valid access token in the request, or undefined. */
  const bearerSubject = async (ctx: Koa.Context): Promise<string | undefined> => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'));
    return m ? tokens.verifyAccess(m[1]!) : undefined;
  };

  router.get('/api', async (ctx) => {
    const full = (await bearerSubject(ctx)) !== undefined;
    // Every field only for an authenticated client (Core's description: only the name otherwise);
    // `app` and `auths` also tell a client which login to offer.
    const about: AboutOut = {
      app: 'Corecast',
      auths: ['localjwt'],
      created_at: full ? new Date(startedAt).toISOString() : '',
      id: full ? (options.about?.id ?? `corecast-${namespace}`) : '',
      name,
      uptime_seconds: full ? Math.floor((clock.now() - startedAt) / 1000) : 0,
      version: {
        number: full ? (options.about?.version ?? CORE_API_VERSION) : '',
        repository_commit: '',
        repository_branch: '',
        build_date: '',
        arch: full ? `${process.platform}/${process.arch}` : '',
        compiler: full ? `node ${process.version}` : '',
      },
    };
    ctx.body = about;
  });

  router.post('/api/login', async (ctx) => {
    const wait = limit.retryAfter(ctx.ip);
    if (wait > 0) throw new CoreApiError(429, 'Too many failed logins; try again later', [], { 'Retry-After': String(wait) });
    const parsed = LoginIn.safeParse(await readJson(ctx, 64 * 1024));
    if (!parsed.success) throw new CoreApiError(400, 'Invalid login data', ['username and password (strings) are required']);
    const pair = await tokens.login(parsed.data.username, parsed.data.password);
    if (!pair) {
      limit.failed(ctx.ip);
      log.info({ user: parsed.data.username.slice(0, 64), client: ctx.ip }, 'login refused');
      throw new CoreApiError(403, 'Invalid username or password');
    }
    ctx.body = pair;
  });

  // Core documents the refresh as GET with the refresh token as bearer; POST is answered the same.
  const refresh = async (ctx: Koa.Context) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'));
    const renewed = m ? await tokens.refresh(m[1]!) : undefined;
    if (!renewed) throw unauthorized('Missing or invalid refresh token');
    ctx.body = renewed;
  };
  router.get('/api/login/refresh', refresh);
  router.post('/api/login/refresh', refresh);

  // The WHEP endpoint and player of a process whose Core id is not its name. The ingress sends
  // `/api/v3/process/<name>/whep…` to the egress pod; a Core id that is not a name has no such
  // route and lands here: 307 (method and body kept) to the name's path. With a valid access
  // token the Process is looked up by id (one kubectl named otherwise is found too); without
  // one (a player page carries its token in the fragment) the mapped name is answered, with no
  // read, so an anonymous client learns nothing about which ids exist.
  const whep = async (ctx: Koa.Context) => {
    const id = String(ctx.params.id ?? '');
    const problem = coreIdProblem(id);
    if (problem) throw new CoreApiError(404, `Unknown process ID ${quote(id)}`);
    const name = (await bearerSubject(ctx)) !== undefined ? (await store.find(id)).metadata.name : processNameFor(id);
    // The id's own path is the egress pod's: reaching here, that Process has no WHEP endpoint.
    if (name === id) throw new CoreApiError(404, `Process ${quote(id)} has no WHEP endpoint (is WebRTC on?)`);
    // What follows `<id>/whep` in the path as sent (still encoded): `/player`, a session.
    const afterPrefix = ctx.path.slice('/api/v3/process/'.length);
    const rest = afterPrefix.slice(afterPrefix.indexOf('/') + '/whep'.length);
    ctx.status = 307;
    ctx.set('Location', `${whepPath(name)}${rest}${ctx.search}`);
    ctx.set('Cache-Control', 'no-store');
  };
  for (const path of ['/api/v3/process/:id/whep', '/api/v3/process/:id/whep/{*rest}']) {
    router.get(path, whep);
    router.post(path, whep);
  }

  const v3 = new Router({ prefix: '/api/v3' });
  v3.use(async (ctx, next) => {
    const subject = await bearerSubject(ctx);
    if (!subject) throw unauthorized('Missing or invalid JWT token');
    ctx.state.subject = subject;
    await next();
  });
  processRoutes(v3, { store, clock, log, maxBody });

  app.use(router.routes()).use(router.allowedMethods());
  app.use(v3.routes()).use(v3.allowedMethods());
  return app;
}

/** CORS (Fetch standard): allowed origins get the headers; a preflight is answered here. */
function cors(origins: '*' | readonly string[]): Koa.Middleware {
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    const allowed = origin !== '' && (origins === '*' || origins.includes(origin));
    if (allowed) {
      ctx.set('Access-Control-Allow-Origin', origins === '*' ? '*' : origin);
      if (origins !== '*') ctx.vary('Origin');
    }
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      if (allowed) {
        ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE');
        ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        ctx.set('Access-Control-Max-Age', '600');
      }
      ctx.status = 204;
      return;
    }
    await next();
  };
}

/** 401 with the RFC 6750 challenge. */
function unauthorized(message: string): CoreApiError {
  return new CoreApiError(401, message, [], { 'WWW-Authenticate': 'Bearer realm="corecast"' });
}

/** An unexpected failure: logged in full, answered without detail. */
function internal(err: unknown, log: Logger, ctx: Koa.Context): CoreApiError {
  const status = (err as { status?: unknown }).status;
  // koa's own errors (e.g. 405 from allowedMethods) carry a status meant for the client.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new CoreApiError(status, (err as Error).message);
  }
  log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
  return new CoreApiError(500, 'Internal error; the server log has the cause');
}
