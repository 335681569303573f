/** Small HTTP pieces of the WHEP handlers: bounded bodies, content types, CORS and Link headers. */
import { readBounded } from '@corecast/api/light';
import type Koa from 'koa';
import type { IceServerEntry } from '../config.ts';
import { WhepError } from './errors.ts';

/**
 * Reads the request body as UTF-8, never more than `limit` bytes: a declared Content-Length
 * above it is refused before reading, and a body that grows past it is cut off (413).
 */
export async function readBody(ctx: Koa.Context, limit: number): Promise<string> {
  const text = await readBounded(ctx.req, Number(ctx.get('content-length') || '0'), limit);
  if (text === undefined) throw tooLarge(ctx, limit);
  return text;
}

function tooLarge(ctx: Koa.Context, limit: number): WhepError {
  // The rest of the body is not read: close the connection after answering.
  ctx.set('Connection', 'close');
  return new WhepError('payload-too-large', `the body is larger than ${limit} bytes`);
}

/** Throws 415 unless the request's Content-Type is `type` (parameters allowed). */
export function requireContentType(ctx: Koa.Context, type: string): void {
  const given = ctx.get('content-type');
  if (!given || ctx.is(type) === false) {
    throw new WhepError('unsupported-media-type', `Content-Type must be ${type}${given ? `, not ${given.split(';')[0]}` : ''}`);
  }
}

/** CORS settings. */
export interface CorsSettings {
  /** '*' or a list of allowed origins. */
  readonly allowOrigin: '*' | readonly string[];
}

/** Methods of the WHEP endpoint and its sessions (egress-pod/README.md, "WHEP behaviour"). */
export const CORS_METHODS = 'OPTIONS, GET, HEAD, POST, PATCH, DELETE';

/** Adds the CORS headers every response carries; on a preflight also the allowed methods and headers. */
export function corsHeaders(ctx: Koa.Context, settings: CorsSettings): void {
  const origin = ctx.get('origin');
  if (settings.allowOrigin === '*') ctx.set('Access-Control-Allow-Origin', '*');
  else {
    ctx.vary('Origin');
    if (origin && settings.allowOrigin.includes(origin)) ctx.set('Access-Control-Allow-Origin', origin);
  }
  ctx.set('Access-Control-Expose-Headers', 'Location, ETag, Link, Retry-After, Accept-Post, Accept-Patch');
  if (ctx.method === 'OPTIONS' && isPreflight(ctx)) {
    ctx.set('Access-Control-Allow-Methods', CORS_METHODS);
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
    ctx.set('Access-Control-Max-Age', '600');
  }
}

/** A CORS preflight (Fetch standard §3.2.2): OPTIONS with Access-Control-Request-Method. */
export function isPreflight(ctx: Koa.Context): boolean {
  return ctx.method === 'OPTIONS' && ctx.get('access-control-request-method') !== '';
}

/** RFC 8288 quoted-string content. */
function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * `Link: <url>; rel="ice-server"` values for STUN/TURN servers, with TURN credentials as
 * RFC 9725 §4.6 writes them (username, credential, credential-type="password").
 */
export function iceServerLinks(servers: readonly IceServerEntry[]): string[] {
  return servers.flatMap((s) =>
    s.urls.map((url) => {
      const creds =
        s.username !== undefined && s.credential !== undefined && url.startsWith('turn')
          ? `; username=${quote(s.username)}; credential=${quote(s.credential)}; credential-type="password"`
          : '';
      return `<${url}>; rel="ice-server"${creds}`;
    }),
  );
}
