/**
 * A real TURN server for tests: Debian's coturn (`turnserver`), on loopback only, relaying to
 * loopback peers, with either a long-term user or a shared secret (TURN REST credentials).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running coturn. */
export interface TurnServer {
  /** Listening UDP port on 127.0.0.1 (TURN over UDP only). */
  readonly port: number;
  /** Its log so far (for failure messages). */
  log(): Promise<string>;
  /** Stops it and removes its files. */
  stop(): Promise<void>;
}

/** True when coturn is installed. */
export function turnServerInstalled(): boolean {
  return spawnSync('sh', ['-c', 'command -v turnserver']).status === 0;
}

/** Starts coturn; `auth` is a long-term user or a shared secret for ephemeral credentials. */
export async function startTurnServer(
  port: number,
  relayPorts: { min: number; max: number },
  auth: { user: string; password: string } | { secret: string },
): Promise<TurnServer> {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-turn-'));
  const logFile = join(dir, 'turn.log');
  const args = [
    '-n', // no configuration file
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    `--min-port=${relayPorts.min}`,
    `--max-port=${relayPorts.max}`,
    '--realm=corecast.test',
    '--fingerprint',
    // UDP only: the port was found free for UDP, and the same number may be taken for TCP by any
    // connection on the machine — coturn then retries that bind for good and never answers.
    '--no-tcp',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--no-multicast-peers',
    // Peers (the egress and the viewer) are on loopback in tests; coturn refuses that by default.
    '--allow-loopback-peers',
    `--userdb=${join(dir, 'turndb')}`,
    `--pidfile=${join(dir, 'turn.pid')}`,
    `--log-file=${logFile}`,
    '--simple-log',
    ...('secret' in auth
      ? ['--use-auth-secret', `--static-auth-secret=${auth.secret}`]
      : ['--lt-cred-mech', `--user=${auth.user}:${auth.password}`]),
  ];
  const child: ChildProcess = spawn('turnserver', args, { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  const deadline = performance.now() + 15000;
  while (!/Total General servers/.test(await log())) {
    if (child.exitCode !== null || performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`turnserver did not start: ${await log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
