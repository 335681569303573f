/**
 * Supervision of the control plane's child processes, so none outlives the harness.
 *
 * Each child runs in its own process group (spawned `detached`, i.e. setsid) so a signal
 * reaches everything it might fork. Three layers make sure the groups die:
 * 1. `stop()` — SIGTERM each group, SIGKILL after a grace period, wait for the exit.
 * 2. Process hooks — SIGINT/SIGTERM stop gracefully; `exit` (also reached after an uncaught
 *    error) SIGKILLs whatever is left, synchronously.
 * 3. A guard shell that reads the children's pids on a pipe from this process: when this
 *    process dies without running any hook (SIGKILL, OOM), the pipe closes and the guard
 *    SIGKILLs every group it was told about, then removes the state directories it was given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/**
 * A failFast check for waiting on a start: the first of `children` that exited, named with the
 * tail of its log; undefined while all run.
 */
export function died(...children: Supervised[]): () => string | undefined {
  return () => {
    const gone = children.find((c) => c.hasExited());
    if (!gone) return undefined;
    const tail = readFileSync(gone.logPath, 'utf8').split('\n').slice(-20).join('\n');
    return `${gone.name} exited; log ${gone.logPath}:\n${tail}`;
  };
}

/** One running child process. */
export interface Supervised {
  name: string;
  pid: number;
  logPath: string;
  /** Settles when the child has exited (and been reaped). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the child has exited. */
  hasExited(): boolean;
}

// Reads `pid:<n>`, `sh:<script>` and `dir:<path>` lines until EOF, then kills those process
// groups, runs those scripts (a teardown that needs more than a kill, e.g. the test node's) and
// removes those directories. It ignores the terminal's signals so a Ctrl-C that reaches the whole
// foreground group cannot kill it before it has done its job.
const guardScript = `trap '' INT TERM HUP
pids=''
dirs=''
scripts=''
while IFS= read -r line; do
  case "$line" in
    pid:*) pids="$pids \${line#pid:}" ;;
    sh:*) scripts="$scripts
\${line#sh:}" ;;
    dir:*) dirs="$dirs
\${line#dir:}" ;;
  esac
done
# "kill -KILL -<pgid>" signals the whole group (dash's kill takes no "--").
for pid in $pids; do kill -KILL "-$pid" 2>/dev/null; done
sleep 1
printf '%s\\n' "$scripts" | while IFS= read -r script; do [ -n "$script" ] && sh "$script" >/dev/null 2>&1; done
printf '%s\\n' "$dirs" | while IFS= read -r dir; do [ -n "$dir" ] && rm -rf -- "$dir"; done
exit 0`;

const live = new Set<ProcessGroup>();
let hooksInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const group of live) group.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      void Promise.allSettled([...live].map((g) => g.stop())).then(() => {
        process.off(signal, onSignal);
        // Someone else handles this signal (e.g. the cluster CLI): let them decide how to exit.
        // Otherwise behave as the default disposition would: die by the signal.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
}

/** The children of one control plane, started in order and stopped in reverse. */
export class ProcessGroup {
  readonly #children: { proc: ChildProcess; info: Supervised }[] = [];
  #guard: ChildProcess | undefined;
  #stopping: Promise<void> | undefined;
  readonly #cleanups: (() => void)[] = [];

  constructor() {
    installHooks();
    live.add(this);
  }

  /** Starts `command` in its own process group, stdout and stderr appended to `logPath`. */
  spawn(name: string, command: string, args: readonly string[], logPath: string): Supervised {
    if (this.#stopping) throw new Error(`cannot start ${name}: the control plane is stopping`);
    const fd = openSync(logPath, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (proc.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.once('exit', (code, signal) => {
        done = true;
        resolve({ code, signal });
      });
    });
    // A detached child must not keep the event loop (and so a test process) alive.
    proc.unref();
    const info: Supervised = { name, pid: proc.pid, logPath, exited, hasExited: () => done };
    this.#children.push({ proc, info });
    this.#watch(proc.pid);
    return info;
  }

  /** Pids of every process started (children and the guard, alive or not). */
  pids(): number[] {
    const pids = this.#children.map((c) => c.info.pid);
    if (this.#guard?.pid !== undefined) pids.push(this.#guard.pid);
    return pids;
  }

  /** Stops every child: SIGTERM to its group, SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs = 5000): Promise<void> {
    this.#stopping ??= this.#stopAll(graceMs);
    return this.#stopping;
  }

  /** Registers a synchronous cleanup (e.g. removing files) run once every child is gone. */
  onStopped(cleanup: () => void): void {
    this.#cleanups.push(cleanup);
  }

  #runCleanups(): void {
    for (const cleanup of this.#cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // Best effort: a leftover temporary directory is not worth failing a stop for.
      }
    }
  }

  /** Synchronous last resort (process `exit` hook): SIGKILL every group, no waiting. */
  killNow(): void {
    for (const { info } of this.#children) killGroup(info.pid, 'SIGKILL');
    this.#guard?.kill('SIGKILL');
    this.#runCleanups();
  }

  async #stopAll(graceMs: number): Promise<void> {
    for (const { proc, info } of [...this.#children].reverse()) {
      if (!info.hasExited()) {
        // Waiting for the exit must keep this process alive (the children are unref'd).
        proc.ref();
        killGroup(info.pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(info.pid, 'SIGKILL'), graceMs);
        await info.exited;
        clearTimeout(timer);
      }
      // The leader is gone; anything it forked into its group goes too.
      killGroup(info.pid, 'SIGKILL');
    }
    await this.#stopGuard();
    live.delete(this);
    this.#runCleanups();
  }

  /** Kills the guard (no longer needed: everything it watched is gone) and waits until it is reaped. */
  async #stopGuard(): Promise<void> {
    const guard = this.#guard;
    if (!guard || guard.exitCode !== null || guard.signalCode !== null) return;
    const exited = new Promise((resolve) => guard.once('exit', resolve));
    guard.ref();
    guard.kill('SIGKILL');
    await exited;
  }

  /** Also remove `dir` if this process dies without stopping the group (see the guard). */
  removeOnDeath(dir: string): void {
    this.#tellGuard(`dir:${dir}`);
  }

  /** Also run `sh <script>` if this process dies without stopping the group (see the guard). */
  runOnDeath(script: string): void {
    this.#tellGuard(`sh:${script}`);
  }

  #watch(pid: number): void {
    this.#tellGuard(`pid:${pid}`);
  }

  #tellGuard(line: string): void {
    if (!this.#guard) {
      const guard = spawn('sh', ['-c', guardScript], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      guard.unref();
      // The pipe must not keep this process alive either; it only has to close when we die.
      guard.stdin?.on('error', () => {});
      (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.#guard = guard;
    }
    this.#guard.stdin?.write(`${line}\n`);
  }
}
