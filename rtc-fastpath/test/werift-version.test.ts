/**
 * The fence's pin: the private fields and behaviours listed in README.md were checked against
 * one werift release. A different installed werift (a lockfile refresh, a range widened by
 * hand) fails here, before any of those reaches can fail quietly at run time.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERIFIED_WERIFT } from '../src/verified.ts';

const require = createRequire(import.meta.url);
interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
}
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as PackageJson;

/**
 * The version of the werift this workspace resolves. Its exports map does not list
 * package.json, so the search starts at the resolved entry point and walks up to werift's own
 * package.json.
 */
function installedWerift(): string {
  for (let dir = dirname(require.resolve('werift')); dir !== dirname(dir); dir = dirname(dir)) {
    let pkg: PackageJson;
    try {
      pkg = readJson(join(dir, 'package.json'));
    } catch {
      continue;
    }
    if (pkg.name === 'werift') {
      assert.ok(pkg.version, `no version in ${join(dir, 'package.json')}`);
      return pkg.version;
    }
  }
  throw new Error(`no package.json named werift above ${require.resolve('werift')}`);
}

describe('werift version fence', () => {
  it('the installed werift is the release the private reaches were verified against', () => {
    const installed = installedWerift();
    assert.equal(
      installed,
      VERIFIED_WERIFT,
      `werift ${installed} is installed but rtc-fastpath was verified against ${VERIFIED_WERIFT}: re-check every row of rtc-fastpath/README.md against the new release, then update src/verified.ts and the pin together`,
    );
  });

  it('package.json pins werift to exactly that release', () => {
    const pin = readJson(fileURLToPath(new URL('../package.json', import.meta.url))).dependencies?.werift;
    assert.equal(pin, VERIFIED_WERIFT, 'rtc-fastpath/package.json must pin werift exactly (no range)');
  });
});
