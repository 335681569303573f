/** Helpers of the control-plane integration tests: liveness of pids, polling, the cluster CLI. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../src/cluster-cli.ts', import.meta.url));

/** True while a process with this pid exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Live processes whose command line mentions `text` (from /proc), e.g. a control plane's state
 * directory, which each of its processes names in a flag. Sorted by name.
 */
export function processesMentioning(text: string): { pid: number; name: string }[] {
  const found: { pid: number; name: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited while we looked
    }
    if (argv.some((arg) => arg.includes(text))) found.push({ pid: Number(entry), name: basename(argv[0] ?? '') });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** True when the path no longer exists. */
export function gone(path: string): boolean {
  return !existsSync(path);
}

/**
 * Retries `attempt` every 200 ms until it resolves; rejects with its last error after
 * `timeoutMs`. For conditions a controller reaches eventually, not for timing anything.
 */
export async function until<T>(what: string, attempt: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${String(err)}`, { cause: err });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A running `npm run cluster` (started as `node test/kit/src/cluster-cli.ts`). */
export interface ClusterCli {
  child: ChildProcess;
  kubeconfigPath: string;
  /** Pids the CLI reported for its control plane (children and guard). */
  pids: number[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the cluster CLI and resolves once it has printed its `export KUBECONFIG=` line. */
export function runClusterCli(): Promise<ClusterCli> {
  const child = spawn(process.execPath, [cliPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const exported = /^export KUBECONFIG=(.+)$/m.exec(stdout)?.[1];
      const pids = /^cluster: pids: ([\d ]+)$/m.exec(stderr)?.[1];
      if (exported && pids) resolve({ child, kubeconfigPath: exported, pids: pids.split(' ').map(Number), exit });
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      check();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      check();
    });
    void exit.then(({ code, signal }) => reject(new Error(`cluster CLI exited (${code ?? signal}):\n${stderr}`)));
  });
}
