/**
 * The key function koa-jwt is given (HS256 secret, or a JWKS key chosen by the token's header)
 * and the lifetime rules checked after it, without an HTTP server in front. auth.int.test.ts
 * runs the same through a real egress.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EgressConfig, parseOrThrow } from '@corecast/api';
import { exportJWK, generateKeyPair } from 'jose';
import { lifetimeVerdict, tokenKey } from '../src/auth/auth.ts';

const SECRET = Buffer.from('an HS256 secret of enough length 0123456789');

function authConfig(auth: unknown) {
  const config = parseOrThrow(EgressConfig, { namespace: 'media', streams: [{ processId: 'demo' }], auth }, 'cfg');
  if (config.auth.mode === 'none') throw new Error('auth is off');
  return config.auth;
}

describe('the key koa-jwt checks a token with', () => {
  let server: Server;
  let url = '';
  const pems: Record<string, string> = {};

  before(async () => {
    const keys = { rs: await generateKeyPair('RS256', { extractable: true }), es: await generateKeyPair('ES256', { extractable: true }) };
    const jwks = {
      keys: [
        { ...(await exportJWK(keys.rs.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(keys.es.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' },
      ],
    };
    for (const [kid, pair] of Object.entries(keys)) {
      pems[kid] = createPublicKey({ key: await exportJWK(pair.publicKey), format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
    }
    server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  after(() => server.close());

  it('is the namespace secret for HS256, whatever the header says', async () => {
    const key = tokenKey(authConfig({ mode: 'hs256' }), SECRET);
    assert.equal(await key({ alg: 'HS256' }), SECRET);
    assert.equal(await key({}), SECRET);
  });

  it("is the JWKS's public key named by the header's kid and alg, as PEM", async () => {
    const key = tokenKey(authConfig({ mode: 'jwks', jwksUrl: url, allowLoopbackHttp: true }), undefined);
    assert.equal(String(await key({ alg: 'RS256', kid: 'rs' })), pems.rs);
    assert.equal(String(await key({ alg: 'ES256', kid: 'es' })), pems.es);
    assert.equal(String(await key({ alg: 'ES256', kid: 'es' })), pems.es, 'the second look-up gives the same key');
  });

  it('rejects a kid the set does not have, and an alg that does not fit the key', async () => {
    const key = tokenKey(authConfig({ mode: 'jwks', jwksUrl: url, allowLoopbackHttp: true }), undefined);
    await assert.rejects(key({ alg: 'RS256', kid: 'unknown' }), /no applicable key found/);
    await assert.rejects(key({ alg: 'HS256', kid: 'rs' }), /no applicable key found|Unsupported/);
    await assert.rejects(key({ kid: 7 }), /no applicable key found|Unsupported|alg/);
  });
});

describe('token lifetime', () => {
  const now = 1_000_000;
  const cases: [string, Record<string, unknown>, string | undefined][] = [
    ['exp within the limit', { exp: now + 600, iat: now }, undefined],
    ['no exp', { iat: now }, 'the token has no exp claim'],
    ['exp that is not a number', { exp: String(now + 600) }, 'the token has no exp claim'],
    ['exp further than the limit from now', { exp: now + 3700 }, 'the token expires more than 3600 s from now'],
    ['exp within the limit plus the clock tolerance', { exp: now + 3630 }, undefined],
    ['exp - iat over the limit', { exp: now + 600, iat: now - 3600 }, 'the token lives longer than 3600 s (exp - iat)'],
  ];
  for (const [name, claims, reason] of cases) {
    it(name, () => {
      const verdict = lifetimeVerdict(claims, now, 3600, 60);
      assert.deepEqual(verdict, reason === undefined ? { ok: true, claims } : { ok: false, reason });
    });
  }
});
