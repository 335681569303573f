import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { PROCESS_NAME_MAX, parseProcess, ValidationError } from '../src/index.ts';
import { invalidFixtures } from './fixtures/invalid.ts';
import { process, withWebrtc } from './fixtures/processes.ts';

const examplesDir = new URL('../../examples/', import.meta.url);

describe('Process schema', () => {
  it('fills in every default', () => {
    const p = parseProcess(process('demo'));
    assert.deepEqual(
      { ...p.spec, input: undefined, output: undefined },
      {
        input: undefined,
        output: undefined,
        options: [],
        reconnect: true,
        reconnectDelaySeconds: 15,
        autostart: true,
        staleTimeoutSeconds: 0,
        limits: { cpuUsage: 0, memoryMbytes: 0, waitforSeconds: 0 },
        order: 'start',
        webrtc: { enabled: false, videoPayloadType: 102, audioPayloadType: 111, forceTranscode: false, maxViewers: 8 },
      },
    );
    assert.deepEqual(p.spec.output[0]?.options, ['-f', 'null']);
  });

  it('keeps a partial webrtc block and defaults the rest', () => {
    const p = parseProcess(process('demo', withWebrtc({ maxViewers: 3 })));
    assert.deepEqual(p.spec.webrtc, { enabled: true, videoPayloadType: 102, audioPayloadType: 111, forceTranscode: false, maxViewers: 3 });
  });

  it('accepts a name of exactly the longest allowed length', () => {
    assert.equal(PROCESS_NAME_MAX, 56);
    assert.equal(parseProcess(process('a'.repeat(56))).metadata.name.length, 56);
  });

  for (const fixture of invalidFixtures) {
    it(`refuses ${fixture.name}`, () => {
      assert.throws(
        () => parseProcess(fixture.process),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.equal(error.message, fixture.message);
          return true;
        },
      );
    });
  }

  it('parses every example manifest', async () => {
    const files = (await readdir(examplesDir)).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 3, `expected at least 3 examples, found ${files.length}`);
    for (const file of files) {
      const p = parseProcess(parse(await readFile(new URL(file, examplesDir), 'utf8')));
      assert.ok(p.metadata.name, file);
    }
  });
});
