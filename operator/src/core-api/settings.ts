/**
 * The API's secrets and token settings, read where the rest of Corecast keeps them: the login
 * credentials in a Secret of the served namespace (keys `username` and `password`), the token key
 * in the same Secret and key the namespace's egress pods read (`egress.jwtSecretRef`), and the
 * token rules from the egress pods' `auth` configuration, so the tokens the API issues are the
 * tokens those pods accept.
 */
import type { EgressConfig } from '@corecast/api';
import { isNotFound, type Kube } from '../kube/client.ts';
import type { Credentials, TokenSettings } from './tokens.ts';

/** A key of a Secret. */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

/** One key of a Secret, decoded; throws naming the Secret and key when either is missing. */
export async function readSecretKey(kube: Kube, namespace: string, ref: SecretKeyRef): Promise<Buffer> {
  let data: Record<string, string> | undefined;
  try {
    data = (await kube.core.readNamespacedSecret({ namespace, name: ref.name })).data;
  } catch (err) {
    if (isNotFound(err)) throw new Error(`Secret ${namespace}/${ref.name} does not exist`, { cause: err });
    throw err;
  }
  const value = data?.[ref.key];
  if (value === undefined) throw new Error(`Secret ${namespace}/${ref.name} has no key "${ref.key}"`);
  return Buffer.from(value, 'base64');
}

/** The login credentials: keys `username` and `password` of the Secret `name` in `namespace`. */
export async function readCredentials(kube: Kube, namespace: string, name: string): Promise<Credentials> {
  const [username, password] = await Promise.all(
    (['username', 'password'] as const).map(async (key) => (await readSecretKey(kube, namespace, { name, key })).toString('utf8')),
  );
  if (!username || !password) throw new Error(`Secret ${namespace}/${name}: username and password must not be empty`);
  return { username, password };
}

/**
 * Token settings matching the egress pods' `auth`: same issuer, audience, processes claim and
 * lifetime cap. With `jwks` the pods accept only the identity provider's tokens, which the API
 * cannot sign: refused, naming the setting.
 */
export function tokenSettingsFor(
  auth: EgressConfig['auth'],
  secret: Buffer,
  ttl: { accessTtlSeconds?: number; refreshTtlSeconds?: number } = {},
): TokenSettings {
  if (auth.mode === 'jwks') {
    throw new Error(
      "egress auth.mode is jwks: the egress pods accept only your identity provider's tokens, which the Core API cannot sign; use hs256",
    );
  }
  if (auth.mode === 'none') return { secret, ...ttl };
  return {
    secret,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
    processesClaim: auth.processesClaim,
    maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds,
    ...ttl,
  };
}
