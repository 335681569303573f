/**
 * Who may watch: `Authorization: Bearer <JWT>` checked by koa-jwt (HS256 with a shared secret,
 * or RS256/ES256 with keys from a JWKS URL fetched by jose), then a claim listing the processes
 * the token may view as `<namespace>/<name>`. Optionally a signed embed URL (`?token=`) instead.
 * 401 carries `WWW-Authenticate: Bearer` (RFC 6750 §3) and a body that says nothing about why
 * (the reason, e.g. the expected issuer, goes to the log only); a valid token for another
 * process gets 403. Tokens are never logged: only the verifier's reason is. koa-jwt and jose
 * (with jsonwebtoken and its dependencies, ~2 MiB of heap) are loaded only when a mode needs them:
 * at start, in the background, so the first request does not wait for them.
 */
import { createHash, KeyObject } from 'node:crypto';
import type { EgressConfig } from '@corecast/api';
import type Koa from 'koa';
import type jwt from 'koa-jwt';
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
  /** Records the request's grant (see `grantOf`) or throws a 401 WhepError. */
  authenticate(ctx: Koa.Context, processId: string): Promise<void>;
  /** Throws a 403 WhepError when the request's grant does not cover `processId`. */
  authorize(ctx: Koa.Context, processId: string): void;
}

const REALM = 'corecast';
const ANYONE: Grant = { processes: '*', limitSubject: false };
/** The grant of each authenticated request. */
const grants = new WeakMap<Koa.Context, Grant>();

/** The grant `authenticate` recorded for a request (anyone's, before that). */
export function grantOf(ctx: Koa.Context): Grant {
  return grants.get(ctx) ?? ANYONE;
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
  const verify = auth.mode === 'none' ? undefined : jwtVerifier(auth, tokenKey(auth, secrets.jwtSecret), now);
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
        grants.set(ctx, { processes: new Set([`${namespace}/${processId}`]), subject: `embed:${digest(query)}`, limitSubject: false });
        return;
      }
      if (!verify) {
        grants.set(ctx, ANYONE);
        return;
      }
      let token: string | null;
      try {
        token = bearer(ctx);
      } catch {
        throw refuse(ctx, "the Authorization header is not 'Bearer <token>'");
      }
      if (!token) throw unauthorized(false);
      const verdict = await verify(ctx);
      if (!verdict.ok) throw refuse(ctx, verdict.reason);
      const { claims } = verdict;
      const entries = processEntries(claims[claim]);
      const bare = entries.filter((e) => e !== '*' && !e.includes('/'));
      if (bare.length > 0) log?.info({ path: ctx.path, bare }, 'token lists processes without a namespace; ignored');
      const sub = typeof claims.sub === 'string' && claims.sub !== '' ? `sub:${claims.sub}` : `token:${digest(token)}`;
      grants.set(ctx, {
        processes: entries.includes('*') ? '*' : new Set(entries.filter((e) => e.includes('/'))),
        subject: sub,
        limitSubject: true,
      });
    },
    authorize(ctx, processId) {
      const grant = grants.get(ctx);
      if (!grant) throw unauthorized(false);
      const p = grant.processes;
      if (p !== '*' && !p.has(`${namespace}/${processId}`) && !p.has(`${namespace}/*`)) {
        throw new WhepError('forbidden', `this token does not allow viewing process "${namespace}/${processId}"`);
      }
    },
  };
}

type AuthConfig = Exclude<EgressConfig['auth'], { mode: 'none' }>;

/** The JOSE header of a token (RFC 7515 §4), as far as choosing its key goes. */
export interface TokenHeader {
  readonly alg?: unknown;
  readonly kid?: unknown;
}

/**
 * The one way a key reaches koa-jwt: its `secret` option as a function of the token's header.
 * HS256 answers the namespace's secret; JWKS answers the public key jose's remote key set holds
 * for the header's `alg` and `kid`, as PEM (jsonwebtoken, under koa-jwt, reads PEM; jose's own
 * key objects are not among the key types koa-jwt declares). A key the set does not have
 * rejects, and koa-jwt refuses the token.
 */
