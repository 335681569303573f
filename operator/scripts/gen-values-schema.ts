/** Writes the chart's values.schema.json from the values schema (src/config/values.ts). `npm run gen`; `--check` fails on drift. */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { valuesSchemaJson } from '../src/config/values.ts';

const target = 'charts/corecast/values.schema.json';
const path = fileURLToPath(new URL(`../../${target}`, import.meta.url));
const text = valuesSchemaJson();
const current = await readFile(path, 'utf8').catch(() => '');
if (current !== text) {
  if (process.argv.includes('--check')) {
    console.error(`${target} is out of date: run npm run gen`);
    process.exit(1);
  }
  await writeFile(path, text);
  console.log(`wrote ${target}`);
}
