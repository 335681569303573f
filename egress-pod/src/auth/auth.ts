/**
 * Who may watch: `Authorization: Bearer <JWT>` checked by koa-jwt (HS256 with a shared secret,
 * or RS256/ES256 with keys from a JWKS URL fetched by jose), then a claim listing the processes
 * the token may view. Optionally a signed embed URL (`?token=`) instead. 401 carries
 * `WWW-Authenticate: Bearer` (RFC 6750 §3); a valid token for another process gets 403.
 * Tokens are never logged: only the verifier's reason is.
 */
import { KeyObject } from 'node:crypto';
import type { EgressConfig } from '@corecast/api';
import { createRemoteJWKSet } from 'jose';
import type Koa from 'koa';
import jwt from 'koa-jwt';
import { WhepError } from '../whep/errors.ts';
import { checkEmbedToken } from './embed.ts';

/** What an authenticated request may view. */
export interface Grant {
  /** Process ids, or '*' for all. */
  readonly processes: '*' | ReadonlySet<string>;
}

/** Authentication (middleware) and authorization (per process). */
export interface Auth {
  /** Sets `ctx.state.grant` or throws a 401 WhepError. */
  authenticate(ctx: Koa.Context, processId: string): Promise<void>;
  /** Throws a 403 WhepError when the request's grant does not cover `processId`. */
  authorize(ctx: Koa.Context, processId: string): void;
}

const REALM = 'corecast';
const ALL: Grant = { processes: '*' };

/** Builds the request authenticator from the configuration and its secrets. */
export function createAuth(
  config: EgressConfig,
  secrets: { jwtSecret?: Buffer; embedSecret?: Buffer },
  now = () => Date.now() / 1000,
): Auth {
  const auth = config.auth;
  const verify = auth.mode === 'none' ? undefined : jwtVerifier(auth, secrets.jwtSecret);
  const claim = auth.mode === 'none' ? '' : auth.processesClaim;
  return {
    async authenticate(ctx, processId) {
      const query = ctx.query.token;
      if (config.embed.enabled && secrets.embedSecret && typeof query === 'string' && !ctx.get('authorization')) {
        const why = checkEmbedToken(secrets.embedSecret, query, processId, now(), config.embed.maxTtlSeconds);
        if (why) throw unauthorized(why, true);
        ctx.state.grant = { processes: new Set([processId]) } satisfies Grant;
        return;
      }
      if (!verify) {
        ctx.state.grant = ALL;
        return;
      }
      const claims = await verify(ctx);
      ctx.state.grant = grantOf(claims, claim);
    },
    authorize(ctx, processId) {
      const grant = ctx.state.grant as Grant | undefined;
      if (!grant) throw unauthorized('no credentials', false);
      if (grant.processes !== '*' && !grant.processes.has(processId)) {
        throw new WhepError('forbidden', `this token does not allow viewing process "${processId}"`);
      }
    },
  };
}

type AuthConfig = Exclude<EgressConfig['auth'], { mode: 'none' }>;

/** koa-jwt in a function: resolves the verified claims or throws a 401 WhepError. */
function jwtVerifier(auth: AuthConfig, secret: Buffer | undefined): (ctx: Koa.Context) => Promise<Record<string, unknown>> {
  const options = {
    // The algorithm list is what stops `alg: none` and HS/RS confusion (RFC 8725 §3.1).
    algorithms: auth.mode === 'hs256' ? ['HS256'] : [...auth.algorithms],
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
    clockTolerance: auth.clockToleranceSeconds,
    key: 'claims',
    debug: true,
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
  return async (ctx) => {
    try {
      await middleware(ctx, async () => {});
    } catch (err) {
      const e = err as { status?: number; message?: string; originalError?: Error };
      if (e.status === 401) {
        const reason = e.originalError?.message ?? e.message ?? 'invalid token';
        const missing = reason === 'Token not found';
        throw unauthorized(missing ? 'no bearer token' : reason, !missing);
      }
      throw err;
    }
    return ctx.state.claims as Record<string, unknown>;
  };
}

/** The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if any. */
function bearer(ctx: Koa.Context): string | null {
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(ctx.get('authorization'));
  if (ctx.get('authorization') && !m) throw unauthorized('the Authorization header is not "Bearer <token>"', true);
  return m ? m[1]! : null;
}

/** The processes a token lists in its claim: `"*"`, or an array of ids (which may hold "*"). */
function grantOf(claims: Record<string, unknown>, claim: string): Grant {
  const value = claims[claim];
  if (value === '*') return ALL;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return value.includes('*') ? ALL : { processes: new Set(value as string[]) };
  }
  if (typeof value === 'string') return { processes: new Set([value]) };
  return { processes: new Set() };
}

/** A 401 with the RFC 6750 §3 challenge: no error code when no credentials were sent. */
function unauthorized(reason: string, invalidToken: boolean): WhepError {
  const quoted = reason.replace(/["\\]/g, "'");
  const challenge = invalidToken
    ? `Bearer realm="${REALM}", error="invalid_token", error_description="${quoted}"`
    : `Bearer realm="${REALM}"`;
  return new WhepError(
    'unauthorized',
    invalidToken ? `invalid credentials: ${reason}` : 'credentials required: send Authorization: Bearer <token>',
    {
      'WWW-Authenticate': challenge,
    },
  );
}
