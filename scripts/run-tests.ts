/**
 * The test command: `npm test` (all levels) or `npm run test:unit|test:int|test:e2e`.
 * Levels run one after another — unit (pure), integration (real control plane, FFmpeg,
 * werift), e2e (headless Chromium) — and a last line sums them up: "N passed, N failed".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, globSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Level = 'unit' | 'int' | 'e2e';
const LEVELS: Record<Level, { files: string[]; concurrency: number }> = {
  unit: { files: ['{api,operator,egress-pod,test/kit}/test/**/*.test.ts'], concurrency: 2 },
  int: { files: ['{api,operator,egress-pod,test/kit}/test/**/*.int.test.ts'], concurrency: 1 },
  e2e: { files: ['test/e2e/**/*.e2e.test.ts'], concurrency: 1 },
};
/** Started once per run before integration and e2e tests (one shared control plane). */
const GLOBAL_SETUP = 'test/kit/src/global-setup.ts';

const arg = process.argv[2] ?? 'all';
const levels: Level[] = arg === 'all' ? ['unit', 'int', 'e2e'] : [arg as Level];
if (!levels.every((l) => l in LEVELS)) {
  console.error(`unknown test level "${arg}": use unit, int, e2e or all`);
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
  if (level !== 'unit' && existsSync(GLOBAL_SETUP)) args.push(`--test-global-setup=${GLOBAL_SETUP}`);
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
