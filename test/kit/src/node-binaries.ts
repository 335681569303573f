/**
 * Where the single-node cluster's add-on binaries (CoreDNS, Traefik) live, and building them
 * when they are missing.
 *
 * They are built from Go modules by test/node/build.sh into a cache directory outside the
 * repository, one directory per pair of pinned releases.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding build.sh and the two Go wrapper modules (coredns/, traefik/). */
export const nodeModuleDir = fileURLToPath(new URL('../../node/', import.meta.url));

/** Paths of the two binaries. */
export interface NodeBinaries {
  dir: string;
  /** Cluster DNS: answers `<svc>.<ns>.svc.<domain>` from the API server. */
  coredns: string;
  /** Ingress controller: routes Ingress objects and Gateway API routes. */
  traefik: string;
}

/** The releases the wrapper modules require (the pins), e.g. `{coredns: 'v1.14.7', traefik: 'v3.6.12'}`. */
export function pinnedNodeVersions(
  coreDnsGoMod = readFileSync(join(nodeModuleDir, 'coredns', 'go.mod'), 'utf8'),
  traefikGoMod = readFileSync(join(nodeModuleDir, 'traefik', 'go.mod'), 'utf8'),
): { coredns: string; traefik: string } {
  const required = (goMod: string, module: string): string => {
    const match = new RegExp(`^\\s*(?:require\\s+)?${module.replaceAll('.', '\\.')}\\s+(v\\d+\\.\\d+\\.\\d+)\\b`, 'm').exec(goMod);
    if (match?.[1] === undefined) throw new Error(`no ${module} requirement in its wrapper go.mod under ${nodeModuleDir}`);
    return match[1];
  };
  return {
    coredns: required(coreDnsGoMod, 'github.com/coredns/coredns'),
    traefik: required(traefikGoMod, 'github.com/traefik/traefik/v3'),
  };
}

/** The cache directory build.sh writes to (same rule as the script). */
export function nodeCacheDir(versions = pinnedNodeVersions(), env = process.env): string {
  if (env.CORECAST_NODE_DIR) return env.CORECAST_NODE_DIR;
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'corecast', 'node', `coredns-${versions.coredns}-traefik-${versions.traefik}`);
}

function complete(bins: NodeBinaries): boolean {
  // build.sh writes the stamp last, so a stamp means both binaries are whole.
  return [join(bins.dir, '.stamp'), bins.coredns, bins.traefik].every((p) => existsSync(p));
}

/**
 * Returns CoreDNS and Traefik for the pinned releases, running test/node/build.sh first when
 * the cache lacks them (a cold build takes 10-20 minutes; its progress goes to stderr).
 */
export async function ensureNodeBinaries(): Promise<NodeBinaries> {
  const dir = nodeCacheDir();
  const bins: NodeBinaries = { dir, coredns: join(dir, 'coredns'), traefik: join(dir, 'traefik') };
  if (complete(bins)) return bins;
  process.stderr.write(
    `CoreDNS and Traefik missing in ${dir}; building them with ${join(nodeModuleDir, 'build.sh')} ` +
      `(a cold build takes 10-20 minutes)\n`,
  );
  const child = spawn(join(nodeModuleDir, 'build.sh'), [], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0 || !complete(bins)) {
    throw new Error(`test/node/build.sh failed (exit ${code}); run it by hand to see why`);
  }
  return bins;
}
