/**
 * The input hash test/node/images.sh rebuilds a product image on: it covers what the
 * Dockerfile's COPY lines send (after .dockerignore) and nothing else.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { contextFiles, contextHash, copySources } from '../src/image-context.ts';

describe('image context', () => {
  test('copySources reads the build-context COPY lines only', () => {
    const text = 'FROM a AS b\nCOPY package.json .npmrc ./\nCOPY --chown=1:1 api/ ./api/\nCOPY --from=b /app/node_modules ./node_modules\n';
    assert.deepEqual(copySources(text), ['package.json', '.npmrc', 'api/']);
  });

  test("the operator image's files: its sources, the lockfile and every workspace's package.json, no tests", () => {
    const files = contextFiles('operator/Dockerfile');
    for (const f of [
      'operator/src/main.ts',
      'api/src/index.ts',
      'package-lock.json',
      '.npmrc',
      'test/kit/package.json',
      'egress-pod/package.json',
    ]) {
      assert.ok(files.includes(f), `${f} missing`);
    }
    for (const f of files.filter((f) => f !== 'test/kit/package.json')) {
      assert.doesNotMatch(f, /(^|\/)(test|bench|node_modules)\//);
      assert.doesNotMatch(f, /\.md$/);
      assert.ok(!f.startsWith('egress-pod/src/'), `${f} is not the operator's`);
    }
  });

  test('the hash moves with a shipped file and the Dockerfile, not with an ignored one', () => {
    const root = mkdtempSync(join(tmpdir(), 'corecast-context-'));
    try {
      const write = (rel: string, text: string) => {
        mkdirSync(dirname(join(root, rel)), { recursive: true });
        writeFileSync(join(root, rel), text);
      };
      write('.dockerignore', '**/test\n**/*.md\n');
      write('app/Dockerfile', 'FROM x\nCOPY app/ ./app/\n');
      write('app/src/main.ts', 'one');
      write('app/test/main.test.ts', 'one');
      write('app/README.md', 'one');
      write('other/file.ts', 'one');
      const h0 = contextHash('app/Dockerfile', root);
      assert.deepEqual(contextFiles('app/Dockerfile', root), ['app/Dockerfile', 'app/src/main.ts']);
      write('app/test/main.test.ts', 'two');
      write('app/README.md', 'two');
      write('other/file.ts', 'two');
      assert.equal(contextHash('app/Dockerfile', root), h0);
      write('app/src/main.ts', 'two');
      const h1 = contextHash('app/Dockerfile', root);
      assert.notEqual(h1, h0);
      write('app/src/new.ts', '');
      assert.notEqual(contextHash('app/Dockerfile', root), h1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
