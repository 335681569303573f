/**
 * Helpers of the chart tests: helm and kubectl from the registry package (kube-tools.ts), the
 * chart rendered into objects, server-side dry runs, and the repository paths they use.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { kubeTools } from '../src/kube-tools.ts';

const run = promisify(execFile);

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The chart. */
export const chartDir = join(repoRoot, 'charts/corecast');
/** The example values files, one per situation. */
export const helmValuesDir = join(repoRoot, 'helm-values');

/** Every `helm-values/*.yaml`, as absolute paths in name order. */
export function helmValuesFiles(): string[] {
  return readdirSync(helmValuesDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(helmValuesDir, f));
}

/** What a command printed and how it ended (never throws on a non-zero exit). */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runTool(bin: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  // helm keeps caches and plugin settings under $HOME; keep them inside a temp dir per run.
  const home = helmHome();
  try {
    const { stdout, stderr } = await run(bin, [...args], {
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
        KUBECACHEDIR: join(home, 'kube-cache'),
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

let home: string | undefined;
function helmHome(): string {
  if (!home) {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-helm-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return home;
}

/** Runs helm; resolves with its exit code and output. */
export async function helm(args: readonly string[]): Promise<RunResult> {
  return runTool((await kubeTools()).helm, args);
}

/** Runs kubectl against a kubeconfig; resolves with its exit code and output. */
export async function kubectlRun(kubeconfig: string, args: readonly string[]): Promise<RunResult> {
  return runTool((await kubeTools()).kubectl, [`--kubeconfig=${kubeconfig}`, ...args]);
}

/** Options of `renderChart`. */
export interface RenderOptions {
  release?: string;
  namespace: string;
  valuesFiles?: readonly string[];
  /** `--set-json` pairs, so values keep their JSON types. */
  setJson?: Record<string, unknown>;
}

/** `helm template` arguments for these options. */
export function templateArgs(opts: RenderOptions): string[] {
  const args = ['template', opts.release ?? 'corecast', chartDir, '--namespace', opts.namespace];
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const [k, v] of Object.entries(opts.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  return args;
}

/** `helm template` → the rendered YAML text; throws with helm's message when rendering fails. */
export async function renderChartText(opts: RenderOptions): Promise<string> {
  const res = await helm(templateArgs(opts));
  if (res.code !== 0) throw new Error(`helm ${templateArgs(opts).join(' ')}: ${res.stderr.trim()}`);
  return res.stdout;
}

/** `helm template` → the rendered objects. */
export async function renderChart(opts: RenderOptions): Promise<KubernetesObject[]> {
  return parseObjects(await renderChartText(opts));
}

/** Every non-empty YAML document of a multi-document text. */
export function parseObjects(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]?.message}`);
      return d.toJSON() as KubernetesObject | null;
    })
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

/** The one object of this kind (and name, when given); throws when there is none or more than one. */
export function findObject<T = any>(objects: readonly KubernetesObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  }
  return found[0] as T;
}

/** Writes objects to a temp YAML file (for kubectl -f) and returns its path. */
export function writeObjects(objects: readonly KubernetesObject[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-objects-'));
  const path = join(dir, 'objects.json');
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  return path;
}

/** kubectl apply --server-side (optionally --dry-run=server) of these objects. */
export async function applyObjects(
  kubeconfig: string,
  objects: readonly KubernetesObject[],
  opts: { dryRun?: boolean } = {},
): Promise<RunResult> {
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=corecast-chart-test', '-f', writeObjects(objects)];
  if (opts.dryRun) args.push('--dry-run=server');
  return kubectlRun(kubeconfig, args);
}
