/**
 * Janus (Debian's package) for the side-by-side benchmark: installed with apt when missing, run
 * with a configuration written into a temporary directory (never /etc/janus), its streaming
 * plugin holding one RTP mountpoint that the benchmark's FFmpeg feeds exactly as it feeds the
 * egress (H.264 payload type 102, Opus 111).
 *
 * Only the streaming plugin and the HTTP transport are loaded (the plugin and transport folders
 * are temporary folders linking those two libraries); no event handler, no logger. No STUN or
 * TURN server, no 1:1 NAT mapping, mDNS candidates ignored, candidates gathered on one interface
 * (JANUS_INTERFACE) only: Janus gathers host candidates there and nothing else, and
 * `janusNatSettings` reads that back from the written file so the benchmark can print it.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeTcpPort, freeUdpPort, start, stop, waitFor } from './lib.ts';

const run = promisify(execFile);

/** Where Debian's package puts Janus's plugins and transports. */
const LIBRARIES = '/usr/lib/x86_64-linux-gnu/janus';
/**
 * The interface Janus gathers on, and its address. Janus never gathers on loopback, so the
 * benchmark's namespace holds this interface with one local address (`addJanusInterface`).
 */
export const JANUS_INTERFACE = 'bench0';
/** From the range kept for benchmarks (RFC 2544). */
export const JANUS_ADDRESS = '198.18.0.1';
/** The other end of JANUS_INTERFACE's veth pair (no address). */
const PEER_INTERFACE = 'bench1';

/**
 * Adds JANUS_INTERFACE with JANUS_ADDRESS to this network namespace: one end of a veth pair
 * whose both ends stay in the namespace (this kernel has no dummy interfaces). Packets to a
 * local address go through loopback; the address is a /32 and the other end has none, so no
 * route leads anywhere new. Returns the interface names it added.
 */
export function addJanusInterface(): string[] {
  execFileSync('ip', ['link', 'add', JANUS_INTERFACE, 'type', 'veth', 'peer', 'name', PEER_INTERFACE]);
  execFileSync('ip', ['addr', 'add', `${JANUS_ADDRESS}/32`, 'dev', JANUS_INTERFACE]);
  execFileSync('ip', ['link', 'set', PEER_INTERFACE, 'up']);
  execFileSync('ip', ['link', 'set', JANUS_INTERFACE, 'up']);
  return [JANUS_INTERFACE, PEER_INTERFACE];
}
/** The mountpoint's id in the streaming plugin. */
export const JANUS_MOUNTPOINT = 1;

/** A running Janus with one RTP mountpoint. */
export interface Janus {
  /** The process (its pid is the one measured). */
  readonly process: ReturnType<typeof start>;
  /** Janus's HTTP API root, http://127.0.0.1:port/janus. */
  readonly api: string;
  /** The mountpoint's RTP ports, where FFmpeg sends. */
  readonly videoPort: number;
  readonly audioPort: number;
  /** The written janus.jcfg (for the record of its NAT settings). */
  readonly configFile: string;
  /** The end of Janus's log. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Janus's version line, or undefined when it is not installed. */
export function janusVersion(): string | undefined {
  // It exits 1 after printing its version.
  const out = spawnSync('janus', ['--version'], { encoding: 'utf8' });
  if (out.error) return undefined;
  return /Janus version: \d+ \(([^)]+)\)/.exec(out.stdout ?? '')?.[1];
}

/**
 * Makes sure Janus is installed: installs Debian's package with apt when it is missing. Returns
 * what happened, for the benchmark's output; `installed: false` with the reason when it cannot.
 */
export async function ensureJanus(): Promise<{ installed: boolean; version?: string; note: string }> {
  const present = janusVersion();
  if (present) return { installed: true, version: present, note: 'already installed' };
  if (spawnSync('apt-get', ['--version']).status !== 0) return { installed: false, note: 'apt-get is not available: Janus skipped' };
  if (process.getuid?.() !== 0) return { installed: false, note: 'Janus is missing and installing it needs root: Janus skipped' };
  console.error("Janus is not installed: installing Debian's package (apt-get install janus)");
  try {
    await run('apt-get', ['update', '-q'], { maxBuffer: 64 * 2 ** 20 });
    await run('apt-get', ['install', '-y', '-q', 'janus'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 64 * 2 ** 20,
    });
  } catch (error) {
    return { installed: false, note: `apt-get install janus failed (${(error as Error).message.split('\n')[0]}): Janus skipped` };
  }
  const version = janusVersion();
  return version
    ? { installed: true, version, note: 'installed now with apt-get' }
    : { installed: false, note: 'apt-get ran but janus is still missing: Janus skipped' };
}