export type TokenKey = (header: TokenHeader) => Promise<jwt.Secret>;

/** The key function of an auth mode. */
export function tokenKey(auth: AuthConfig, secret: Buffer | undefined): TokenKey {
  if (auth.mode === 'hs256') {
    const key = secret ?? Buffer.alloc(0);
    return async () => key;
  }
  const url = new URL(auth.jwksUrl);
  const jwks = import('jose').then(({ createRemoteJWKSet }) => createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30000 }));
  // jose keeps one key object per JWK of the set: each is exported once.
  const pem = new WeakMap<object, string | Buffer>();
  return async (header) => {
    const alg = typeof header.alg === 'string' ? header.alg : '';
    const key = await (await jwks)(typeof header.kid === 'string' ? { alg, kid: header.kid } : { alg });
    let out = pem.get(key);
    if (out === undefined) {
      out = KeyObject.from(key).export({ type: 'spki', format: 'pem' });
      pem.set(key, out);
    }
    return out;
  };
}

/** The claims of an accepted token, or why it was refused (for the log). */
export type Verdict =
  { readonly ok: true; readonly claims: Readonly<Record<string, unknown>> } | { readonly ok: false; readonly reason: string };

/** koa-jwt's options, with the one jsonwebtoken option its typings leave out. */
interface VerifyOptions extends jwt.Options {
  /** Seconds of clock skew allowed on exp and nbf (handed through to jsonwebtoken). */
  readonly clockTolerance: number;
}

/**
 * koa-jwt in a function: the verified claims, or the reason they were refused. Beyond the
 * signature, issuer and audience, a token must carry `exp` and live at most
 * `maxTokenLifetimeSeconds` (RFC 8725 §3.10 asks verifiers to check the claims they rely on;
 * jsonwebtoken checks `exp` only when present).
 */
function jwtVerifier(auth: AuthConfig, key: TokenKey, now: () => number): (ctx: Koa.Context) => Promise<Verdict> {
  const options: VerifyOptions = {
    secret: key,
    // The algorithm list is what stops `alg: none` and HS/RS confusion (RFC 8725 §3.1).
    algorithms: auth.mode === 'hs256' ? ['HS256'] : [...auth.algorithms],
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
    clockTolerance: auth.clockToleranceSeconds,
    key: 'claims',
    // koa-jwt does not throw: it leaves the verifier's own error in ctx.state.jwtOriginalError,
    // whose message is the reason for the log (its 401 would carry the expected issuer and
    // audience in debug mode, and nothing useful otherwise).
    passthrough: true,
    debug: false,
    // Only the Authorization header: a token in the URL would end up in proxy logs.
    getToken: (ctx: Koa.Context) => bearer(ctx),
  };
  const middleware = import('koa-jwt').then(({ default: koaJwt }) => koaJwt(options));
  const max = auth.maxTokenLifetimeSeconds;
  const tolerance = auth.clockToleranceSeconds;
  return async (ctx) => {
    await (
      await middleware
    )(ctx, async () => {});
    const { claims, jwtOriginalError: error }: { claims?: unknown; jwtOriginalError?: unknown } = ctx.state;
    if (error !== undefined) return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    if (!isRecord(claims)) return { ok: false, reason: 'the token carries no claims object' };
    return lifetimeVerdict(claims, now(), max, tolerance);
  };
}

/** `exp` present and within `max` seconds both of now and of `iat` (when there is one). */
export function lifetimeVerdict(claims: Readonly<Record<string, unknown>>, now: number, max: number, tolerance: number): Verdict {
  const { exp, iat } = claims;
  if (typeof exp !== 'number') return { ok: false, reason: 'the token has no exp claim' };
  if (exp - now > max + tolerance) return { ok: false, reason: `the token expires more than ${max} s from now` };
  if (typeof iat === 'number' && exp - iat > max) return { ok: false, reason: `the token lives longer than ${max} s (exp - iat)` };
  return { ok: true, claims };
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
