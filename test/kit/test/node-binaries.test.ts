/** The pins and cache directory of the node add-ons (CoreDNS, Traefik) built by test/node/build.sh. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nodeCacheDir, nodeModuleDir, pinnedNodeVersions } from '../src/node-binaries.ts';

describe('node add-on pins and cache directory', () => {
  test('reads the two requirements from the wrapper go.mod files', () => {
    const coredns = 'module x\n\nrequire (\n\tgithub.com/coredns/coredns v1.14.7 // indirect\n)\n';
    const traefik = 'module y\n\nrequire github.com/traefik/traefik/v3 v3.6.12\n';
    assert.deepEqual(pinnedNodeVersions(coredns, traefik), { coredns: 'v1.14.7', traefik: 'v3.6.12' });
  });

  test('a go.mod without the requirement is an error', () => {
    assert.throws(() => pinnedNodeVersions('module x\n', 'module y\n'), /no github\.com\/coredns\/coredns requirement/);
  });

  test('the committed go.mod files pin CoreDNS 1.x and Traefik 3.6', () => {
    const v = pinnedNodeVersions();
    assert.match(v.coredns, /^v1\.\d+\.\d+$/);
    assert.match(v.traefik, /^v3\.6\.\d+$/);
  });

  test('cache directory: override, then XDG_CACHE_HOME, then ~/.cache', () => {
    const v = { coredns: 'v1.14.7', traefik: 'v3.6.12' };
    assert.equal(nodeCacheDir(v, { CORECAST_NODE_DIR: '/x' }), '/x');
    assert.equal(nodeCacheDir(v, { XDG_CACHE_HOME: '/c' }), '/c/corecast/node/coredns-v1.14.7-traefik-v3.6.12');
    assert.match(nodeCacheDir(v, {}), /\/\.cache\/corecast\/node\/coredns-v1\.14\.7-traefik-v3\.6\.12$/);
  });

  test('build.sh --dir prints the same directory', () => {
    for (const env of [{ CORECAST_NODE_DIR: '/x' }, { XDG_CACHE_HOME: '/c' }]) {
      const printed = execFileSync(join(nodeModuleDir, 'build.sh'), ['--dir'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        encoding: 'utf8',
      });
      assert.equal(printed.trim(), nodeCacheDir(pinnedNodeVersions(), env));
    }
  });
});
