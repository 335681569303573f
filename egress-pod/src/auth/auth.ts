/**
 * Who may watch: `Authorization: Bearer <JWT>` checked by koa-jwt (HS256 with a shared secret,
 * or RS256/ES256 with keys from a JWKS URL fetched by jose), then a claim listing the processes
 * the token may view as `<namespace>/<name>`. Optionally a signed embed URL (`?token=`) instead.
 * 401 carries `WWW-Authenticate: Bearer` (RFC 6750 §3) and a body that says nothing about why
 * (the reason, e.g. the expected issuer, goes to the log only); a valid token for another
 * process gets 403. Tokens are never logged: only the verifier's reason is.
 */
import { createHash, KeyObject } from 'node:crypto';
import type { EgressConfig } from '@corecast/api';
import { createRemoteJWKSet } from 'jose';
import type Koa from 'koa';
import jwt from 'koa-jwt';
import type { Logger } from '../log.ts';
import { WhepError } from '../whep/errors.ts';
import { checkEmbedToken } from './embed.ts';

/** What an authenticated request may view, and who is asking. */
export interface Grant {
  /** `<namespace>/<name>` or `<namespace>/*` entries, or '*' for all. */
  readonly processes: '*' | ReadonlySet<string>;
  /**
   * Who holds the credential, for session limits and ownership: `sub:<sub>`, or a hash of the
   * token when it has no `sub`; undefined when auth is off (anyone).
   */
  readonly subject?: string;
  /** The per-subject session cap applies (not to embed URLs: a public page shares one). */
  readonly limitSubject: boolean;
}

/** Authentication (middleware) and authorization (per process). */
export interface Auth {
  /** Sets `ctx.state.grant` or throws a 401 WhepError. */
  authenticate(ctx: Koa.Context, processId: string): Promise<void>;
  /** Throws a 403 WhepError when the request's grant does not cover `processId`. */
  authorize(ctx: Koa.Context, processId: string): void;
}

const REALM = 'corecast';
const ANYONE: Grant = { processes: '*', limitSubject: false };

/** The grant `authenticate` set on a request (anyone's, before that). */
export function grantOf(ctx: Koa.Context): Grant {
  return (ctx.state.grant as Grant | undefined) ?? ANYONE;
}

/** Builds the request authenticator from the configuration and its secrets. */
export function createAuth(
  config: EgressConfig,
  secrets: { jwtSecret?: Buffer; embedSecret?: Buffer },
  options: { now?: () => number; log?: Logger } = {},
): Auth {
  const now = options.now ?? (() => Date.now() / 1000);
  const log = options.log;
  const auth = config.auth;
  const namespace = config.namespace ?? '';
  const verify = auth.mode === 'none' ? undefined : jwtVerifier(auth, secrets.jwtSecret, now);
  const claim = auth.mode === 'none' ? '' : auth.processesClaim;
  /** A 401 with a generic body; the reason goes to the log (never the token). */
  const refuse = (ctx: Koa.Context, reason: string): WhepError => {
    log?.info({ path: ctx.path, reason }, 'credentials refused');
    return unauthorized(true);
  };
  return {
    async authenticate(ctx, processId) {
      const query = ctx.query.token;
      if (config.embed.enabled && secrets.embedSecret && typeof query === 'string' && !ctx.get('authorization')) {
        const why = checkEmbedToken(secrets.embedSecret, query, namespace, processId, now(), config.embed.maxTtlSeconds);
        if (why) throw refuse(ctx, why);
        ctx.state.grant = {
          processes: new Set([`${namespace}/${processId}`]),
          subject: `embed:${digest(query)}`,
          limitSubject: false,
        } satisfies Grant;
        return;
      }
      if (!verify) {
        ctx.state.grant = ANYONE;
        return;
      }
      let token: string | null;
      try {
        token = bearer(ctx);
      } catch {
        throw refuse(ctx, "the Authorization header is not 'Bearer <token>'");
      }
      if (!token) throw unauthorized(false);
      let claims: Record<string, unknown>;
      try {
        claims = await verify(ctx);
      } catch (err) {
        if (err instanceof TokenRefused) throw refuse(ctx, err.message);
        throw err;
      }
      const entries = processEntries(claims[claim]);
      const bare = entries.filter((e) => e !== '*' && !e.includes('/'));
      if (bare.length > 0) log?.info({ path: ctx.path, bare }, 'token lists processes without a namespace; ignored');
      const sub = typeof claims.sub === 'string' && claims.sub !== '' ? `sub:${claims.sub}` : `token:${digest(token)}`;
      ctx.state.grant = {
        processes: entries.includes('*') ? '*' : new Set(entries.filter((e) => e.includes('/'))),
        subject: sub,
        limitSubject: true,
      } satisfies Grant;
    },
    authorize(ctx, processId) {
      const grant = ctx.state.grant as Grant | undefined;
      if (!grant) throw unauthorized(false);
      const p = grant.processes;
      if (p !== '*' && !p.has(`${namespace}/${processId}`) && !p.has(`${namespace}/*`)) {
        throw new WhepError('forbidden', `this token does not allow viewing process "${namespace}/${processId}"`);
      }
    },
  };
}

