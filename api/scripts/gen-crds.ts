/** Writes the generated CRD to crds/ and to the Helm chart. `npm run gen`; `--check` fails on drift. */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { crdYaml } from '../src/crd-yaml.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TARGETS = ['crds/corecast.dev_processes.yaml', 'charts/corecast/files/crds/corecast.dev_processes.yaml'];

const check = process.argv.includes('--check');
const text = crdYaml();
let drift = false;
for (const target of TARGETS) {
  const path = root + target;
  const current = await readFile(path, 'utf8').catch(() => '');
  if (current === text) continue;
  if (check) {
    console.error(`${target} is out of date: run npm run gen`);
    drift = true;
  } else {
    await writeFile(path, text);
    console.log(`wrote ${target}`);
  }
}
if (drift) process.exit(1);
