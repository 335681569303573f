/**
 * What can be checked here of the container images without a Docker engine: every COPY source
 * exists and survives .dockerignore, tests stay out, the program each image starts exists, the
 * images run as a non-root uid on Node 24, and the code they ship imports only the workspaces
 * they copy and those workspaces' production dependencies (the images install with
 * `npm ci --omit=dev`).
 */
import assert from 'node:assert/strict';
import { existsSync, globSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, matchesGlob } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { workspaces: string[] };

/** .dockerignore rules in order; the last rule matching a path or one of its folders decides. */
const ignoreRules = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => (l.startsWith('!') ? { negate: true, glob: l.slice(1) } : { negate: false, glob: l }));

function ignored(path: string): boolean {
  const ancestors: string[] = [];
  for (let p = path.replace(/\/$/, ''); p !== '.' && p !== ''; p = dirname(p)) ancestors.push(p);
  let out = false;
  for (const rule of ignoreRules) {
    if (ancestors.some((a) => matchesGlob(a, rule.glob))) out = !rule.negate;
  }
  return out;
}

interface Dockerfile {
  path: string;
  text: string;
  lastStage: string;
}

const dockerfiles: Dockerfile[] = ['operator/Dockerfile', 'egress-pod/Dockerfile', 'images/ffmpeg/Dockerfile'].map((path) => {
  const text = read(path);
  const stages = text.split(/^FROM\s/m);
  return { path, text, lastStage: stages[stages.length - 1] ?? '' };
});

/** Sources of every `COPY` that reads the build context (not `--from=` another stage). */
function copySources(text: string): string[] {
  return [...text.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = (m[1] ?? '').trim().split(/\s+/);
    return parts.slice(0, -1);
  });
}

describe('container images', () => {
  for (const d of dockerfiles) {
    test(`${d.path}: every COPY source exists and .dockerignore keeps it`, () => {
      for (const src of copySources(d.text)) {
        assert.ok(existsSync(join(root, src)), `${src} does not exist`);
        assert.ok(!ignored(src), `${src} is excluded by .dockerignore`);
      }
    });

    test(`${d.path}: runs as a fixed non-root uid`, () => {
      const user = [...d.lastStage.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
      assert.match(user ?? '', /^[1-9][0-9]*(:[1-9][0-9]*)?$/, 'USER must be a numeric non-root uid');
    });
  }

  // The program each image starts, and the source it is (the egress image runs its build stage's dist/).
  for (const [dockerfile, program, source] of [
    ['operator/Dockerfile', 'operator/src/main.ts', 'operator/src/main.ts'],
    ['egress-pod/Dockerfile', 'egress-pod/dist/main.js', 'egress-pod/src/main.ts'],
  ] as const) {
    test(`${dockerfile}: installs production dependencies only and starts ${program} on Node 24`, () => {
      const d = dockerfiles.find((f) => f.path === dockerfile)!;
      assert.match(d.text, /npm ci --omit=dev/);
      assert.match(d.text, /^ARG BUILD_IMAGE=node:24-/m);
      assert.match(d.text, /^ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs24-debian12:nonroot$/m);
      const entry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(d.lastStage)?.[1] ?? '[]');
      assert.deepEqual(entry, ['/nodejs/bin/node', program]);
      assert.ok(existsSync(join(root, source)), `${source} does not exist`);
      if (program !== source) {
        const workspace = source.split('/')[0]!;
        assert.match(d.text, new RegExp(`tsc -p "\\$ws/tsconfig\\.build\\.json"`), 'the build stage compiles each workspace');
        assert.ok(existsSync(join(root, workspace, 'tsconfig.build.json')), `${workspace}/tsconfig.build.json does not exist`);
        assert.match(d.lastStage, new RegExp(`^COPY --from=build /app/${workspace}/dist ./${workspace}/dist/$`, 'm'));
        assert.match(d.lastStage, /--conditions=corecast-js/, 'the workspaces resolve to their dist/ in the image');
      }
    });

    test(`${dockerfile}: copies every workspace's package.json, so npm ci accepts the lockfile`, () => {
      const d = dockerfiles.find((f) => f.path === dockerfile)!;
      const copied = [...new Set(copySources(d.text).filter((s) => s.endsWith('/package.json')))];
      assert.deepEqual(copied.sort(), pkg.workspaces.map((w) => `${w}/package.json`).sort());
    });
  }

  test('images/ffmpeg/Dockerfile: the Debian base is a build argument, debian:bookworm-slim by default', () => {
    const d = dockerfiles.find((f) => f.path === 'images/ffmpeg/Dockerfile')!;
    assert.match(d.text, /^ARG DEBIAN_RELEASE=bookworm$/m);
    assert.match(d.text, /^ARG BASE_IMAGE=debian:\$\{DEBIAN_RELEASE\}-slim$/m);
    assert.match(d.text, /^FROM \$\{BASE_IMAGE\}$/m);
    assert.equal([...d.text.matchAll(/^FROM\s/gm)].length, 1);
  });

  test('tests, benchmarks and node_modules stay out of the images', () => {
    for (const path of [
      'operator/test/x.test.ts',
      'egress-pod/bench/x.ts',
      'api/test/x.ts',
      'node_modules/x',
      'api/node_modules/x',
      '.git/HEAD',
    ]) {
      assert.ok(ignored(path), `${path} would be sent to the build`);
    }
    for (const path of ['operator/src/main.ts', 'egress-pod/src/player/page.ts', 'api/src/index.ts', 'test/kit/package.json']) {
      assert.ok(!ignored(path), `${path} would be left out`);
    }
  });

  for (const dockerfile of ['operator/Dockerfile', 'egress-pod/Dockerfile']) {
    test(`${dockerfile}: the code it ships imports only its workspaces and their production dependencies`, () => {
      const d = dockerfiles.find((f) => f.path === dockerfile)!;
      // Workspaces the image copies whole (`COPY <dir>/ ./<dir>/`); the images omit devDependencies.
      const carried = [...d.text.matchAll(/^COPY\s+([\w/-]+)\/\s+\.\/\1\/$/gm)].map((m) => m[1]!);
      assert.ok(carried.includes('api'), 'every image carries api/');
      const manifests = carried.map(
        (dir) => JSON.parse(read(`${dir}/package.json`)) as { name: string; dependencies?: Record<string, string> },
      );
      const names = new Set(manifests.map((m) => m.name));
      const allowed = new Set([...manifests.flatMap((m) => Object.keys(m.dependencies ?? {})), ...builtinModules]);
      const files = carried.flatMap((dir) => globSync(`${dir}/src/**/*.ts`, { cwd: root }));
      assert.ok(files.length > 10);
      const seen = new Set<string>();
      for (const file of files) {
        const text = read(file);
        for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'|import\('([^']+)'\)/gm)) {
          const spec = m[1] ?? m[2] ?? m[3] ?? '';
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
          if (name.startsWith('@corecast/')) assert.ok(names.has(name), `${file} imports ${spec}, a workspace ${dockerfile} does not copy`);
          else assert.ok(allowed.has(name), `${file} imports ${spec}, which is not a production dependency of a workspace in the image`);
          seen.add(name);
        }
      }
      for (const dep of ['zod', '@corecast/api']) assert.ok(seen.has(dep), `no import of ${dep} found`);
    });
  }
});
