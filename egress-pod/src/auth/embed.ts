/**
 * Signed, expiring embed URLs: `?token=<expiry>.<signature>` where the signature is
 * HMAC-SHA256 over the namespace, the process id and the expiry. Off by default; for public
 * pages that embed a player without a login. The token names one process of one namespace and
 * cannot be widened: a route that moves to another namespace's process of the same name does
 * not take the URL with it. (v1 signatures, without the namespace, no longer match.)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const CONTEXT = 'corecast-embed-v2';

function signature(secret: Buffer | string, namespace: string, processId: string, expiresAt: number): Buffer {
  return createHmac('sha256', secret).update(`${CONTEXT}\n${namespace}\n${processId}\n${expiresAt}`).digest();
}

/** Mints an embed token for process `processId` of `namespace`, valid until `expiresAt` (Unix seconds). */
export function signEmbedToken(secret: Buffer | string, namespace: string, processId: string, expiresAt: number): string {
  const exp = Math.floor(expiresAt);
  return `${exp}.${signature(secret, namespace, processId, exp).toString('base64url')}`;
}

/** Why an embed token was refused, or undefined when it is valid for `processId` now. */
export function checkEmbedToken(
  secret: Buffer,
  token: string,
  namespace: string,
  processId: string,
  nowSeconds: number,
  maxTtlSeconds: number,
): string | undefined {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return 'malformed embed token';
  const exp = Number(m[1]);
  const given = Buffer.from(m[2]!, 'base64url');
  const expected = signature(secret, namespace, processId, exp);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'embed token signature does not match this process';
  if (exp <= nowSeconds) return 'embed token expired';
  if (exp - nowSeconds > maxTtlSeconds) return `embed token lives longer than the allowed ${maxTtlSeconds} s`;
  return undefined;
}
