/**
 * Each workspace's package.json says what its code imports. Every source file belongs to the
 * innermost workspace folder holding it (files outside every workspace — scripts/, test/e2e/,
 * the lint config — belong to the root package), and every bare import in it must be declared
 * there: code that ships (src/ of a workspace an image copies) in `dependencies`, since the
 * images install with `npm ci --omit=dev`; tests, benchmarks, scripts and the test kit in either
 * `dependencies` or `devDependencies`. Node's built-in modules need no declaration. The root
 * package holds tooling only (no `dependencies`), and werift, whose internals rtc-fastpath
 * reaches into, has one exact version in every package.json that names it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Manifest {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;

const rootManifest = manifest('.');
const workspaces = (rootManifest.workspaces ?? []).map((dir) => ({ dir, manifest: manifest(dir) }));
const workspaceNames = new Set(workspaces.map((w) => w.manifest.name));
/** Workspaces an image copies whole (`COPY <dir>/ ./<dir>/`): their src/ runs in production. */
const shipped = new Set(
  ['operator/Dockerfile', 'egress-pod/Dockerfile'].flatMap((f) =>
    [...readFileSync(join(root, f), 'utf8').matchAll(/^COPY\s+([\w/-]+)\/\s+\.\/\1\/$/gm)].map((m) => m[1]!),
  ),
);
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Folders never scanned: installed packages, generated or external trees, Git. */
const SKIP = new Set(['node_modules', '.git', 'dist', 'coverage']);

/** Source files (relative paths) below `dir`, dot-folders and dot-files left out. */
function sources(dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) return [];
    const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sources(rel);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [rel] : [];
  });
}

/** Module specifiers a file loads: static and dynamic imports, re-exports, require and require.resolve. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bcreateRequire\([^)]*\)\.resolve\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) out.push(m[1]!);
  return out;
}

/** The package a bare specifier names (`@scope/name` or `name`); undefined for relative, absolute and built-in ones. */
export function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('#') || builtins.has(spec) || spec.startsWith('node:')) {
    return undefined;
  }
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtins.has(name) ? undefined : name;
}

/** The workspace folder owning `file` (the innermost one), or '' for the root package. */
function ownerOf(file: string): string {
  let owner = '';
  for (const { dir } of workspaces) if (file.startsWith(`${dir}/`) && dir.length > owner.length) owner = dir;
  return owner;
}

describe('each workspace declares what it imports', () => {
  const files = sources();

  it('knows which workspaces ship in an image', () => {
    assert.deepEqual([...shipped].sort(), ['api', 'egress-pod', 'operator', 'rtc-fastpath']);
  });

  it('finds the sources of every workspace', () => {
    for (const { dir } of workspaces)
      assert.ok(
        files.some((f) => ownerOf(f) === dir && f.startsWith(`${dir}/src/`)),
        `no sources in ${dir}/src`,
      );
  });

  it('every bare import is declared in the package.json of the workspace it is in', () => {
    const missing: string[] = [];
    for (const file of files) {
      const owner = ownerOf(file);
      const m = owner === '' ? rootManifest : workspaces.find((w) => w.dir === owner)!.manifest;
      const ships = shipped.has(owner) && file.startsWith(`${owner}/src/`);
      const declared = new Set([...Object.keys(m.dependencies ?? {}), ...(ships ? [] : Object.keys(m.devDependencies ?? {}))]);
      // The root package links every workspace: its scripts and end-to-end tests may use them all.
      if (owner === '') for (const name of workspaceNames) declared.add(name);
      for (const spec of specifiers(readFileSync(join(root, file), 'utf8'))) {
        const name = packageOf(spec);
        if (name === undefined || name === m.name || declared.has(name)) continue;
        missing.push(
          `${file} imports ${spec}: declare ${name} in ${owner || '.'}/package.json (${ships ? 'dependencies' : 'dependencies or devDependencies'})`,
        );
      }
    }
    assert.deepEqual(missing, []);
  });

  it('a workspace dependency names a workspace that exists', () => {
    for (const { dir, manifest: m } of workspaces) {
      for (const name of Object.keys({ ...m.dependencies, ...m.devDependencies })) {
        if (name.startsWith('@corecast/')) assert.ok(workspaceNames.has(name), `${dir}/package.json names ${name}, which is no workspace`);
      }
    }
  });

  it('the root package holds tooling only', () => {
    assert.deepEqual(Object.keys(rootManifest.dependencies ?? {}), []);
  });

  it('every package.json that names werift pins the version rtc-fastpath was verified against', () => {
    const pin = workspaces.find((w) => w.dir === 'rtc-fastpath')?.manifest.dependencies?.werift;
    assert.match(pin ?? '', /^\d+\.\d+\.\d+$/, 'rtc-fastpath pins werift to one exact version');
    for (const { dir, manifest: m } of [{ dir: '.', manifest: rootManifest }, ...workspaces]) {
      for (const deps of [m.dependencies, m.devDependencies]) {
        if (deps?.werift !== undefined) assert.equal(deps.werift, pin, `${dir}/package.json: werift ${deps.werift}`);
      }
    }
  });

  it('reads the import forms the scan relies on', () => {
    // Written so that this file's own scan does not read them as imports of its own.
    const text = [
      "import { a } from 'pkg-a/sub';",
      "import type { B } from '@scope/b/deep';",
      "export { c } from 'pkg-c';",
      "import 'side-effect';",
      'const d = await imp' + "ort('pkg-d');",
      'createRequire(import.meta.url)' + ".resolve('pkg-e/file.js');",
      "import { f } from './local.ts';",
      "import { g } from 'node:fs';",
    ].join('\n');
    assert.deepEqual(specifiers(text).map(packageOf).filter(Boolean).sort(), [
      '@scope/b',
      'pkg-a',
      'pkg-c',
      'pkg-d',
      'pkg-e',
      'side-effect',
    ]);
  });
});
