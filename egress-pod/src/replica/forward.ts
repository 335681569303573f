/**
 * Replica 0 passing a WHEP request on to a sibling (docs/scale-out.md, "Routing"): a viewer's
 * POST placed there, and the PATCH, DELETE and OPTIONS of a session the sibling holds. Every
 * request enters through replica 0 (the one Service, the one ingress path), so the session URL
 * stays the same for its whole life. The request carries what the sibling judges it by — the
 * credential, the content type, the origin, If-Match, the query (a signed embed token) — and the
 * client's address as X-Forwarded-For, which the sibling believes from replica 0 alone. The
 * answer goes back as the sibling gave it, except CORS, which replica 0 writes itself.
 */
import type Koa from 'koa';
import type { RelayTarget } from '@corecast/api';
import { WhepError } from '../whep/errors.ts';
import { hostOf } from './siblings.ts';

/** Request headers a sibling needs. */
const REQUEST_HEADERS = ['authorization', 'content-type', 'origin', 'if-match'] as const;
/** Answer headers passed back (CORS and nosniff are replica 0's own). */
const ANSWER_HEADERS = [
  'content-type',
  'location',
  'etag',
  'link',
  'retry-after',
  'www-authenticate',
  'allow',
  'accept-patch',
  'accept-post',
];

/** A sibling's answer, not yet given to the client. */
export interface ForwardAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/**
 * Sends the request in `ctx` (with `body`, already read) to the same path on `target`; throws
 * when the sibling cannot be reached or does not answer within `timeoutMs`, and a WhepError
 * when the client went away first.
 */
export async function forward(
  ctx: Koa.Context,
  target: RelayTarget,
  client: string,
  body: string | undefined,
  timeoutMs: number,
): Promise<ForwardAnswer> {
  const headers: Record<string, string> = { 'x-forwarded-for': client };
  for (const name of REQUEST_HEADERS) {
    const value = ctx.get(name);
    if (value !== '') headers[name] = value;
  }
  const url = `http://${hostOf(target.address)}:${target.httpPort}${ctx.path}${ctx.querystring ? `?${ctx.querystring}` : ''}`;
  // A viewer that goes away before the answer takes its request on the sibling with it: the
  // sibling frees the slot at once, as replica 0 does for its own (routes.ts).
  const gone = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) gone.abort();
  };
  ctx.res.once('close', onClose);
  try {
    const res = await fetch(url, {
      method: ctx.method,
      headers,
      ...(body === undefined ? {} : { body }),
      redirect: 'manual',
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), gone.signal]),
    });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  } catch (err) {
    // Nobody reads this answer; the handler must only stop (and not blame the sibling).
    if (gone.signal.aborted) throw new WhepError('bad-request', 'the request was aborted before the answer');
    throw err;
  } finally {
    ctx.res.off('close', onClose);
  }
}

/** Gives a sibling's answer to the client. */
export function respond(ctx: Koa.Context, answer: ForwardAnswer): void {
  ctx.status = answer.status;
  for (const name of ANSWER_HEADERS) {
    const value = answer.headers.get(name);
    if (value !== null) ctx.set(name, value);
  }
  // koa would rewrite an empty body's status (204) and type; a body only when there is one.
  if (answer.body.length > 0) ctx.body = answer.body;
}

/** The replica index of a session id (`r<i>-…`), or 0 for one of replica 0's own. */
export function replicaOfSession(id: string): number {
  const m = /^r([1-9]\d?)-/.exec(id);
  return m ? Number(m[1]) : 0;
}

/** The prefix of session ids made on replica `index` ('' on replica 0). */
export function sessionPrefix(index: number): string {
  return index === 0 ? '' : `r${index}-`;
}
