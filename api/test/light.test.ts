/**
 * @corecast/api/light: the zod-free subpath the egress pod's main thread imports. It loads no
 * schema, and its checks decide as the schemas they stand in for.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ipAddress } from '../src/egress-ice.ts';
import * as entry from '../src/index.ts';
import * as light from '../src/light.ts';

describe('@corecast/api/light', () => {
  it('loads neither zod nor a schema module', () => {
    const lightUrl = new URL('../src/light.ts', import.meta.url).href;
    // A process of its own: this one has loaded zod already.
    const script = `
      import { registerHooks } from 'node:module';
      const urls = [];
      registerHooks({ resolve: (s, c, next) => { const r = next(s, c); urls.push(r.url); return r; } });
      await import(${JSON.stringify(lightUrl)});
      console.log(JSON.stringify(urls));`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(res.status, 0, res.stderr);
    const urls = JSON.parse(res.stdout) as string[];
    assert.ok(
      urls.some((u) => u.endsWith('/api/src/egress-plain.ts')),
      urls.join('\n'),
    );
    const schemas = urls.filter(
      (u) => u.includes('/zod/') || /\/(index|egress-config|egress-ice|process|progress|validate|crd)\.ts$/.test(u),
    );
    assert.deepEqual(schemas, []);
  });

  it('exports the same values as the entry point (one ValidationError class, one of each)', () => {
    for (const [name, value] of Object.entries(light)) {
      assert.equal((entry as Record<string, unknown>)[name], value, name);
    }
    assert.ok(new light.ValidationError('x', []) instanceof entry.ValidationError);
  });

  it("isIpAddress decides as the schema's ipAddress does", () => {
    const inputs = [
      '10.0.0.1',
      '255.255.255.255',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.5',
      ' 1.2.3.4',
      '::',
      '::1',
      'fd00::1',
      '2001:db8::8a2e:370:7334',
      '::ffff:192.0.2.1',
      'fe80::1%eth0',
      '::1\n',
      '::@1\\',
      '1::2::3',
      'gggg::1',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      '[::1]',
      '',
      'localhost',
      '2001:db8:0:0:0:0:2:1',
      'FE80::A',
      '::ffff:1.2.3.256',
    ];
    for (const input of inputs) assert.equal(light.isIpAddress(input), ipAddress.safeParse(input).success, JSON.stringify(input));
  });

  it('parseRelayTargets refuses an entry whose address is no IP address, and reads IPv6 without brackets', () => {
    assert.deepEqual(light.parseRelayTargets('1=fd00::7:5004:5006:8080'), {
      targets: [{ index: 1, address: 'fd00::7', videoPort: 5004, audioPort: 5006, httpPort: 8080, draining: false }],
    });
    assert.deepEqual(light.parseRelayTargets('1=10.0.0.300:5004:5006:8080'), {
      error: '"1=10.0.0.300:5004:5006:8080": "10.0.0.300" is not an IP address',
    });
  });
});
