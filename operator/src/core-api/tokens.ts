/**
 * Core's JWT flow: `POST /api/login` trades the username and password for an access token and
 * a refresh token; the refresh token buys new access tokens. Both are HS256, signed with the
 * namespace's viewer-token key, so an access token also plays the namespace's streams on the
 * egress pods: it carries `exp` and `iat` (the egress pods refuse tokens without `exp` or living
 * longer than their cap), a namespaced subject `<namespace>/<username>` and the processes claim
 * `<namespace>/*` (docs/security.md). A refresh token carries no processes claim, so the egress
 * pods answer it 403, and this API accepts each kind only where it belongs (`usefor`, as Core).
 */
import { MIN_SECRET_BYTES, PROCESSES_CLAIM } from '@corecast/api';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../runtime/clock.ts';

/** How tokens are made; `secret` is the namespace's HS256 key (`CORECAST_JWT_SECRET` of its egress pods). */
export interface TokenSettings {
  readonly secret: Uint8Array;
  /** `iss` to set (and require): the egress pods' `auth.issuer`, when they check one. */
  readonly issuer?: string;
  /** `aud` to set (and require): the egress pods' `auth.audience`, when they check one. */
  readonly audience?: string;
  /** Lifetime of access tokens (Core: 10 minutes). */
  readonly accessTtlSeconds?: number;
  /** Lifetime of refresh tokens (Core: 24 hours). */
  readonly refreshTtlSeconds?: number;
  /** The egress pods' `auth.maxTokenLifetimeSeconds`: no token lives longer. */
  readonly maxTokenLifetimeSeconds?: number;
  /** Name of the processes claim, if the egress pods use another (`auth.processesClaim`). */
  readonly processesClaim?: string;
}

/** The username and password `POST /api/login` accepts (from a Secret). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** What the API needs of tokens. */
export interface Tokens {
  /** Access and refresh token for valid credentials; undefined otherwise. */
  login(username: string, password: string): Promise<{ access_token: string; refresh_token: string } | undefined>;
  /** A new access token for a valid refresh token; undefined otherwise. */
  refresh(refreshToken: string): Promise<{ access_token: string } | undefined>;
  /** The subject of a valid access token; undefined otherwise. */
  verifyAccess(accessToken: string): Promise<string | undefined>;
}

type Use = 'access' | 'refresh';

/** Builds the token issuer and checker; throws on settings the egress pods would not accept. */
export function createTokens(settings: TokenSettings, credentials: Credentials, namespace: string, clock: Clock): Tokens {
  const max = settings.maxTokenLifetimeSeconds ?? 86400;
  // Core's lifetimes by default (10 minutes, 24 hours), never past the egress pods' cap.
  const ttl = { access: settings.accessTtlSeconds ?? Math.min(600, max), refresh: settings.refreshTtlSeconds ?? Math.min(86400, max) };
  if (settings.secret.length < MIN_SECRET_BYTES) {
    throw new Error(`the token key is ${settings.secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed`);
  }
  for (const use of ['access', 'refresh'] as const) {
    if (!(ttl[use] >= 1 && ttl[use] <= max)) throw new Error(`${use}TtlSeconds must be from 1 to ${max} (the token lifetime cap)`);
  }
  if (!credentials.username || !credentials.password) throw new Error('the API credentials need a username and a password');
  const subject = `${namespace}/${credentials.username}`;
  const claim = settings.processesClaim ?? PROCESSES_CLAIM;
  const nowS = () => Math.floor(clock.now() / 1000);

  const sign = (use: Use): Promise<string> => {
    const iat = nowS();
    const jwt = new SignJWT({ usefor: use, ...(use === 'access' ? { [claim]: [`${namespace}/*`] } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(subject)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl[use])
      .setJti(randomUUID());
    if (settings.issuer) jwt.setIssuer(settings.issuer);
    if (settings.audience) jwt.setAudience(settings.audience);
    return jwt.sign(settings.secret);
  };

  const verify = async (token: string, use: Use): Promise<string | undefined> => {
    try {
      const { payload } = await jwtVerify(token, settings.secret, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'iat', 'sub'],
        currentDate: new Date(clock.now()),
        ...(settings.issuer ? { issuer: settings.issuer } : {}),
        ...(settings.audience ? { audience: settings.audience } : {}),
      });
      // The subject names the namespace and the user: a token of another namespace's API (same
      // key by mistake) or of a username since replaced in the Secret is refused.
      if (payload.usefor !== use || payload.sub !== subject) return undefined;
      if ((payload.exp ?? 0) - (payload.iat ?? 0) > max) return undefined;
      return payload.sub;
    } catch {
      return undefined;
    }
  };

  return {
    async login(username, password) {
      // Compare digests so the time taken says nothing about how much of either matched.
      const ok = same(username, credentials.username) && same(password, credentials.password);
      if (!ok) return undefined;
      return { access_token: await sign('access'), refresh_token: await sign('refresh') };
    },
    async refresh(refreshToken) {
      return (await verify(refreshToken, 'refresh')) ? { access_token: await sign('access') } : undefined;
    },
    verifyAccess: (token) => verify(token, 'access'),
  };
}

function same(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}
