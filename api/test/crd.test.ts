import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { processCrd, structural } from '../src/crd.ts';
import { crdYaml } from '../src/crd-yaml.ts';

const root = new URL('../../', import.meta.url);

/** Walks every schema node. */
function* nodes(node: unknown, path = ''): Generator<[string, Record<string, unknown>]> {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return;
  const n = node as Record<string, unknown>;
  yield [path, n];
  for (const [k, v] of Object.entries((n.properties as object) ?? {})) yield* nodes(v, `${path}.${k}`);
  if (n.items) yield* nodes(n.items, `${path}[]`);
}

describe('generated CRD', () => {
  for (const file of ['crds/corecast.dev_processes.yaml', 'charts/corecast/files/crds/corecast.dev_processes.yaml']) {
    it(`${file} matches the zod schema (run npm run gen after changing api/src)`, async () => {
      assert.equal(await readFile(new URL(file, root), 'utf8'), crdYaml());
    });
  }

  const schema = (processCrd() as any).spec.versions[0].schema.openAPIV3Schema; // any: a plain JSON tree

  it('is structural: no refs, no combinators, no additionalProperties', () => {
    const text = JSON.stringify(schema);
    for (const word of ['$ref', 'anyOf', 'oneOf', 'allOf', 'additionalProperties']) assert.ok(!text.includes(word), word);
  });

  it('describes every spec field (kubectl explain text)', () => {
    for (const [path, node] of nodes(schema.properties.spec, 'spec')) {
      if (path.endsWith('.options[]')) continue; // list items of plain strings
      assert.equal(typeof node.description, 'string', `${path} has no description`);
    }
  });

  it('gives every node a type', () => {
    for (const [path, node] of nodes(schema)) assert.ok(node.type, `${path} has no type`);
  });

  it('has the status subresource, short name and printer columns', () => {
    const crd = processCrd() as any;
    const v = crd.spec.versions[0];
    assert.deepEqual(v.subresources, { status: {} });
    assert.deepEqual(crd.spec.names.shortNames, ['proc']);
    assert.deepEqual(
      v.additionalPrinterColumns.map((c: { name: string }) => c.name),
      ['Order', 'Exec', 'WebRTC', 'Ready', 'FPS', 'Bitrate', 'Speed', 'Viewers', 'Replicas', 'Restarts', 'Player', 'Age'],
    );
  });

  it('carries the CEL rules', () => {
    const rules = JSON.stringify(schema).match(/"rule":"[^"]*"/g);
    // Unique input and output ids, distinct payload types, replicas or autoscale, max >= min replicas; the name.
    assert.equal(rules?.length, 6);
  });

  it('refuses a schema node it cannot make structural', () => {
    assert.throws(() => structural({ anyOf: [{ type: 'string' }, { type: 'number' }] }), /uses "anyOf"/);
  });

  it('the committed file is valid YAML of the same object', async () => {
    const text = await readFile(new URL('crds/corecast.dev_processes.yaml', root), 'utf8');
    assert.deepEqual(parse(text), processCrd());
  });
});
