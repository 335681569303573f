/**
 * The operator configuration the chart renders (helm template, no cluster): the values go in as
 * written, and the operator applies the rules and defaults. The defaults and every helm-values
 * file give a configuration the operator accepts, and an egress configuration the egress pod
 * accepts; values that break a rule render, and the operator refuses them at start naming the
 * value as the user wrote it.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { EgressConfig } from '../../../api/src/egress-config.ts';
import { parseProcess } from '../../../api/src/validate.ts';
import { process as processManifest, withWebrtc } from '../../../api/test/fixtures/processes.ts';
import { egressConfig } from '../../../operator/src/children/egress-pod.ts';
import { parseConfig } from '../../../operator/src/config.ts';
import { helmValuesFiles, renderChart, type RenderOptions } from './chart-helpers.ts';

const identity = { name: 'test', namespace: 'corecast-system' };

/** The config.yaml of the operator's ConfigMap, parsed as YAML. */
function configFile(objects: readonly KubernetesObject[]): Record<string, unknown> {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-operator')) as
    { data: Record<string, string> } | undefined;
  assert.ok(cm, 'no operator ConfigMap rendered');
  return parse(cm.data['config.yaml'] ?? '');
}

const render = async (opts: Omit<RenderOptions, 'namespace'>) => configFile(await renderChart({ namespace: 'corecast-system', ...opts }));

describe('the configuration the chart renders', () => {
  for (const file of [undefined, ...helmValuesFiles()]) {
    const name = file ? `helm-values/${basename(file)}` : 'the default values';
    test(`${name}: the operator accepts it, and the egress pod the configuration it builds from it`, async () => {
      const config = parseConfig(await render({ valuesFiles: file ? [file] : [] }), identity);
      const { spec } = parseProcess(processManifest('demo', withWebrtc()));
      const view = { name: 'demo', namespace: 'streaming', uid: 'u', generation: 1, creationTimestamp: '', annotations: {}, spec };
      const egress = EgressConfig.safeParse(egressConfig(view, config));
      assert.ok(egress.success, JSON.stringify(egress.error?.issues));
      assert.equal(egress.data.auth.mode, config.egress.auth.mode);
    });
  }

  test('passes the values through as written, with the Secret name the chart writes and without the secret itself', async () => {
    const file = await render({
      setJson: { 'auth.secret': 's'.repeat(40), 'media.mode': 'turn', 'media.turn.urls': ['turn:t.test:3478'] },
    });
    const auth = file.auth as Record<string, unknown>;
    assert.equal(auth.existingSecret, 'corecast-auth');
    assert.ok(!('secret' in auth) && !('secretNamespaces' in auth), 'the shared secret went into the ConfigMap');
    assert.deepEqual((file.media as Record<string, unknown>).turn, {
      urls: ['turn:t.test:3478'],
      auth: 'ephemeral',
      username: '',
      user: 'corecast',
      ttlSeconds: 86400,
      existingSecret: '',
      existingSecretKey: 'turn-secret',
    });
  });

  test('the TURN server, its secret and relay-only media come from media, as the egress pods need them', async () => {
    const config = parseConfig(
      await render({
        setJson: {
          'media.mode': 'turn',
          'media.turn.urls': ['turn:t.test:3478'],
          'media.turn.existingSecret': 'turn',
          'egress.secretEnv': [{ name: 'EXTRA', secretName: 'x', key: 'k' }],
        },
      }),
      identity,
    );
    assert.equal(config.egress.ice.relayOnly, true);
    assert.deepEqual(config.egress.ice.servers, [
      { urls: ['turn:t.test:3478'], auth: { type: 'ephemeral', secretEnv: 'CORECAST_TURN_SECRET', user: 'corecast', ttlSeconds: 86400 } },
    ]);
    assert.deepEqual(config.egress.secretEnv, [
      { name: 'EXTRA', secretName: 'x', key: 'k' },
      { name: 'CORECAST_TURN_SECRET', secretName: 'turn', key: 'turn-secret' },
    ]);
  });
});

describe('values that break a rule render, and the operator refuses them naming the value', () => {
  /** [what, values (as --set-json), the operator's message]. */
  const cases: [string, Record<string, unknown>, string][] = [
    ['turn mode without a TURN server', { 'media.mode': 'turn' }, 'media.mode: needs a TURN server in servers'],
    [
      'a TURN server without its secret',
      { 'media.turn.urls': ['turn:turn.example.com:3478'] },
      'media.turn.existingSecret: required with media.turn.urls (a Secret in each watched namespace holding the TURN shared secret or password)',
    ],
    [
      'a TURN password without a username',
      { 'media.turn.urls': ['turn:turn.example.com:3478'], 'media.turn.existingSecret': 'turn', 'media.turn.auth': 'password' },
      'media.turn.username: required when media.turn.auth is password',
    ],
    ['jwks without its URL', { 'auth.mode': 'jwks' }, 'auth.jwksUrl: required when auth.mode is jwks'],
    [
      'gateway mode without a Gateway',
      { 'gateway.enabled': true },
      'gateway.parentRefs: needs at least one Gateway ({name, namespace}) when gateway.enabled is true',
    ],
    [
      'one Gateway twice without distinct listeners',
      {
        'gateway.enabled': true,
        'gateway.parentRefs': [
          { name: 'public', namespace: 'gw' },
          { name: 'public', namespace: 'gw', sectionName: 'https' },
        ],
      },
      'gateway.parentRefs[0].sectionName: required: parentRefs[1] names the same Gateway, so each reference must pick a listener',
    ],
    [
      'advertiseOnly with nothing to advertise',
      { 'media.advertiseOnly': true },
      'media.advertiseOnly: needs at least one address or addressEnv',
    ],
    [
      'ICE-lite with ICE-TCP',
      { 'media.iceLite': true, 'media.tcp': true },
      'media.iceLite: ICE-lite gathers host UDP candidates only; turn off relayOnly and tcp',
    ],
  ];

  for (const [what, setJson, message] of cases) {
    test(what, async () => {
      const file = await render({ setJson });
      assert.throws(
        () => parseConfig(file, identity),
        (err: Error) => {
          assert.ok(err.message.includes(message), `expected "${message}" in: ${err.message}`);
          return true;
        },
      );
    });
  }
});
