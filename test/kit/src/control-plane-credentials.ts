/**
 * Generated credentials for a throwaway control plane: the service-account signing key pair,
 * a static admin token, and the kubeconfig that carries it.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** Files written into the control plane's state directory. */
export interface Credentials {
  /** Bearer token of `admin`, a member of `system:masters` (all of RBAC allows it). */
  token: string;
  /** `--token-auth-file` for kube-apiserver. */
  tokenFile: string;
  /** RSA private key (PKCS#1 PEM): `--service-account-signing-key-file`, and the controller manager's key. */
  serviceAccountKey: string;
  /** Its public half (SPKI PEM): `--service-account-key-file`. */
  serviceAccountPub: string;
}

/** Writes a fresh admin token and service-account key pair into `dir`. */
export function writeCredentials(dir: string): Credentials {
  const token = randomBytes(24).toString('hex');
  // Static token file format: token,user,uid,"group1,group2"
  // https://kubernetes.io/docs/reference/access-authn-authz/authentication/#static-token-file
  const tokenFile = join(dir, 'tokens.csv');
  writeFileSync(tokenFile, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  writeFileSync(serviceAccountKey, privateKey, { mode: 0o600 });
  writeFileSync(serviceAccountPub, publicKey);
  return { token, tokenFile, serviceAccountKey, serviceAccountPub };
}

/** What a kubeconfig needs to reach the API server as admin. */
export interface KubeconfigInput {
  server: string;
  /** PEM bundle that verifies the API server's serving certificate. */
  caPem: string;
  token: string;
}

/** A kubeconfig (context `corecast`, namespace `default`) with the CA embedded, so it stands alone. */
export function kubeconfigYaml({ server, caPem, token }: KubeconfigInput): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'corecast',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'corecast', context: { cluster: 'corecast', user: 'admin', namespace: 'default' } }],
    'current-context': 'corecast',
  });
}
