/**
 * The Gateway API's standard-channel CRDs (HTTPRoute and the rest) in a control plane. The files
 * come from the Go module sigs.k8s.io/gateway-api through test/control-plane/gateway-api-crds.sh,
 * which keeps them in a cache directory (fetched once); nothing of them is in the repository.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from './control-plane-crds.ts';

const run = promisify(execFile);

/** The script that fetches the CRD files and prints their directory. */
export const gatewayApiCrdsScript = fileURLToPath(new URL('../../control-plane/gateway-api-crds.sh', import.meta.url));

/**
 * The directory holding the standard CRD files of `version` (the script's default when not
 * given), fetched into the cache first if needed.
 */
export async function gatewayApiCrdsDir(version?: string): Promise<string> {
  const env = { ...process.env, ...(version ? { GATEWAY_API_VERSION: version } : {}) };
  try {
    const { stdout } = await run('bash', [gatewayApiCrdsScript], { env, maxBuffer: 1 << 20 });
    const dir = stdout.trim().split('\n').pop();
    if (!dir) throw new Error('printed no directory');
    return dir;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${gatewayApiCrdsScript}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/**
 * Installs the Gateway API CRDs into a control plane (a server-side apply, so again is a no-op)
 * and waits until each is Established; returns their names.
 */
export async function installGatewayApiCrds(kc: KubeConfig, version?: string): Promise<string[]> {
  return installCrds(kc, await gatewayApiCrdsDir(version));
}
