/**
 * The chart's values.schema.json is generated from the values schema (src/config/values.ts), and
 * values.yaml writes out exactly that schema's defaults: a change to either side without the
 * other fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { ChartValues, valuesSchemaJson } from '../src/config/values.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const json = (value: unknown) => JSON.parse(JSON.stringify(value));

/** Every schema node below `node`, with its JSON pointer. */
function* nodes(node: unknown, at = ''): Generator<[string, Record<string, unknown>]> {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) yield* nodes(n, `${at}/${i}`);
    return;
  }
  const n = node as Record<string, unknown>;
  yield [at, n];
  for (const [key, value] of Object.entries(n)) {
    if (key === 'default' || key === 'const' || key === 'enum') continue;
    yield* nodes(value, `${at}/${key}`);
  }
}

describe('values.schema.json', () => {
  test('matches the zod values schema (run npm run gen after changing operator/src/config)', () => {
    assert.equal(read('charts/corecast/values.schema.json'), valuesSchemaJson());
  });

  const schema = JSON.parse(valuesSchemaJson());

  test('is draft 7, titled, and refuses unknown keys on every object it describes', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(schema.title, 'Corecast chart values');
    let objects = 0;
    for (const [at, node] of nodes(schema)) {
      if (node.type !== 'object' || !node.properties) continue;
      objects++;
      assert.equal(node.additionalProperties, false, `${at} allows unknown keys`);
    }
    assert.ok(objects > 30, `only ${objects} objects`);
  });

  test('uses only patterns helm can run (Go regular expressions: no lookaround, no backreferences)', () => {
    const patterns = [...nodes(schema)].flatMap(([, n]) => (typeof n.pattern === 'string' ? [n.pattern] : []));
    assert.ok(patterns.length > 20, `only ${patterns.length} patterns`);
    for (const p of patterns) assert.doesNotMatch(p, /\(\?[=!<]|\\[1-9]/, p);
  });
});

describe('values.yaml', () => {
  const values = parse(read('charts/corecast/values.yaml'));

  test('writes out the schema defaults, every one and nothing else', () => {
    assert.deepEqual(json(ChartValues.parse({})), values);
  });

  test('passes the schema unchanged', () => {
    assert.deepEqual(json(ChartValues.parse(values)), values);
  });

  for (const file of readdirSync(new URL('helm-values/', root)).filter((f) => f.endsWith('.yaml'))) {
    test(`helm-values/${file} passes the schema`, () => {
      const result = ChartValues.safeParse(parse(read(`helm-values/${file}`)));
      assert.ok(result.success, JSON.stringify(result.error?.issues));
    });
  }

  test('a misspelt key and a wrong type fail with their paths', () => {
    const result = ChartValues.safeParse({ operator: { replica: 2 }, media: { mode: 'udp' } });
    assert.equal(result.success, false);
    assert.deepEqual(result.error.issues.map((i) => i.path.join('.')).sort(), ['media.mode', 'operator']);
  });
});