/**
 * janus.jcfg: no STUN/TURN, no NAT mapping, sessions ended by the adapter (no timeout). Its own
 * address given (`interface`): otherwise Janus looks for it by routing towards an outside address.
 */
export function janusConfigText(dir: string): string {
  return `general: {
  configs_folder = "${dir}"
  plugins_folder = "${dir}/plugins"
  transports_folder = "${dir}/transports"
  events_folder = "${dir}/none"
  loggers_folder = "${dir}/none"
  debug_level = 3
  session_timeout = 0
  interface = "${JANUS_ADDRESS}"
  server_name = "corecast-bench"
}
certificates: {
}
media: {
  rtp_port_range = "20000-40000"
}
nat: {
  nice_debug = false
  ignore_mdns = true
  ice_ignore_list = ""
  ice_enforce_list = "${JANUS_INTERFACE}"
}
plugins: {
}
transports: {
}
events: {
  broadcast = false
}
`;
}

function httpConfig(port: number): string {
  return `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${port}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
`;
}

/** One RTP mountpoint: H.264 (constrained baseline, packetization mode 1) and Opus, as FFmpeg sends them. */
function streamingConfig(videoPort: number, audioPort: number): string {
  return `general: {
  events = false
}
bench: {
  type = "rtp"
  id = ${JANUS_MOUNTPOINT}
  description = "corecast bench feed"
  media = (
    {
      type = "video"
      mid = "v"
      port = ${videoPort}
      pt = 102
      codec = "h264"
      fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    },
    {
      type = "audio"
      mid = "a"
      port = ${audioPort}
      pt = 111
      codec = "opus"
    }
  )
}
`;
}

/**
 * The NAT section of a written janus.jcfg, as the benchmark prints it: every setting that could
 * make Janus contact an outside address (stun_server, turn_server, turn_rest_api, nat_1_1_mapping)
 * must be absent.
 */
export async function janusNatSettings(configFile: string): Promise<{ outside: string[]; nat: string }> {
  const text = await readFile(configFile, 'utf8');
  const nat =
    /nat: \{([^}]*)\}/
      .exec(text)?.[1]
      ?.trim()
      .replace(/\s*\n\s*/g, '; ') ?? '';
  const outside = ['stun_server', 'turn_server', 'turn_rest_api', 'nat_1_1_mapping'].filter((key) =>
    new RegExp(`^\\s*${key}\\s*=`, 'm').test(text),
  );
  return { outside, nat };
}

/** Writes the configuration into `dir` and starts Janus; resolves once its HTTP API answers. */
export async function startJanus(dir: string): Promise<Janus> {
  const port = await freeTcpPort();
  const videoPort = await freeUdpPort();
  const audioPort = await freeUdpPort();
  for (const sub of ['plugins', 'transports', 'none']) await mkdir(join(dir, sub), { recursive: true });
  await symlink(`${LIBRARIES}/plugins/libjanus_streaming.so`, join(dir, 'plugins/libjanus_streaming.so'));
  await symlink(`${LIBRARIES}/transports/libjanus_http.so`, join(dir, 'transports/libjanus_http.so'));
  const configFile = join(dir, 'janus.jcfg');
  await writeFile(configFile, janusConfigText(dir));
  await writeFile(join(dir, 'janus.transport.http.jcfg'), httpConfig(port));
  await writeFile(join(dir, 'janus.plugin.streaming.jcfg'), streamingConfig(videoPort, audioPort));
  const logFile = join(dir, 'janus.log');
  const janus = start('janus', [
    '--config',
    configFile,
    '--configs-folder',
    dir,
    '--disable-colors',
    '--disable-stdout',
    '--log-file',
    logFile,
  ]);
  const api = `http://127.0.0.1:${port}/janus`;
  const log = async () => (await readFile(logFile, 'utf8').catch(() => '')).slice(-4000);
  await waitFor('Janus HTTP API', async () => ((await fetch(`${api}/info`)).ok ? true : undefined), 30_000).catch(async (err: unknown) => {
    await stop(janus);
    throw new Error(`${(err as Error).message}\njanus: ${janus.tail()}${await log()}`, { cause: err });
  });
  return { process: janus, api, videoPort, audioPort, configFile, log, stop: () => stop(janus) };
}
