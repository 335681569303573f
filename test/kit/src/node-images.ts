/**
 * The container images of the test node, built on this machine by test/node/images.sh from the
 * repository's Dockerfiles and local base images, as docker-archives that `ctr images import`
 * takes. The script keeps them in a cache directory and rebuilds one only when its inputs change.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build script. */
export const imagesScript = fileURLToPath(new URL('../../node/images.sh', import.meta.url));

/** The images, by role. */
export type ImageName = 'operator' | 'egress' | 'ffmpeg' | 'pause';
export const imageNames: readonly ImageName[] = ['operator', 'egress', 'ffmpeg', 'pause'];

/** The names the images carry in their archives (and so in containerd after an import). */
export const imageRefs: Readonly<Record<ImageName, string>> = {
  operator: 'docker.io/corecast/operator:dev',
  egress: 'docker.io/corecast/egress:dev',
  ffmpeg: 'docker.io/corecast/ffmpeg:dev',
  pause: 'docker.io/corecast/pause:dev',
};

/** Where the built images are. */
export interface NodeImages {
  /** The cache directory (also buildah's storage). */
  dir: string;
  /** docker-archive files, one image each. */
  archives: Record<ImageName, string>;
  /** The image names inside them. */
  refs: Record<ImageName, string>;
}

/** The cache directory images.sh writes to (same rule as the script). */
export function imagesCacheDir(env = process.env): string {
  if (env.CORECAST_IMAGES_DIR) return env.CORECAST_IMAGES_DIR;
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'corecast', 'images');
}

function imagesIn(dir: string): NodeImages {
  const archives = Object.fromEntries(imageNames.map((n) => [n, join(dir, `${n}.tar`)])) as Record<ImageName, string>;
  return { dir, archives, refs: { ...imageRefs } };
}

let pending: Promise<NodeImages> | undefined;

/**
 * Returns the images, running images.sh first. The script is the one judge of "up to date" (it
 * hashes what each image is built from): with nothing changed it takes about a second; a cold
 * build takes a few minutes, its progress on stderr. One run per process at a time.
 */
export function ensureImages(): Promise<NodeImages> {
  pending ??= runScript().finally(() => {
    pending = undefined;
  });
  return pending;
}

async function runScript(): Promise<NodeImages> {
  const child = spawn('sh', [imagesScript], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const verbose = process.env.CORECAST_IMAGES_VERBOSE === '1';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-100_000);
    // Each image built announces itself and its time; the build logs show with CORECAST_IMAGES_VERBOSE=1.
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (verbose || /^(images\.sh: |\{"name")/.test(line)) process.stderr.write(`${line}\n`);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const dir = stdout.trim().split('\n').pop() ?? '';
  const images = imagesIn(dir || imagesCacheDir());
  const missing = Object.values(images.archives).filter((a) => !existsSync(a));
  if (code !== 0 || missing.length > 0) {
    throw new Error(
      `test/node/images.sh failed (exit ${code}${missing.length ? `; missing ${missing.join(', ')}` : ''}):\n${stderr.slice(-4000)}`,
    );
  }
  return images;
}
