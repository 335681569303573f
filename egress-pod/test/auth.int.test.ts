/**
 * Who may watch, against a running egress: no auth, HS256 and JWKS (RS256/ES256 keys served by
 * a JWKS endpoint on loopback), every failing case (no token, malformed, expired, no exp, too
 * long-lived, wrong key, `alg: none`, wrong issuer/audience, wrong process, another namespace's
 * process of the same name) and the valid one, signed embed URLs, generic 401 bodies, and that
 * no token ever reaches the logs.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient } from '@corecast/testkit/whep-client';
import type { EgressConfigInput } from '@corecast/api';
import { createLogger, type Egress, resolveConfig, signEmbedToken, startEgress } from '../src/index.ts';
import { offer } from './fixtures.ts';
import { feed, logSink, testConfig, whepUrl } from './helpers.ts';

const SECRET = 'an HS256 secret of enough length 0123456789';
const EMBED_SECRET = 'the embed secret, also long enough 0123456789';
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'corecast';
const CLAIM = 'corecast.dev/processes';
/** The namespace of the egresses under test; tokens name `<namespace>/<process>`. */
const NS = 'tenant-b';
const now = () => Math.floor(Date.now() / 1000);

async function startWithLog(overrides: Partial<EgressConfigInput>, env: Record<string, string>, sink: PassThrough): Promise<Egress> {
  const config = testConfig({
    namespace: NS,
    streams: [
      { processId: 'demo', video: { port: 0 }, audio: { port: 0 } },
      { processId: 'other', video: { port: 0 }, audio: { port: 0 } },
    ],
    ...overrides,
  });
  return startEgress(resolveConfig(config, env), { log: createLogger('debug', sink), defaultMetrics: false });
}

