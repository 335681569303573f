/**
 * The WHEP endpoint and its session URLs (draft-ietf-wish-whep, RFC 9725 for the shared
 * parts), one thin handler per verb, each in the same order: who is asking, which process or
 * session, content type, bounded body, then the session store. Statuses: egress-pod/README.md, "WHEP behaviour".
 */

import type { EgressConfig } from '@corecast/api';
import { whepPath } from '@corecast/api/light';
import { Router } from '../http-cjs.ts';
import type Koa from 'koa';
import { type Auth, grantOf } from '../auth/auth.ts';
import type { IceServerEntry } from '../config.ts';
import type { ReplicaRouting } from '../replica/replica.ts';
import type { Stream } from '../stream.ts';
import { WhepError } from './errors.ts';
import { iceServerLinks, isPreflight, readBody, requireContentType } from './http.ts';
import { chooseCodecs, parseOffer, parseSdpFrag } from './sdp.ts';
import type { SessionStore } from './sessions.ts';

/** What the WHEP routes need. */
export interface WhepDeps {
  /** Served streams by process id. */
  readonly streams: ReadonlyMap<string, Stream>;
  /** The session index. */
  readonly sessions: SessionStore;
  /** Authentication and authorization. */
  readonly auth: Auth;
  /** The pod configuration. */
  readonly config: EgressConfig;
  /** STUN/TURN servers with current credentials, for Link headers. */
  readonly iceServers: () => IceServerEntry[];
  /** One of several egress replicas: placement, forwarding, drain (replica/replica.ts). */
  readonly replica?: ReplicaRouting | undefined;
}

const SDP = 'application/sdp';
const SDPFRAG = 'application/trickle-ice-sdpfrag';
const SESSION_ALLOW = 'OPTIONS, PATCH, DELETE';

