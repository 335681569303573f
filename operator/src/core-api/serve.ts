/**
 * Runs the Core API in the operator (config.coreApi): reads the login and the token key from
 * Secrets of the served namespace, takes the token rules from the egress pods' auth, and
 * listens. Every replica serves it: it keeps nothing of its own (every answer is read from the
 * API server and every change is written there, server-side applied under its field manager), so
 * a standby answers as the leader would and a rollout never takes it away. The one thing held per
 * replica is the failed-login count (docs/core-api.md).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Identity, OperatorConfig } from '../config.ts';
import type { Kube } from '../kube/client.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Listening } from '../runtime/http.ts';
import { createCoreApi } from './app.ts';
import { readCredentials, readSecretKey, tokenSettingsFor } from './settings.ts';

/** The namespace the API serves. */
export function coreApiNamespace(config: OperatorConfig, identity: Identity): string {
  const ns = config.coreApi.namespace ?? identity.namespace ?? config.namespaces[0];
  if (!ns) throw new Error('coreApi.namespace is required (or set POD_NAMESPACE)');
  if (config.namespaces.length > 0 && !config.namespaces.includes(ns)) {
    throw new Error(`coreApi.namespace ${ns} is not among the watched namespaces (${config.namespaces.join(', ')})`);
  }
  return ns;
}

/** Builds the API from its Secrets and listens on coreApi.port; throws saying what is missing. */
export async function serveCoreApi(kube: Kube, config: OperatorConfig, identity: Identity, clock: Clock, log: Logger): Promise<Listening> {
  const c = config.coreApi;
  const namespace = coreApiNamespace(config, identity);
  const keyRef = config.egress.jwtSecretRef;
  if (!keyRef) {
    throw new Error("coreApi needs the egress pods' token key to sign its tokens: use auth.mode hs256 (egress.jwtSecretRef)");
  }
  const [credentials, secret] = await Promise.all([
    readCredentials(kube, namespace, c.credentialsSecret),
    readSecretKey(kube, namespace, keyRef),
  ]);
  const ttl = {
    ...(c.accessTtlSeconds ? { accessTtlSeconds: c.accessTtlSeconds } : {}),
    ...(c.refreshTtlSeconds ? { refreshTtlSeconds: c.refreshTtlSeconds } : {}),
  };
  const app = createCoreApi({
    kube,
    namespace,
    credentials,
    tokens: tokenSettingsFor(config.egress.auth, secret, ttl),
    clock,
    log: log.child({ component: 'core-api' }),
    corsOrigins: c.corsOrigins,
    loginFailuresPerMinute: c.loginFailuresPerMinute,
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  log.info({ namespace, port: (server.address() as AddressInfo).port }, 'Core API serving');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