function hs256(
  claims: Record<string, unknown>,
  options: { secret?: string; exp?: number | null; iat?: number | null; iss?: string; aud?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE);
  if (options.iat !== null) jwt.setIssuedAt(options.iat);
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now() + 600);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** An unsigned token (`alg: none`, RFC 7519 §6). */
function algNone(claims: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, exp: now() + 600, ...claims })}.`;
}

function postWith(url: string, token?: string, sdp = offer()): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  return fetch(url, { method: 'POST', headers, body: sdp });
}

async function detail(res: Response): Promise<string> {
  return ((await res.json()) as { detail: string }).detail;
}

describe('auth', { timeout: 180000 }, () => {
  const tokens: string[] = [];
  const log = logSink();
  const clients: WhepTestClient[] = [];
  let hs: Egress;
  let ffmpeg: FfmpegRun;

  before(async () => {
    hs = await startWithLog(
      {
        auth: { mode: 'hs256', issuer: ISSUER, audience: AUDIENCE, maxTokenLifetimeSeconds: 3600 },
        embed: { enabled: true, maxTtlSeconds: 3600 },
      },
      { CORECAST_JWT_SECRET: SECRET, CORECAST_EMBED_SECRET: EMBED_SECRET },
      log.stream,
    );
    ffmpeg = await feed(hs, 'demo', { size: '160x120', rate: 10, audio: false });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ffmpeg?.kill();
    await hs?.stop();
  });

  it('no token: 401 with a plain Bearer challenge', async () => {
    const res = await postWith(whepUrl(hs));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="corecast"');
    assert.equal(await detail(res), 'credentials required: send Authorization: Bearer <token>');
  });

  const demo = `${NS}/demo`;
  const invalid: [string, () => Promise<string> | string, RegExp][] = [
    // koa-jwt reads the header before it asks for the key ("Invalid token"); jsonwebtoken says "jwt malformed".
    ['a malformed token', () => 'not.a.jwt', /invalid token|jwt malformed/i],
    ['an expired token', () => hs256({ [CLAIM]: [demo] }, { exp: now() - 3600 }), /jwt expired/],
    [
      'a token signed with another key',
      () => hs256({ [CLAIM]: [demo] }, { secret: 'another secret of enough length 0123456789' }),
      /invalid signature/,
    ],
    ['an unsigned token (alg: none)', () => algNone({ [CLAIM]: [demo] }), /jwt signature is required|invalid algorithm/],
    ['a token from another issuer', () => hs256({ [CLAIM]: [demo] }, { iss: 'https://evil.example' }), /jwt issuer invalid/],
    ['a token for another audience', () => hs256({ [CLAIM]: [demo] }, { aud: 'someone-else' }), /jwt audience invalid/],
    // Hole: tokens without exp never expired, although exp was documented as checked.
    ['a token without exp (it would never expire)', () => hs256({ [CLAIM]: [demo] }, { exp: null }), /the token has no exp claim/],
    [
      'a token that expires further out than maxTokenLifetimeSeconds',
      () => hs256({ [CLAIM]: [demo] }, { exp: now() + 7200, iat: null }),
      /the token expires more than 3600 s from now/,
    ],
    [
      'a token whose exp - iat exceeds maxTokenLifetimeSeconds',
      () => hs256({ [CLAIM]: [demo] }, { exp: now() + 600, iat: now() - 7200 }),
      /the token lives longer than 3600 s \(exp - iat\)/,
    ],
    ['an Authorization header that is not Bearer', () => '', /the Authorization header is not 'Bearer <token>'/],
  ];
  for (const [name, make, reason] of invalid) {
    it(`${name}: 401 invalid_token with a generic body; the reason only in the log`, async () => {
      const token = await make();
      if (token) tokens.push(token);
      const res = token
        ? await postWith(whepUrl(hs), token)
        : await fetch(whepUrl(hs), {
            method: 'POST',
            headers: { 'Content-Type': 'application/sdp', Authorization: 'Basic dXNlcjpwYXNz' },
            body: offer(),
          });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="corecast", error="invalid_token"');
      assert.equal(await detail(res), 'invalid credentials');
      assert.match(log.text(), reason);
    });
  }

  it('401 bodies never carry the expected issuer or audience (hole: debug put them in 401 bodies)', async () => {
    for (const token of [
      await hs256({ [CLAIM]: [demo] }, { iss: 'https://evil.example' }),
      await hs256({ [CLAIM]: [demo] }, { aud: 'x' }),
    ]) {
      tokens.push(token);
      const res = await postWith(whepUrl(hs), token);
      const text = `${res.headers.get('www-authenticate')} ${await res.text()}`;
      assert.equal(res.status, 401);
      assert.equal(text.includes(ISSUER), false, `the issuer is in the answer: ${text}`);
      assert.equal(/expected|corecast/.test(text.replace('realm="corecast"', '')), false, `the audience is in the answer: ${text}`);
    }
    assert.match(log.text(), /jwt issuer invalid\. expected: https:\/\/issuer\.example/, 'the log keeps the reason');
  });

  it('a valid token for another process: 403; a token listing no processes: 403', async () => {
    const other = await hs256({ [CLAIM]: [`${NS}/other`] });
    const none = await hs256({ sub: 'x' });
    tokens.push(other, none);
    const res = await postWith(whepUrl(hs), other);
    assert.equal(res.status, 403);
    assert.equal(await detail(res), `this token does not allow viewing process "${NS}/demo"`);
    assert.equal((await postWith(whepUrl(hs), none)).status, 403);
  });

  it('a token for ns-a/demo does not play ns-b/demo (route moved across namespaces)', async () => {
    // The same key signs for both tenants here (a JWKS issuer, or a secret shared before this
    // release): only the namespace in the claim keeps tenant A's viewers off tenant B's stream.
    const tenantA = await hs256({ [CLAIM]: ['tenant-a/demo'] });
    const tenantAAll = await hs256({ [CLAIM]: ['tenant-a/*'] });
    const tenantB = await hs256({ [CLAIM]: [`${NS}/*`] });
    tokens.push(tenantA, tenantAAll, tenantB);
    assert.equal((await postWith(whepUrl(hs), tenantA)).status, 403);
    assert.equal((await postWith(whepUrl(hs), tenantAAll)).status, 403);
    const c = new WhepTestClient({ token: tenantB });
    clients.push(c);
    assert.equal((await c.post(whepUrl(hs))).status, 201, '<namespace>/* covers every process of the namespace');
    await c.close();
  });

  it('an old-format token naming a bare process ("demo") is refused: it does not say which namespace', async () => {
    const bare = await hs256({ [CLAIM]: ['demo'] });
    tokens.push(bare);
    const res = await postWith(whepUrl(hs), bare);
    assert.equal(res.status, 403);
    assert.equal(await detail(res), `this token does not allow viewing process "${NS}/demo"`);
    assert.match(log.text(), /token lists processes without a namespace; ignored/);
  });

  it('a valid token: 201, and the session URLs take the same token', async () => {
    const token = await hs256({ [CLAIM]: [demo] });
    tokens.push(token);
    const c = new WhepTestClient({ token });
    clients.push(c);
    const res = await c.post(whepUrl(hs));
    assert.equal(res.status, 201);
    await c.connected();
    const anonymous = await fetch(c.location!, { method: 'DELETE' });
    assert.equal(anonymous.status, 401, 'DELETE needs the token too');
    assert.equal((await c.delete()).status, 200);
  });

  it('a "*" claim allows every process of every namespace', async () => {
    const token = await hs256({ [CLAIM]: '*' });
    tokens.push(token);
    // `other` has no source: 409 shows the request got past authentication and authorization.
    assert.equal((await postWith(whepUrl(hs, 'other'), token)).status, 409);
  });

  it('the preflight and the player page need no token', async () => {
    const preflight = await fetch(whepUrl(hs), {
      method: 'OPTIONS',
      headers: { Origin: 'https://x.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(preflight.status, 200);
    assert.equal((await fetch(`${whepUrl(hs)}/player`)).status, 200);
  });

  it('signed embed URLs: valid for their process until they expire', async () => {
    const secret = EMBED_SECRET;
    const good = signEmbedToken(secret, NS, 'demo', now() + 600);
    const other = signEmbedToken(secret, NS, 'other', now() + 600);
    const expired = signEmbedToken(secret, NS, 'demo', now() - 1);
    const tooLong = signEmbedToken(secret, NS, 'demo', now() + 7200);
    // Hole: embed signatures did not name the namespace.
    const otherNamespace = signEmbedToken(secret, 'tenant-a', 'demo', now() + 600);
    tokens.push(good, other, expired, tooLong, otherNamespace);
    const c = new WhepTestClient();
    clients.push(c);
    const res = await c.post(`${whepUrl(hs)}?token=${good}`);
    assert.equal(res.status, 201);
    await c.close();
    for (const [token, reason] of [
      [other, /signature does not match/],
      [otherNamespace, /signature does not match/],
      [expired, /expired/],
      [tooLong, /longer than the allowed 3600 s/],
    ] as const) {
      const r = await postWith(`${whepUrl(hs)}?token=${token}`);
      assert.equal(r.status, 401);
      assert.equal(await detail(r), 'invalid credentials');
      assert.match(log.text(), reason);
    }
  });

  it('never writes a token to the log', () => {
    const text = log.text();
    assert.ok(text.length > 0 && text.includes('session created'), 'the log was captured');
    for (const token of tokens) {
      assert.equal(text.includes(token), false, 'a token is in the log');
      const signature = token.split('.').at(-1)!;
      // (The malformed token's "signature" is the word jwt, which log reasons use.)
      if (signature.length >= 16) assert.equal(text.includes(signature), false, 'a token signature is in the log');
    }
  });
});

describe('auth with a JWKS (RS256, ES256)', { timeout: 120000 }, () => {
  let jwksServer: Server;
  let egress: Egress;
  const keys: { rs: CryptoKey; es: CryptoKey; stranger: CryptoKey } = {} as never;

  before(async () => {
    const rs = await generateKeyPair('RS256');
    const es = await generateKeyPair('ES256');
    const stranger = await generateKeyPair('RS256');
    Object.assign(keys, { rs: rs.privateKey, es: es.privateKey, stranger: stranger.privateKey });
    const jwks: { keys: JWK[] } = {
      keys: [
        { ...(await exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' },
      ],
    };
    jwksServer = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    egress = await startWithLog(
      { auth: { mode: 'jwks', jwksUrl: url, allowLoopbackHttp: true, audience: AUDIENCE } },
      {},
      new PassThrough().resume(),
    );
  });
  after(async () => {
    await egress?.stop();
    jwksServer?.close();
  });

  const sign = (alg: string, key: CryptoKey, kid: string, claims: Record<string, unknown> = { [CLAIM]: [`${NS}/other`] }) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setAudience(AUDIENCE)
      .setExpirationTime(now() + 600)
      .sign(key);

  it('valid RS256 and ES256 tokens get through (409: the process has no source)', async () => {
    assert.equal((await postWith(whepUrl(egress, 'other'), await sign('RS256', keys.rs, 'rs'))).status, 409);
    assert.equal((await postWith(whepUrl(egress, 'other'), await sign('ES256', keys.es, 'es'))).status, 409);
  });

  it('a token signed by a key not in the set: 401', async () => {
    assert.equal((await postWith(whepUrl(egress, 'other'), await sign('RS256', keys.stranger, 'rs'))).status, 401);
    assert.equal((await postWith(whepUrl(egress, 'other'), await sign('RS256', keys.stranger, 'unknown-kid'))).status, 401);
  });

  it('an HS256 token (algorithm confusion) and an unsigned token: 401', async () => {
    const hsToken = await new SignJWT({ [CLAIM]: [`${NS}/other`] })
      .setProtectedHeader({ alg: 'HS256', kid: 'rs' })
      .setAudience(AUDIENCE)
      .setExpirationTime(now() + 600)
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await postWith(whepUrl(egress, 'other'), hsToken)).status, 401);
    assert.equal((await postWith(whepUrl(egress, 'other'), algNone({ [CLAIM]: [`${NS}/other`] }))).status, 401);
  });

  it('a valid token for another process: 403', async () => {
    assert.equal((await postWith(whepUrl(egress, 'demo'), await sign('ES256', keys.es, 'es'))).status, 403);
  });
});

describe('auth off', () => {
  it('lets a request without credentials through', async () => {
    const egress = await startWithLog({}, {}, new PassThrough().resume());
    try {
      assert.equal((await postWith(whepUrl(egress, 'other'))).status, 409);
      // Embed tokens mean nothing without auth: the request is allowed anyway.
      assert.equal((await postWith(`${whepUrl(egress, 'other')}?token=garbage`)).status, 409);
    } finally {
      await egress.stop();
    }
  });
});
