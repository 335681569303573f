/**
 * Running the operator on this machine exactly as the chart's Deployment runs it in a pod: the
 * image's ENTRYPOINT, WORKDIR and ENV (read from operator/Dockerfile), the container's args and
 * env (downward API and Secret references resolved the way the kubelet would), its ConfigMap
 * volume as files, and the chart's ServiceAccount's credentials (a TokenRequest token).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ControlPlane } from '../src/control-plane.ts';
import { kubectlRun, repoRoot } from './chart-helpers.ts';

/** What a Dockerfile's final stage says about how its program starts. */
export interface ImageStart {
  entrypoint: string[];
  workdir: string;
  env: Record<string, string>;
}

/** ENTRYPOINT (exec form), WORKDIR and ENV of a Dockerfile's last stage. */
export function imageStart(dockerfile: string): ImageStart {
  const text = readFileSync(dockerfile, 'utf8');
  const stages = text.split(/^FROM\s/m);
  const last = stages[stages.length - 1] ?? '';
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(last);
  if (!entry?.[1]) throw new Error(`${dockerfile}: no exec-form ENTRYPOINT in the last stage`);
  const workdir = [...last.matchAll(/^WORKDIR\s+(\S+)/gm)].pop()?.[1] ?? '/';
  const env: Record<string, string> = {};
  // `ENV KEY=value` or `ENV KEY="value with spaces"` (Docker drops the quotes).
  for (const m of last.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S+))/gm)) env[m[1]!] = m[2] ?? m[3]!;
  return { entrypoint: JSON.parse(entry[1]) as string[], workdir, env };
}

/** A local command line equivalent to the Deployment's container. */
export interface LocalCommand {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Mount path → local directory holding the volume's files. */
  mounts: Record<string, string>;
}

/**
 * Translates the Deployment's first container into a local command: the image's entrypoint with
 * `/nodejs/bin/node` → this Node and its WORKDIR → the repository, the container's args with
 * mount paths → local directories, env with downward-API fields and Secret/ConfigMap keys
 * resolved from the rendered objects. Anything it cannot translate exactly is an error.
 */
export function localCommand(
  deployment: any, // any: a rendered apps/v1 Deployment, plain JSON
  objects: readonly KubernetesObject[],
  image: ImageStart,
  pod: { name: string; namespace: string },
): LocalCommand {
  const spec = deployment.spec.template.spec;
  const container = spec.containers[0];
  if (container.command) throw new Error('the chart overrides the image entrypoint; translate container.command instead');
  const mounts: Record<string, string> = {};
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    if (!volume?.configMap) throw new Error(`volume ${mount.name}: only ConfigMap volumes are translated`);
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === volume.configMap.name) as any;
    if (!cm) throw new Error(`ConfigMap ${volume.configMap.name} is not rendered`);
    const dir = mkdtempSync(join(tmpdir(), 'corecast-mount-'));
    for (const [key, value] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(dir, key), value);
    mounts[mount.mountPath] = dir;
  }
  const mapPath = (arg: string): string => {
    for (const [mountPath, dir] of Object.entries(mounts)) {
      if (arg === mountPath || arg.startsWith(`${mountPath}/`)) return dir + arg.slice(mountPath.length);
    }
    return arg;
  };
  const env: Record<string, string> = { ...image.env };
  for (const e of container.env ?? []) env[e.name] = envValue(e, objects, pod);
  const [exe, ...entryArgs] = image.entrypoint;
  if (exe !== '/nodejs/bin/node') throw new Error(`unexpected entrypoint ${exe}`);
  return {
    command: process.execPath,
    args: [...entryArgs, ...(container.args ?? []).map(mapPath)],
    cwd: image.workdir === '/app' ? repoRoot : image.workdir,
    env,
    mounts,
  };
}

function envValue(e: any, objects: readonly KubernetesObject[], pod: { name: string; namespace: string }): string {
  if (typeof e.value === 'string') return e.value;
  const field = e.valueFrom?.fieldRef?.fieldPath;
  if (field === 'metadata.name') return pod.name;
  if (field === 'metadata.namespace') return pod.namespace;
  const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
  if (ref) {
    const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
    const obj = objects.find((o) => o.kind === kind && o.metadata?.name === ref.name && o.metadata?.namespace === pod.namespace) as any;
    const raw = obj?.data?.[ref.key];
    if (raw === undefined) throw new Error(`env ${e.name}: ${kind} ${ref.name} key ${ref.key} is not rendered`);
    return kind === 'Secret' ? Buffer.from(raw, 'base64').toString() : raw;
  }
  throw new Error(`env ${e.name}: cannot translate ${JSON.stringify(e.valueFrom)}`);
}

/**
 * A kubeconfig that authenticates as the ServiceAccount: a bound token from the TokenRequest
 * API (what the kubelet mounts into the pod), the API server's CA from the admin kubeconfig.
 */
export async function serviceAccountKubeconfig(cp: ControlPlane, namespace: string, name: string): Promise<string> {
  const res = await kubectlRun(cp.kubeconfigPath, ['create', 'token', name, '-n', namespace, '--duration=1h']);
  if (res.code !== 0) throw new Error(`kubectl create token: ${res.stderr}`);
  const admin = cp.kubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error('the admin kubeconfig has no embedded CA');
  const dir = mkdtempSync(join(tmpdir(), 'corecast-sa-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'cluster', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: `system:serviceaccount:${namespace}:${name}`, user: { token: res.stdout.trim() } }],
      contexts: [{ name: 'sa', context: { cluster: 'cluster', user: `system:serviceaccount:${namespace}:${name}`, namespace } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return path;
}

/** A running local operator and its log file. */
export interface RunningOperator {
  child: ChildProcess;
  logPath: string;
  exit: Promise<number | null>;
  /** Everything it has written so far (stdout and stderr). */
  log(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the command with only its own environment (plus PATH and a scratch HOME) and the kubeconfig. */
export function startOperator(cmd: LocalCommand, kubeconfig: string): RunningOperator {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-operator-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const logPath = join(dir, 'operator.log');
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd.command, cmd.args, {
    cwd: cmd.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, ...cmd.env },
    stdio: ['ignore', fd, fd],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logPath,
    exit,
    log: () => readFileSync(logPath, 'utf8'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}