/** Builds the router of every WHEP URL. */
export function whepRouter(deps: WhepDeps): Router {
  const router = new Router();
  const endpoint = whepPath(':id');
  const session = `${endpoint}/:session`;
  const { config, sessions, auth } = deps;

  const streamOf = (id: string): Stream => {
    const stream = deps.streams.get(id);
    if (!stream) throw new WhepError('not-found', `no process "${id}" is served here`);
    return stream;
  };
  /** Authenticates (401), authorizes (403), then finds the process (404). */
  const admit = async (ctx: Koa.Context, id: string): Promise<Stream> => {
    await auth.authenticate(ctx, id);
    auth.authorize(ctx, id);
    return streamOf(id);
  };
  /**
   * Only the credential that created a session may change or end it: 403 for another subject.
   * Not 404: session ids are 128 random bits, so hiding that one exists (RFC 9110 §15.5.4)
   * protects nothing, while 403 tells a player that swapped its token why its DELETE failed.
   */
  const ownSession = (ctx: Koa.Context, id: string): void => {
    const owner = sessions.subjectOf(id);
    if (owner !== undefined && owner !== grantOf(ctx).subject) {
      throw new WhepError('forbidden', 'this session was created with another credential; only that one may change or end it');
    }
  };
  const links = (ctx: Koa.Context) => {
    for (const link of iceServerLinks(deps.iceServers())) ctx.append('Link', link);
  };
  /** On replica 0, a request of a sibling's session goes to that sibling: true when it was answered so. */
  const forwarded = async (ctx: Koa.Context): Promise<boolean> => (await deps.replica?.forwardSession(ctx, ctx.params.session!)) ?? false;

  router.options(endpoint, async (ctx) => {
    ctx.set('Accept-Post', SDP);
    ctx.status = 200;
    if (isPreflight(ctx)) return;
    // A plain OPTIONS (not a preflight) is a request like any other: it may learn the ICE
    // servers before the offer is made, so it carries credentials when auth is on.
    await admit(ctx, ctx.params.id!);
    links(ctx);
  });

  router.post(endpoint, async (ctx) => {
    const stream = await admit(ctx, ctx.params.id!);
    requireContentType(ctx, SDP);
    const body = await readBody(ctx, config.session.maxBodyBytes);
    if (body.trim() === '') throw new WhepError('bad-request', 'the body is empty; POST an SDP offer');
    const choice = chooseCodecs(parseOffer(body));
    if (stream.source.state !== 'up') {
      throw new WhepError('no-source', `process "${stream.id}" has no live source yet; retry later`, {
        'Retry-After': String(config.retryAfterSeconds.noSource),
      });
    }
    const local = async () => {
      // A client that goes away before the answer frees its slot at once (it would otherwise
      // hold it until the connect timeout).
      const gone = new AbortController();
      const onClose = () => {
        if (!ctx.res.writableFinished) gone.abort();
      };
      ctx.res.once('close', onClose);
      const grant = grantOf(ctx);
      const owner = { subject: grant.subject, limitSubject: grant.limitSubject, client: deps.replica?.client(ctx) ?? ctx.ip };
      const { session: s, answer } = await sessions
        .create(stream, body, choice, owner, gone.signal)
        .finally(() => ctx.res.off('close', onClose));
      ctx.status = 201;
      ctx.type = SDP;
      ctx.set('Location', `${whepPath(stream.id)}/${s.id}`);
      ctx.set('ETag', s.etag);
      links(ctx);
      ctx.body = answer;
    };
    // With replicas, here or on a sibling (replica 0), or not at all while draining.
    await (deps.replica ? deps.replica.place(ctx, body, local) : local());
  });

  // HEAD before GET: @koa/router would otherwise answer HEAD with the GET handler.
  router.head(endpoint, async (ctx) => {
    await admit(ctx, ctx.params.id!);
    ctx.status = 200;
    ctx.type = SDP;
  });

  router.get(endpoint, async (ctx) => {
    await admit(ctx, ctx.params.id!);
    // The draft asks GET to succeed without a body.
    ctx.status = 204;
  });

  router.all(endpoint, async (ctx) => {
    throw new WhepError('method-not-allowed', `${ctx.method} is not supported on the WHEP endpoint`, { Allow: 'OPTIONS, GET, HEAD, POST' });
  });

  router.options(session, async (ctx) => {
    ctx.set('Accept-Patch', SDPFRAG);
    ctx.status = 200;
    if (isPreflight(ctx)) return;
    const stream = await admit(ctx, ctx.params.id!);
    if (await forwarded(ctx)) return;
    if (!sessions.get(stream.id, ctx.params.session!)) throw unknownSession();
  });

  router.patch(session, async (ctx) => {
    const stream = await admit(ctx, ctx.params.id!);
    if (await forwarded(ctx)) return;
    const s = sessions.get(stream.id, ctx.params.session!);
    if (!s) throw unknownSession();
    ownSession(ctx, s.id);
    requireContentType(ctx, SDPFRAG);
    const ifMatch = ctx.get('if-match');
    const frag = parseSdpFrag(await readBody(ctx, config.session.maxBodyBytes));
    const restart = frag.ufrag !== undefined && frag.ufrag !== s.remoteUfrag;
    if (restart && !config.session.iceRestart) throw new WhepError('unprocessable', 'ICE restarts are turned off on this server');
    if (!restart && !config.session.trickle) throw new WhepError('unprocessable', 'trickle ICE is turned off on this server');
    // RFC 9725 §4.3.1 names the ICE session with If-Match. An ICE restart must (it replaces the
    // session); trickled candidates without it are taken for the current one, because clients
    // in use send none (the whip-whep npm client) and the fragment's ufrag, when present, was
    // checked above. One that is sent must still match.
    if (!ifMatch && restart)
      throw new WhepError('precondition-required', 'an ICE restart needs If-Match with the ETag of the session (or "*")');
    if (ifMatch && ifMatch !== '*' && ifMatch !== s.etag) {
      throw new WhepError('precondition-failed', 'If-Match does not match the current ICE session (its ETag changed)');
    }
    if (restart) {
      const fragment = await s.restartIce(frag);
      ctx.status = 200;
      ctx.type = SDPFRAG;
      ctx.set('ETag', s.etag);
      ctx.body = fragment;
      return;
    }
    await s.addCandidates(frag);
    ctx.status = 204;
  });

  router.delete(session, async (ctx) => {
    const stream = await admit(ctx, ctx.params.id!);
    if (await forwarded(ctx)) return;
    const s = sessions.get(stream.id, ctx.params.session!);
    // Deleting twice is fine: the second time there is nothing left (204).
    if (!s) {
      ctx.status = 204;
      return;
    }
    ownSession(ctx, s.id);
    await s.close('delete');
    ctx.status = 200;
  });

  router.all(session, async (ctx) => {
    const stream = await admit(ctx, ctx.params.id!);
    if (await forwarded(ctx)) return;
    if (!sessions.get(stream.id, ctx.params.session!)) throw unknownSession();
    throw new WhepError('method-not-allowed', `${ctx.method} is not supported on a WHEP session`, { Allow: SESSION_ALLOW });
  });

  return router;
}

function unknownSession(): WhepError {
  return new WhepError('not-found', 'no such session (it ended or never existed)');
}
