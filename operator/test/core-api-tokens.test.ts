/**
 * Core's login tokens: an access token from `POST /api/login` plays the namespace's streams on
 * an egress pod (its real authenticator, over loopback), a refresh token does not, and each kind
 * is accepted by the API only where it belongs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EgressConfig } from '@corecast/api';
import { decodeJwt } from 'jose';
import Koa from 'koa';
import { createAuth } from '../../egress-pod/src/auth/auth.ts';
import { WhepError } from '../../egress-pod/src/whep/errors.ts';
import { createTokens, type TokenSettings } from '../src/core-api/tokens.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef-core-api');
const CREDS = { username: 'admin', password: 'pa55word' };

/** An egress pod's authenticator for namespace `ns`, behind a koa app that answers the status it decides. */
async function egressAuthServer(ns: string, auth: Record<string, unknown> = {}): Promise<{ url: string; close(): void }> {
  const config = EgressConfig.parse({ namespace: ns, streams: [{ processId: 'demo' }], auth: { mode: 'hs256', ...auth } });
  const check = createAuth(config, { jwtSecret: SECRET });
  const app = new Koa();
  app.use(async (ctx) => {
    try {
      await check.authenticate(ctx, 'demo');
      check.authorize(ctx, 'demo');
      ctx.status = 204;
    } catch (err) {
      ctx.status = err instanceof WhepError ? (({ unauthorized: 401, forbidden: 403 } as Record<string, number>)[err.kind] ?? 500) : 500;
    }
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

const play = async (url: string, token: string) => (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;

describe('login tokens and the egress pods', () => {
  let egress: { url: string; close(): void };
  let otherNs: { url: string; close(): void };
  before(async () => {
    egress = await egressAuthServer('media');
    otherNs = await egressAuthServer('other');
  });
  after(() => {
    egress.close();
    otherNs.close();
  });

  test("an access token plays the namespace's processes; a refresh token and another namespace do not", async () => {
    const tokens = createTokens({ secret: SECRET }, CREDS, 'media', { now: () => Date.now(), after: () => ({ cancel() {} }) });
    const pair = await tokens.login('admin', 'pa55word');
    assert.ok(pair);
    const claims = decodeJwt(pair.access_token);
    assert.equal(claims.sub, 'media/admin');
    assert.deepEqual(claims['corecast.dev/processes'], ['media/*']);
    assert.equal(claims.usefor, 'access');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);
    assert.equal(await play(egress.url, pair.access_token), 204);
    assert.equal(await play(egress.url, pair.refresh_token), 403, 'a refresh token names no process');
    assert.equal(await play(otherNs.url, pair.access_token), 403, "the token of namespace media does not play namespace other's process");
  });

  test('issuer and audience, when the egress pods check them, are set', async () => {
    const strict = await egressAuthServer('media', { issuer: 'corecast-api', audience: 'corecast-egress' });
    try {
      const settings: TokenSettings = { secret: SECRET, issuer: 'corecast-api', audience: 'corecast-egress' };
      const withBoth = createTokens(settings, CREDS, 'media', { now: () => Date.now(), after: () => ({ cancel() {} }) });
      const without = createTokens({ secret: SECRET }, CREDS, 'media', { now: () => Date.now(), after: () => ({ cancel() {} }) });
      assert.equal(await play(strict.url, (await withBoth.login('admin', 'pa55word'))!.access_token), 204);
      assert.equal(await play(strict.url, (await without.login('admin', 'pa55word'))!.access_token), 401);
    } finally {
      strict.close();
    }
  });
});

describe('login, refresh and expiry', () => {
  test('wrong username or password gets nothing', async () => {
    const tokens = createTokens({ secret: SECRET }, CREDS, 'media', new ManualClock());
    assert.equal(await tokens.login('admin', 'wrong'), undefined);
    assert.equal(await tokens.login('root', 'pa55word'), undefined);
  });

  test('each kind is accepted only where it belongs', async () => {
    const tokens = createTokens({ secret: SECRET }, CREDS, 'media', new ManualClock());
    const pair = (await tokens.login('admin', 'pa55word'))!;
    assert.equal(await tokens.verifyAccess(pair.access_token), 'media/admin');
    assert.equal(await tokens.verifyAccess(pair.refresh_token), undefined);
    assert.equal(await tokens.refresh(pair.access_token), undefined);
    const renewed = await tokens.refresh(pair.refresh_token);
    assert.equal(await tokens.verifyAccess(renewed!.access_token), 'media/admin');
  });

  test('tokens expire: access after its lifetime, refresh after its own', async () => {
    const clock = new ManualClock();
    const tokens = createTokens({ secret: SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 3600 }, CREDS, 'media', clock);
    const pair = (await tokens.login('admin', 'pa55word'))!;
    clock.advance(61_000);
    assert.equal(await tokens.verifyAccess(pair.access_token), undefined);
    const renewed = await tokens.refresh(pair.refresh_token);
    assert.ok(renewed, 'the refresh token still works');
    clock.advance(3600_000);
    assert.equal(await tokens.refresh(pair.refresh_token), undefined);
  });

  test("a token of another namespace's API, or signed with another key, is refused", async () => {
    const clock = new ManualClock();
    const a = createTokens({ secret: SECRET }, CREDS, 'media', clock);
    const b = createTokens({ secret: SECRET }, CREDS, 'other', clock);
    const c = createTokens({ secret: Buffer.alloc(32, 7) }, CREDS, 'media', clock);
    const fromB = (await b.login('admin', 'pa55word'))!;
    const fromC = (await c.login('admin', 'pa55word'))!;
    assert.equal(await a.verifyAccess(fromB.access_token), undefined);
    assert.equal(await a.verifyAccess(fromC.access_token), undefined);
  });

  test('settings the egress pods would refuse stop the API at start', () => {
    const clock = new ManualClock();
    assert.throws(
      () => createTokens({ secret: Buffer.alloc(16) }, CREDS, 'media', clock),
      /the token key is 16 bytes; at least 32 are needed/,
    );
    assert.throws(
      () => createTokens({ secret: SECRET, refreshTtlSeconds: 172800 }, CREDS, 'media', clock),
      /refreshTtlSeconds must be from 1 to 86400 \(the token lifetime cap\)/,
    );
    assert.throws(
      () => createTokens({ secret: SECRET, accessTtlSeconds: 700, maxTokenLifetimeSeconds: 600 }, CREDS, 'media', clock),
      /accessTtlSeconds must be from 1 to 600/,
    );
    assert.throws(
      () => createTokens({ secret: SECRET }, { username: 'admin', password: '' }, 'media', clock),
      /need a username and a password/,
    );
  });
});
