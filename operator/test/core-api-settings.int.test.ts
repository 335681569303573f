/**
 * The API's secrets read from Secrets on the real API server, and token settings taken from the
 * egress pods' auth configuration; every failure names what is missing.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { EgressAuth } from '@corecast/api';
import { makeKube } from '../src/kube/client.ts';
import { readCredentials, readSecretKey, tokenSettingsFor } from '../src/core-api/settings.ts';
import { createTokens } from '../src/core-api/tokens.ts';
import { type Cluster, getCluster, namespace } from './helpers/cluster.ts';
import { ManualClock } from './helpers/manual-clock.ts';

let c: Cluster;
let ns: string;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'core-api-settings');
  const secret = (name: string, data: Record<string, string>) =>
    c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: data } });
  await secret('api-login', { username: 'admin', password: 'pw' });
  await secret('api-login-empty', { username: 'admin', password: '' });
  await secret('corecast-auth', { secret: 'k'.repeat(40) });
});

describe('secrets', () => {
  test('credentials and the token key are read and decoded', async () => {
    const kube = makeKube(c.kc);
    assert.deepEqual(await readCredentials(kube, ns, 'api-login'), { username: 'admin', password: 'pw' });
    assert.equal((await readSecretKey(kube, ns, { name: 'corecast-auth', key: 'secret' })).toString(), 'k'.repeat(40));
  });

  test('a missing Secret, a missing key and an empty password are named', async () => {
    const kube = makeKube(c.kc);
    await assert.rejects(readCredentials(kube, ns, 'nope'), { message: `Secret ${ns}/nope does not exist` });
    await assert.rejects(readSecretKey(kube, ns, { name: 'corecast-auth', key: 'jwt' }), {
      message: `Secret ${ns}/corecast-auth has no key "jwt"`,
    });
    await assert.rejects(readCredentials(kube, ns, 'api-login-empty'), {
      message: `Secret ${ns}/api-login-empty: username and password must not be empty`,
    });
  });
});

describe('token settings from the egress auth', () => {
  const key = Buffer.alloc(32, 1);

  test('hs256: issuer, audience, claim and lifetime cap are taken over; lifetimes stay under the cap', async () => {
    const auth = EgressAuth.parse({ mode: 'hs256', issuer: 'i', audience: 'a', processesClaim: 'views', maxTokenLifetimeSeconds: 3600 });
    const settings = tokenSettingsFor(auth, key);
    assert.deepEqual(settings, { secret: key, issuer: 'i', audience: 'a', processesClaim: 'views', maxTokenLifetimeSeconds: 3600 });
    const tokens = createTokens(settings, { username: 'u', password: 'p' }, ns, new ManualClock());
    const pair = (await tokens.login('u', 'p'))!;
    const claims = JSON.parse(Buffer.from(pair.refresh_token.split('.')[1]!, 'base64url').toString()) as Record<string, number>;
    assert.equal(claims.exp! - claims.iat!, 3600, 'the refresh lifetime defaults to the cap when that is below a day');
  });

  test('jwks is refused, naming the setting; none needs only the key', () => {
    const jwks = EgressAuth.parse({ mode: 'jwks', jwksUrl: 'https://idp.example/keys' });
    assert.throws(() => tokenSettingsFor(jwks, key), /^Error: egress auth.mode is jwks: .* use hs256$/);
    assert.deepEqual(tokenSettingsFor(EgressAuth.parse({ mode: 'none' }), key, { accessTtlSeconds: 60 }), {
      secret: key,
      accessTtlSeconds: 60,
    });
  });
});
