/**
 * The FFmpeg pod's egress NetworkPolicy (`<name>-ffmpeg`), its decisions, and the defaults the
 * chart ships, which must be the operator's own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_ACCESS_RULES, ValidationError } from '@corecast/api';
import { parse as parseYaml } from 'yaml';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { DEFAULT_DENIED_CIDRS, parseConfig } from '../src/config.ts';
import type { Pod } from '../src/kube/types.ts';
import { decide } from '../src/reconcile/decide.ts';
import { config, live, observed, view, withWebrtc } from './helpers/fixtures.ts';

const ffmpegSelector = { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'ffmpeg' };
const egressSelector = { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' };
const v4Denied = DEFAULT_DENIED_CIDRS.filter((c) => !c.includes(':'));
const v6Denied = DEFAULT_DENIED_CIDRS.filter((c) => c.includes(':'));

describe('FFmpeg NetworkPolicy builder', () => {
  test('default: egress only, DNS, its egress pod on the RTP ports, the world outside private and metadata ranges', () => {
    const np = buildFfmpegNetworkPolicy(view('demo', withWebrtc()), config());
    assert.equal(np.metadata?.name, 'demo-ffmpeg');
    assert.equal(np.metadata?.labels?.['app.kubernetes.io/component'], 'ffmpeg');
    assert.equal(np.metadata?.ownerReferences?.[0]?.kind, 'Process');
    assert.equal(np.metadata?.ownerReferences?.[0]?.controller, true);
    assert.deepEqual(np.spec?.podSelector, { matchLabels: ffmpegSelector });
    assert.deepEqual(np.spec?.policyTypes, ['Egress']);
    assert.equal(np.spec?.ingress, undefined);
    assert.deepEqual(np.spec?.egress, [
      {
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      {
        to: [{ podSelector: { matchLabels: egressSelector } }],
        ports: [
          { protocol: 'UDP', port: 5004 },
          { protocol: 'UDP', port: 5006 },
        ],
      },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: v4Denied } }, { ipBlock: { cidr: '::/0', except: v6Denied } }] },
    ]);
  });

  test('the metadata address and the usual pod and Service ranges are denied by default', () => {
    for (const range of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']) {
      assert.ok((DEFAULT_DENIED_CIDRS as readonly string[]).includes(range), range);
    }
  });

  test('extra egress rules come last, as written', () => {
    const extra = {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'media' } } }],
      ports: [{ protocol: 'TCP', port: 1935 }],
    };
    const np = buildFfmpegNetworkPolicy(view('demo'), config({ ffmpeg: { networkPolicy: { egress: [extra] } } }));
    assert.deepEqual(np.spec?.egress?.at(-1), extra);
  });

  test('deniedCidrs replaces the ranges; a /0 leaves its family out; none leaves the world open', () => {
    const own = buildFfmpegNetworkPolicy(view('demo'), config({ ffmpeg: { networkPolicy: { deniedCidrs: ['198.18.0.0/15', '::/0'] } } }));
    assert.deepEqual(own.spec?.egress?.at(-1), { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.18.0.0/15'] } }] });
    const open = buildFfmpegNetworkPolicy(view('demo'), config({ ffmpeg: { networkPolicy: { deniedCidrs: [] } } }));
    assert.deepEqual(open.spec?.egress?.at(-1), { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }] });
  });

  test("progress reports reach the operator's pods on the progress port, before the extra rules", () => {
    const progress = { endpoint: 'corecast-operator.corecast-system.svc:8083', port: 8090, operatorNamespace: 'corecast-system' };
    const labels = { 'app.kubernetes.io/name': 'corecast', 'app.kubernetes.io/component': 'operator' };
    const extra = { to: [{ ipBlock: { cidr: '10.1.2.3/32' } }] };
    const egress = buildFfmpegNetworkPolicy(
      view('demo'),
      config({ progress: { ...progress, operatorPodLabels: labels }, ffmpeg: { networkPolicy: { egress: [extra] } } }),
    ).spec?.egress;
    assert.deepEqual(egress?.at(-2), {
      to: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'corecast-system' } }, podSelector: { matchLabels: labels } },
      ],
      ports: [{ protocol: 'TCP', port: 8090 }],
    });
    assert.deepEqual(egress?.at(-1), extra);
    // Without the pods' labels (or without an endpoint) there is no rule to write.
    const without = buildFfmpegNetworkPolicy(view('demo'), config({ progress })).spec?.egress;
    assert.ok(!JSON.stringify(without).includes('8090'));
  });

  test('egress pods on the node network: RTP to any address (no pod selector matches the node)', () => {
    const np = buildFfmpegNetworkPolicy(view('demo', withWebrtc()), config({ egress: { hostNetwork: true } }));
    assert.ok(np.spec?.egress?.some((r) => !r.to && r.ports?.some((p) => p.port === 5004)));
  });

  test('the configuration refuses a bad CIDR and an unknown rule field, naming them', () => {
    const id = { name: 't', namespace: 'ns' };
    const images = { ffmpeg: 'r/f:1', egress: 'r/e:1' };
    assert.throws(
      () => parseConfig({ images, ffmpeg: { networkPolicy: { deniedCidrs: ['10.0.0.0/33'] } } }, id),
      (e: unknown) => e instanceof ValidationError && e.message.includes('ffmpeg.networkPolicy.deniedCidrs[0]: must be a CIDR'),
    );
    assert.throws(
      () => parseConfig({ images, ffmpeg: { networkPolicy: { egress: [{ from: [] }] } } }, id),
      (e: unknown) => e instanceof ValidationError && e.message.includes('ffmpeg.networkPolicy.egress[0]'),
    );
  });
});

describe('FFmpeg NetworkPolicy decisions', () => {
  const summary = (plan: ReturnType<typeof decide>) => [
    ...plan.applies.map((a) => `${a.verb} ${a.kind}/${a.object.metadata?.name}`),
    ...plan.deletes.map((d) => `delete ${d.kind}/${d.name}: ${d.why}`),
  ];
  const ctx = (c = config()) => ({ config: c, now: Date.parse('2026-01-01T00:00:00Z') });

  test('created with the FFmpeg pod, before it in the plan', () => {
    assert.deepEqual(summary(decide(observed(view('demo')), ctx())).slice(0, 2), [
      'create networkpolicies/demo-ffmpeg',
      'create pods/demo-ffmpeg',
    ]);
  });

  test('a hand edit is put back', () => {
    const p = view('demo');
    const np = live(buildFfmpegNetworkPolicy(p, config()) as Pod) as unknown as { spec: { egress: unknown[] } };
    np.spec.egress = [{}];
    const plan = decide(observed(p, { ffmpegNetworkPolicy: np as never }), ctx());
    assert.ok(summary(plan).includes('update networkpolicies/demo-ffmpeg'));
  });

  test('deleted when the operator configuration turns it off', () => {
    const p = view('demo');
    const np = live(buildFfmpegNetworkPolicy(p, config()) as Pod) as never;
    const plan = decide(observed(p, { ffmpegNetworkPolicy: np }), ctx(config({ ffmpeg: { networkPolicy: { enabled: false } } })));
    assert.ok(
      summary(plan).includes('delete networkpolicies/demo-ffmpeg: ffmpeg.networkPolicy.enabled is false in the operator configuration'),
    );
  });

  test('a refused Process gets nothing, not even the policy', () => {
    const p = view('demo', (m) => {
      m.spec.input = [{ id: 'in', address: 'async:file:/etc/hostname' }];
    });
    const plan = decide(observed(p), ctx());
    assert.deepEqual(plan.applies, []);
    const ready = plan.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.reason, 'InvalidSpec');
    assert.match(
      ready?.message ?? '',
      /spec\.input\[0\]\.address: input address "async:file:\/etc\/hostname" opens "file:\/etc\/hostname", which matches none/,
    );
  });
});

describe('the chart ships the operator defaults', () => {
  const values = parseYaml(readFileSync(new URL('../../charts/corecast/values.yaml', import.meta.url), 'utf8')) as {
    ffmpeg: { access: unknown; networkPolicy: unknown };
  };
  test('ffmpeg.access equals the operator default rules', () => {
    assert.deepEqual(values.ffmpeg.access, {
      input: { allow: [...DEFAULT_ACCESS_RULES.input.allow], block: [] },
      output: { allow: [...DEFAULT_ACCESS_RULES.output.allow], block: [] },
    });
  });
  test('ffmpeg.networkPolicy equals the operator defaults', () => {
    assert.deepEqual(values.ffmpeg.networkPolicy, { enabled: true, deniedCidrs: [...DEFAULT_DENIED_CIDRS], egress: [] });
  });
});