type AuthConfig = Exclude<EgressConfig['auth'], { mode: 'none' }>;

/** A token the verifier refused, with the reason for the log. */
class TokenRefused extends Error {}

/**
 * koa-jwt in a function: resolves the verified claims or throws TokenRefused. Beyond the
 * signature, issuer and audience, a token must carry `exp` and live at most
 * `maxTokenLifetimeSeconds` (RFC 8725 §3.10 asks verifiers to check the claims they rely on;
 * jsonwebtoken checks `exp` only when present).
 */
function jwtVerifier(
  auth: AuthConfig,
  secret: Buffer | undefined,
  now: () => number,
): (ctx: Koa.Context) => Promise<Record<string, unknown>> {
  const options = {
    // The algorithm list is what stops `alg: none` and HS/RS confusion (RFC 8725 §3.1).
    algorithms: auth.mode === 'hs256' ? ['HS256'] : [...auth.algorithms],
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
    clockTolerance: auth.clockToleranceSeconds,
    key: 'claims',
    // Off: with debug, koa-jwt's message names the expected issuer and audience. The reason is
    // read from originalError and logged instead.
    debug: false,
    // Only the Authorization header: a token in the URL would end up in proxy logs.
    getToken: (ctx: Koa.Context) => bearer(ctx),
  };
  let keySource: jwt.Options['secret'];
  if (auth.mode === 'hs256') keySource = secret ?? Buffer.alloc(0);
  else {
    const jwks = createRemoteJWKSet(new URL(auth.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30000 });
    // jose yields a WebCrypto key; jsonwebtoken (under koa-jwt) takes a KeyObject, which the
    // typings of koa-jwt do not list, hence the cast.
    keySource = (async (header: { alg?: string; kid?: string }) =>
      KeyObject.from(await jwks({ alg: header.alg ?? '', ...(header.kid ? { kid: header.kid } : {}) }))) as unknown as jwt.SecretLoader;
  }
  const middleware = jwt({ ...options, secret: keySource } as jwt.Options);
  const max = auth.maxTokenLifetimeSeconds;
  const tolerance = auth.clockToleranceSeconds;
  return async (ctx) => {
    try {
      await middleware(ctx, async () => {});
    } catch (err) {
      const e = err as { status?: number; message?: string; originalError?: Error };
      if (e.status === 401) throw new TokenRefused(e.originalError?.message ?? e.message ?? 'invalid token');
      throw err;
    }
    const claims = ctx.state.claims as Record<string, unknown>;
    const exp = claims.exp;
    if (typeof exp !== 'number') throw new TokenRefused('the token has no exp claim');
    if (exp - now() > max + tolerance) throw new TokenRefused(`the token expires more than ${max} s from now`);
    if (typeof claims.iat === 'number' && exp - claims.iat > max)
      throw new TokenRefused(`the token lives longer than ${max} s (exp - iat)`);
    return claims;
  };
}

/** The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if any. */
function bearer(ctx: Koa.Context): string | null {
  const header = ctx.get('authorization');
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  if (header && !m) throw unauthorized(true);
  return m ? m[1]! : null;
}

/** The entries of a token's processes claim: `"*"`, one string, or an array of strings. */
function processEntries(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** A short, one-way name for a credential (the token itself is never kept or logged). */
function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}

/**
 * A 401 with the RFC 6750 §3 challenge: no error code when no credentials were sent,
 * `invalid_token` otherwise. Neither the body nor the header says why (RFC 6750 §3 makes
 * error_description optional): the reason is in the pod's log.
 */
function unauthorized(invalidToken: boolean): WhepError {
  return new WhepError('unauthorized', invalidToken ? 'invalid credentials' : 'credentials required: send Authorization: Bearer <token>', {
    'WWW-Authenticate': invalidToken ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`,
  });
}
