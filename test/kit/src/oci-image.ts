/**
 * Reading and running an image from a docker-archive without any container engine: the
 * archive's manifest and image config, its layers unpacked into a root filesystem, and that
 * root filesystem started with runc (the runtime containerd uses) as the image says — its
 * entrypoint, environment, working directory and user — in new namespaces. By default a
 * container gets a network namespace of its own holding only loopback, so what runs in it can
 * reach nothing outside; `inNetwork` runs a host program inside that namespace (the way the
 * kubelet probes a pod from outside it).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The part of an image config (`config` in the config JSON) a runtime reads. */
export interface ImageConfig {
  User?: string;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown> | null;
}

/** What a docker-archive holds for its one image. */
export interface ArchiveImage {
  repoTags: string[];
  /** Layer tar files inside the archive, bottom first. */
  layers: string[];
  config: ImageConfig;
  architecture: string;
  os: string;
}

async function archiveMember(archive: string, member: string): Promise<string> {
  const { stdout } = await run('tar', ['-xOf', archive, member], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Reads manifest.json and the image config of a single-image docker-archive. */
export async function readArchive(archive: string): Promise<ArchiveImage> {
  const manifest = JSON.parse(await archiveMember(archive, 'manifest.json')) as { Config: string; RepoTags?: string[]; Layers: string[] }[];
  if (manifest.length !== 1 || !manifest[0]) throw new Error(`${archive}: expected one image, found ${manifest.length}`);
  const entry = manifest[0];
  const cfg = JSON.parse(await archiveMember(archive, entry.Config)) as { config?: ImageConfig; architecture: string; os: string };
  return { repoTags: entry.RepoTags ?? [], layers: entry.Layers, config: cfg.config ?? {}, architecture: cfg.architecture, os: cfg.os };
}

/**
 * Unpacks the image's layers in order into `dest`, applying whiteouts (`.wh.<name>` removes a
 * path of the layers below, `.wh..wh..opq` empties a directory), with owners and modes kept.
 */
export async function unpackRootfs(archive: string, dest: string): Promise<ArchiveImage> {
  const image = await readArchive(archive);
  mkdirSync(dest, { recursive: true });
  for (const layer of image.layers) {
    const { stdout } = await run('sh', ['-c', 'tar -xOf "$1" "$2" | tar -t', 'sh', archive, layer], { maxBuffer: 256 * 1024 * 1024 });
    for (const entry of stdout.split('\n')) {
      const path = entry.replace(/^\.?\//, '');
      const slash = path.lastIndexOf('/');
      const [dir, base] = [path.slice(0, slash + 1), path.slice(slash + 1)];
      if (base === '.wh..wh..opq') {
        await run('sh', ['-c', 'find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +', 'sh', join(dest, dir)]).catch(() => {});
      } else if (base.startsWith('.wh.')) {
        rmSync(join(dest, dir, base.slice(4)), { recursive: true, force: true });
      }
    }
    await run('sh', [
      '-c',
      'tar -xOf "$1" "$2" | tar -x --numeric-owner --same-owner -p --exclude=".wh.*" -C "$3"',
      'sh',
      archive,
      layer,
      dest,
    ]);
  }
  return image;
}

/** A bind mount into a container. */
export interface BindMount {
  source: string;
  destination: string;
  readonly?: boolean;
}

/** How to start a container (defaults: what the image says). */
export interface RunOptions {
  /** Replaces the image's entrypoint (as a pod's `command` does). */
  entrypoint?: string[];
  /** Replaces the image's Cmd (as a pod's `args` do). */
  args?: string[];
  /** Added to (and overriding) the image's environment. */
  env?: Record<string, string>;
  mounts?: BindMount[];
  /** Join this process's network namespace instead of getting a new one (as containers of one pod do). */
  networkOf?: number;
}

/** The end of a container's process. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started container. */
export interface Container {
  readonly id: string;
  /** Its first process, as the host sees it. */
  readonly pid: number;
  /** Resolves when it has exited (also after `kill`). */
  readonly exited: Promise<Exit>;
  /** Output so far. */
  output(): { stdout: string; stderr: string };
  /** Sends a signal to its first process. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Runs a host program inside the container's network namespace. */
  inNetwork(file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
}

/** The user of an image config (`uid[:gid]` or a name from the image's /etc/passwd). */
export function resolveUser(user: string | undefined, rootfs: string): { uid: number; gid: number } {
  const [u = '', g] = (user ?? '').split(':');
  if (u === '') return { uid: 0, gid: 0 };
  const lookup = (file: string, name: string) =>
    readFileSync(join(rootfs, 'etc', file), 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === name);
  const uid = /^\d+$/.test(u) ? Number(u) : Number(lookup('passwd', u)?.[2]);
  let gid: number;
  if (g !== undefined) gid = /^\d+$/.test(g) ? Number(g) : Number(lookup('group', g)?.[2]);
  else gid = /^\d+$/.test(u) ? uid : Number(lookup('passwd', u)?.[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`cannot resolve user "${user}" in ${rootfs}`);
  return { uid, gid };
}

/**
 * Unpacked images and the containers started from them, under one temporary directory and one
 * runc state directory of its own; `close()` kills what still runs and removes everything.
 */
export class OciRunner {
  readonly dir = mkdtempSync(join(tmpdir(), 'corecast-oci-'));
  readonly #state = join(this.dir, 'runc');
  readonly #rootfs = new Map<string, Promise<{ path: string; image: ArchiveImage }>>();
  readonly #started = new Set<string>();

  /** The archive unpacked once (later calls share it). */
  rootfs(archive: string): Promise<{ path: string; image: ArchiveImage }> {
    let p = this.#rootfs.get(archive);
    if (!p) {
      const path = join(this.dir, `rootfs-${this.#rootfs.size}`);
      p = unpackRootfs(archive, path).then((image) => ({ path, image }));
      this.#rootfs.set(archive, p);
    }
    return p;
  }

  /** Starts a container from the archive's image. */
  async start(archive: string, opts: RunOptions = {}): Promise<Container> {
    const { path: rootfs, image } = await this.rootfs(archive);
    const cfg = image.config;
    const id = `corecast-${randomBytes(5).toString('hex')}`;
    const bundle = join(this.dir, id);
    mkdirSync(bundle);
    await run('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      process: { terminal: boolean; args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
      root: { path: string; readonly: boolean };
      hostname: string;
      mounts: { destination: string; type: string; source: string; options: string[] }[];
      linux: { namespaces: { type: string; path?: string }[] };
    };
    const args = [...(opts.entrypoint ?? cfg.Entrypoint ?? []), ...(opts.args ?? (opts.entrypoint ? [] : (cfg.Cmd ?? [])))];
    if (args.length === 0) throw new Error(`${archive}: no entrypoint or command to run`);
    const env = new Map((cfg.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    for (const [k, v] of Object.entries(opts.env ?? {})) env.set(k, v);
    spec.process = {
      ...spec.process,
      terminal: false,
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: cfg.WorkingDir || '/',
      user: resolveUser(cfg.User, rootfs),
    };
    spec.root = { path: rootfs, readonly: false };
    spec.hostname = id;
    for (const m of opts.mounts ?? []) {
      spec.mounts.push({
        destination: m.destination,
        type: 'bind',
        source: m.source,
        options: ['rbind', m.readonly === false ? 'rw' : 'ro'],
      });
    }
    if (opts.networkOf !== undefined) {
      spec.linux.namespaces = spec.linux.namespaces.map((ns) =>
        ns.type === 'network' ? { type: 'network', path: `/proc/${opts.networkOf}/ns/net` } : ns,
      );
    }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

    const child = spawn('runc', ['--root', this.#state, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#started.add(id);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<Exit>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    // The pid is known once runc has created the container (or it has already gone).
    let pid = 0;
    const deadline = Date.now() + 20_000;
    let done = false;
    void exited.then(() => (done = true));
    while (pid === 0 && !done && Date.now() < deadline) {
      try {
        const { stdout: state } = await run('runc', ['--root', this.#state, 'state', id]);
        pid = (JSON.parse(state) as { pid: number }).pid;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const runner = this.#state;
    return {
      id,
      pid,
      exited,
      output: () => ({ stdout, stderr }),
      kill: async (signal = 'SIGTERM') => {
        await run('runc', ['--root', runner, 'kill', id, signal.replace(/^SIG/, '')]).catch(() => {});
      },
      inNetwork: async (file, argv) => {
        if (pid === 0) throw new Error(`container ${id} has no process`);
        return run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', file, ...argv]);
      },
    };
  }

  /** Kills and deletes every container started here, and removes the directory. */
  async close(): Promise<void> {
    for (const id of this.#started) {
      await run('runc', ['--root', this.#state, 'delete', '--force', id]).catch(() => {});
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A directory a container's non-root user can read (mkdtemp makes 0700 ones). */
export function readableDir(parent: string, name: string, files: Record<string, string>): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text, { mode: 0o644 });
  return dir;
}
