/**
 * The test command: `npm test` (all levels) or `npm run test:unit|test:int|test:e2e|test:node`.
 * Levels run one after another — unit (pure), integration (real control plane, FFmpeg,
 * werift), e2e (headless Chromium), node (the whole product on a real kubelet node: images,
 * Helm, ingress controller, Chromium) — and a last line sums them up: "N passed, N failed".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, globSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Level = 'unit' | 'int' | 'e2e' | 'node';
const LEVELS: Record<Level, { files: string[]; concurrency: number }> = {
  unit: { files: ['{api,operator,egress-pod,rtc-fastpath,test/kit}/test/**/*.test.ts'], concurrency: 2 },
  int: { files: ['{api,operator,egress-pod,rtc-fastpath,test/kit}/test/**/*.int.test.ts'], concurrency: 1 },
  e2e: { files: ['test/e2e/**/*.e2e.test.ts'], concurrency: 1 },
  node: { files: ['test/e2e/node/**/*.node.test.ts'], concurrency: 1 },
};
/** Started once per level before its tests: one shared control plane, or the test node. */
const GLOBAL_SETUP: Record<Level, string | undefined> = {
  unit: undefined,
  int: 'test/kit/src/global-setup.ts',
  e2e: 'test/kit/src/global-setup.ts',
  node: 'test/kit/src/node-global-setup.ts',
};

const arg = process.argv[2] ?? 'all';
const levels: Level[] = arg === 'all' ? ['unit', 'int', 'e2e', 'node'] : [arg as Level];
if (!levels.every((l) => l in LEVELS)) {
  console.error(`unknown test level "${arg}": use unit, int, e2e, node or all`);
  process.exit(2);
}

const out = mkdtempSync(join(tmpdir(), 'corecast-tests-'));
let passed = 0;
let failed = 0;
for (const level of levels) {
  let files = LEVELS[level].files.flatMap((g) => globSync(g)).filter((f) => !f.includes('node_modules'));
  if (level === 'unit') files = files.filter((f) => !/\.(int|e2e)\.test\.ts$/.test(f));
  if (files.length === 0) continue;
  const tap = join(out, `${level}.tap`);
  const args = [
    '--test',
    `--test-concurrency=${LEVELS[level].concurrency}`,
    // A safety net: a test that sets no timeout of its own and hangs fails after 5 minutes
    // instead of holding the whole run.
    '--test-timeout=300000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
  ];
  const setup = GLOBAL_SETUP[level];
  if (setup && existsSync(setup)) args.push(`--test-global-setup=${setup}`);
  console.log(`\n=== ${level}: ${files.length} files`);
  const run = spawnSync(process.execPath, [...args, ...files.sort()], { stdio: 'inherit' });
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (what: string) => Number(text.match(new RegExp(`^# ${what} (\\d+)$`, 'm'))?.[1] ?? 0);
  passed += count('pass');
  failed += count('fail') + count('cancelled');
  if (run.status !== 0 && count('fail') + count('cancelled') === 0) failed += 1; // the runner itself failed
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
