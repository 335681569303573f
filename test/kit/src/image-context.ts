/**
 * What a product image is built from, as a hash: the Dockerfile, .dockerignore, and every file
 * of the build context (the repository root) that the Dockerfile's `COPY` lines read and
 * .dockerignore lets through, by path, executable bit and content. test/node/images.sh rebuilds
 * an image only when this hash (or a base image under it) changes.
 *
 *   node test/kit/src/image-context.ts <dockerfile>           print the hash
 *   node test/kit/src/image-context.ts <dockerfile> --files   print the files it covers
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join, matchesGlob } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, the build context of every product Dockerfile. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface IgnoreRule {
  negate: boolean;
  glob: string;
}

/** .dockerignore's rules in order (comments and blank lines dropped). */
export function ignoreRules(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => (l.startsWith('!') ? { negate: true, glob: l.slice(1) } : { negate: false, glob: l }));
}

/** Whether a context path is left out: the last rule matching it or one of its folders decides. */
export function ignoredBy(rules: readonly IgnoreRule[], path: string): boolean {
  const ancestors: string[] = [];
  for (let p = path.replace(/\/$/, ''); p !== '.' && p !== ''; p = dirname(p)) ancestors.push(p);
  let out = false;
  for (const rule of rules) {
    if (ancestors.some((a) => matchesGlob(a, rule.glob))) out = !rule.negate;
  }
  return out;
}

/** Sources of every `COPY` that reads the build context (not `--from=` another stage). */
export function copySources(dockerfile: string): string[] {
  return [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = (m[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((p) => !p.startsWith('--'));
    return parts.slice(0, -1);
  });
}

/** The context files (relative paths, sorted) that a Dockerfile's COPY lines send into the image. */
export function contextFiles(dockerfilePath: string, root = repoRoot): string[] {
  const rules = ignoreRules(readFileSync(join(root, '.dockerignore'), 'utf8'));
  const files = new Set<string>();
  const walk = (rel: string): void => {
    if (ignoredBy(rules, rel)) return;
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      for (const name of readdirSync(join(root, rel))) walk(rel === '' ? name : `${rel}/${name}`);
    } else {
      files.add(rel);
    }
  };
  for (const src of copySources(readFileSync(join(root, dockerfilePath), 'utf8'))) {
    walk(src.replace(/^\.\//, '').replace(/\/+$/, ''));
  }
  return [...files].sort();
}

/** The hash described in the file comment. */
export function contextHash(dockerfilePath: string, root = repoRoot): string {
  const h = createHash('sha256');
  for (const rel of [dockerfilePath, '.dockerignore', ...contextFiles(dockerfilePath, root)]) {
    const path = join(root, rel);
    const st = lstatSync(path);
    const body = st.isSymbolicLink() ? Buffer.from(`symlink:${readlinkSync(path)}`) : readFileSync(path);
    const fileHash = createHash('sha256').update(body).digest('hex');
    h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0${fileHash}\n`);
  }
  return h.digest('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dockerfile, flag] = process.argv.slice(2);
  if (!dockerfile || (flag !== undefined && flag !== '--files')) {
    process.stderr.write('usage: image-context.ts <dockerfile> [--files]\n');
    process.exit(2);
  }
  process.stdout.write(flag ? `${contextFiles(dockerfile).join('\n')}\n` : `${contextHash(dockerfile)}\n`);
}
