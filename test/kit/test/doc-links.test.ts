/**
 * Every file the repository cites is a file the repository has. Scanned: every Markdown file,
 * and the comments of every TypeScript, JavaScript, YAML and shell file (node_modules, dist and
 * .git left out). A citation is
 * - a relative Markdown link, `[text](path)` (resolved from the citing file; a leading `/` from
 *   the repository root), in Markdown files and in comments alike;
 * - a Markdown file named anywhere in them (`CHANGES.md`, `docs/deploy.md`);
 * - a repository path: a name with a `/` that starts at a top-level folder of the repository
 *   (`egress-pod/src/whep/errors.ts`), or at a workspace folder (`src/…`, `test/…`, `bench/…`,
 *   `scripts/…`, `templates/…`), resolved from the citing file's folder or any folder above it;
 *   one below `node_modules/` must exist in the installed packages.
 * Paths into other projects' sources (`ice/src/ice.ts` in werift, Node's `lib/…`), URLs, globs
 * and placeholders (`<name>`, `${x}`, `{a,b}`) are not citations of this repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const SKIP = new Set(['node_modules', 'dist', '.git']);
/** This file: its examples of citations, in strings, are not citations. */
const SELF = 'test/kit/test/doc-links.test.ts';
const SCANNED = /\.(md|ts|mts|js|mjs|ya?ml|sh)$/;

/** Files scanned (relative paths). */
function scanned(dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return scanned(rel);
    return SCANNED.test(entry.name) && rel !== SELF ? [rel] : [];
  });
}

const topLevel = new Set(readdirSync(root).filter((name) => !SKIP.has(name)));
/** Folders a workspace-relative path starts with. */
const WORKSPACE_FOLDERS = new Set(['src', 'test', 'bench', 'scripts', 'templates']);

/** The comment text of a source file (the whole text of a Markdown file). */
export function commentText(file: string, text: string): string {
  if (file.endsWith('.md')) return text;
  const hash = /\.(ya?ml|sh)$/.test(file);
  const out: string[] = [];
  let inBlock = false;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (hash) {
      const at = t.startsWith('#') ? 0 : line.search(/\s#\s/);
      if (at >= 0) out.push(t.startsWith('#') ? t : line.slice(at));
      continue;
    }
    if (inBlock || t.startsWith('/*')) {
      out.push(t);
      inBlock = !t.includes('*/');
      continue;
    }
    const at = line.search(/(^|\s)\/\/\s/);
    if (at >= 0) out.push(line.slice(at));
  }
  return out.join('\n');
}

/** Relative Markdown link targets in `text` (anchors and titles dropped, URLs left out). */
export function markdownLinks(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!.replace(/^<|>$/g, '');
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    const path = target.split('#')[0]!.split('?')[0]!;
    if (path !== '') out.push(decodeURIComponent(path));
  }
  return out;
}

/** File names and paths cited in `text` (see the file comment for what counts). */
export function citedPaths(text: string): string[] {
  const out: string[] = [];
  const withoutUrls = text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, ' ');
  for (const m of withoutUrls.matchAll(/(?<![\w./@~$-])((?:\.{1,2}\/)*[\w.-]+(?:\/[\w.-]+)*\.[A-Za-z]{1,5})(?![\w/*{$<-])/g)) {
    const token = m[1]!.replace(/\.+$/, '');
    const first = token.replace(/^(\.{1,2}\/)+/, '').split('/')[0]!;
    if (token.endsWith('.md') || token.startsWith('./') || token.startsWith('../')) out.push(token);
    else if (token.includes('/') && (topLevel.has(first) || WORKSPACE_FOLDERS.has(first) || first === 'node_modules')) out.push(token);
  }
  return out;
}

/** Whether `cited` names an existing file or folder, seen from `file`. */
function resolves(file: string, cited: string, link: boolean): boolean {
  if (link) return existsSync(join(root, cited.startsWith('/') ? cited.slice(1) : posix.join(dirname(file), cited)));
  if (cited.startsWith('./') || cited.startsWith('../')) return existsSync(join(root, posix.join(dirname(file), cited)));
  // From the citing file's folder and every folder above it, up to the repository root.
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const base = dir === '.' ? '' : dir;
    if (existsSync(join(root, base, cited))) return true;
    if (base === '') return false;
  }
}

describe('every file the repository cites exists', () => {
  const files = scanned();

  it('scans the sources, tests, charts, scripts and docs', () => {
    for (const f of ['README.md', 'egress-pod/src/whep/routes.ts', 'scripts/setup.sh', 'charts/corecast/values.yaml']) {
      assert.ok(files.includes(f), `${f} is not scanned`);
    }
  });

  it('no Markdown link, Markdown file name or repository path names a file that does not exist', () => {
    const broken: string[] = [];
    for (const file of files) {
      const text = commentText(file, readFileSync(join(root, file), 'utf8'));
      for (const target of markdownLinks(text)) if (!resolves(file, target, true)) broken.push(`${file}: link to ${target}`);
      for (const cited of citedPaths(text)) if (!resolves(file, cited, false)) broken.push(`${file}: names ${cited}`);
    }
    assert.deepEqual(broken, []);
  });

  it('reads the citations it is meant to', () => {
    const text = [
      '// See GONE.md and egress-pod/src/whep/errors.ts (and src/index.ts), [map](../docs/map.md#top).',
      '// Not these: https://example.org/a/b.md, ice/src/ice.ts, **/*.test.ts, <name>/x.ts, ${dir}/y.ts.',
    ].join('\n');
    assert.deepEqual(citedPaths(text).sort(), ['../docs/map.md', 'GONE.md', 'egress-pod/src/whep/errors.ts', 'src/index.ts']);
    assert.deepEqual(markdownLinks(text), ['../docs/map.md']);
    assert.equal(commentText('a.ts', "const x = 'docs/gone.md'; // docs/here.md"), ' // docs/here.md');
    assert.equal(commentText('a.sh', 'echo x # see docs/deploy.md'), ' # see docs/deploy.md');
  });
});
