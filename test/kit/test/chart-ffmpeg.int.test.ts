/**
 * The chart's `ffmpeg` values: the secure access defaults and the FFmpeg pods' NetworkPolicy
 * reach the operator configuration as the operator reads it; values the schema refuses are
 * refused by `helm template`; a widened policy is accepted by the real API server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DEFAULT_ACCESS_RULES } from '../../../api/src/access.ts';
import { parseProcess } from '../../../api/src/validate.ts';
import { process as processManifest } from '../../../api/test/fixtures/processes.ts';
import { buildFfmpegNetworkPolicy } from '../../../operator/src/children/ffmpeg-network-policy.ts';
import { DEFAULT_DENIED_CIDRS, parseConfig } from '../../../operator/src/config.ts';
import { sharedControlPlane } from '../src/control-plane.ts';
import { applyObjects, helm, kubectlRun, renderChart, templateArgs } from './chart-helpers.ts';

const cp = await sharedControlPlane();

/** The operator configuration rendered into the chart's ConfigMap, read by the operator's own parser. */
async function operatorConfig(setJson: Record<string, unknown> = {}) {
  const objects = await renderChart({ namespace: 'corecast-system', setJson });
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-operator')) as
    (KubernetesObject & { data: Record<string, string> }) | undefined;
  assert.ok(cm, 'no operator ConfigMap rendered');
  return parseConfig(parse(cm.data['config.yaml'] ?? ''), { name: 'op', namespace: 'corecast-system' });
}

describe('chart: ffmpeg values', () => {
  test('defaults: the secure access rules and the NetworkPolicy, as the operator has them', async () => {
    const c = await operatorConfig();
    assert.deepEqual(c.ffmpeg.access, {
      input: { allow: [...DEFAULT_ACCESS_RULES.input.allow], block: [] },
      output: { allow: [...DEFAULT_ACCESS_RULES.output.allow], block: [] },
    });
    assert.deepEqual(c.ffmpeg.networkPolicy, { enabled: true, deniedCidrs: [...DEFAULT_DENIED_CIDRS], egress: [] });
  });

  test('a block list alone keeps the default allow list; allow [] allows everything', async () => {
    const c = await operatorConfig({ 'ffmpeg.access.input.block': ['^rtmp://internal'] });
    assert.deepEqual(c.ffmpeg.access.input.allow, [...DEFAULT_ACCESS_RULES.input.allow]);
    assert.deepEqual(c.ffmpeg.access.input.block, ['^rtmp://internal']);
    assert.deepEqual((await operatorConfig({ 'ffmpeg.access.input.allow': [] })).ffmpeg.access.input.allow, []);
  });

  test('networkPolicy: extra egress rules, own denied ranges, off', async () => {
    const extra = {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'media' } } }],
      ports: [{ protocol: 'TCP', port: 1935 }],
    };
    const c = await operatorConfig({ 'ffmpeg.networkPolicy': { enabled: false, deniedCidrs: ['10.0.0.0/8'], egress: [extra] } });
    assert.deepEqual(c.ffmpeg.networkPolicy, { enabled: false, deniedCidrs: ['10.0.0.0/8'], egress: [extra] });
  });

  test('the values schema refuses a key that is not a rule field and a CIDR-less string', async () => {
    for (const setJson of [
      { 'ffmpeg.networkPolicy.egress': [{ from: [] }] },
      { 'ffmpeg.networkPolicy.deniedCidrs': ['metadata'] },
      { 'ffmpeg.networkPolicy.enable': true },
    ]) {
      const res = await helm(templateArgs({ namespace: 'corecast-system', setJson }));
      assert.notEqual(res.code, 0, JSON.stringify(setJson));
      assert.match(res.stderr, /values don't meet the specifications of the schema|additional properties|does not match pattern/i);
    }
  });

  test('the API server accepts the policy the chart values make, widened with an egress rule', async () => {
    const extra = {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'media' } } }],
      ports: [{ protocol: 'TCP', port: 1935 }],
    };
    const c = await operatorConfig({ 'ffmpeg.networkPolicy.egress': [extra] });
    const ns = await cp.newNamespace('ffmpeg-np');
    const p = parseProcess(processManifest('widened'));
    const view = { name: 'widened', namespace: ns, uid: 'u', generation: 1, creationTimestamp: '', annotations: {}, spec: p.spec };
    const np = buildFfmpegNetworkPolicy(view, c);
    // No owner reference: the Process does not exist here; the API server still validates every rule.
    delete np.metadata?.ownerReferences;
    const applied = await applyObjects(cp.kubeconfigPath, [np as KubernetesObject]);
    assert.equal(applied.code, 0, applied.stderr);
    const got = await kubectlRun(cp.kubeconfigPath, ['get', 'networkpolicy', 'widened-ffmpeg', '-n', ns, '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    const live = JSON.parse(got.stdout) as { spec: { egress: { ports?: unknown[] }[] } };
    assert.deepEqual(live.spec.egress.at(-1)?.ports, [{ protocol: 'TCP', port: 1935 }]);
    assert.equal(live.spec.egress.length, np.spec?.egress?.length, 'the API server kept every rule');
  });
});
