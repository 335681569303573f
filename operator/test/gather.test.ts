/**
 * Ownership in gather: which children a Process asks for, and what gather learns about the
 * names the caches do not show (the API server side runs in reconcile.int.test.ts; here the
 * reader is a map of objects by name).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { process as processManifest, withSpec, withWebrtc } from '../../api/test/fixtures/processes.ts';
import type { ChildKind, ProcessObject } from '../src/kube/sources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { decide, NAME_TAKEN_RETRY_MS } from '../src/reconcile/decide.ts';
import { type Caches, gather, wantedChildren } from '../src/reconcile/gather.ts';
import { config, observed, view, withMeta } from './helpers/fixtures.ts';

const cfg = config();
const NOW = Date.parse('2026-01-01T00:01:05Z');
const names = (o: ReturnType<typeof observed>, c = cfg) => wantedChildren(o, c).map((w) => `${w.kind}/${w.name}`);

describe('the children a Process asks for', () => {
  const cases: [string, ReturnType<typeof observed>, ReturnType<typeof config>, string[]][] = [
    ['FFmpeg only', observed(view('demo')), cfg, ['networkpolicies/demo-ffmpeg', 'pods/demo-ffmpeg']],
    ['stopped: no FFmpeg pod', observed(view('demo', withSpec({ order: 'stop' }))), cfg, ['networkpolicies/demo-ffmpeg']],
    ['held by autostart: no FFmpeg pod', observed(view('demo', withSpec({ autostart: false }))), cfg, ['networkpolicies/demo-ffmpeg']],
    [
      'WebRTC through an Ingress',
      observed(view('demo', withWebrtc())),
      cfg,
      [
        'networkpolicies/demo-ffmpeg',
        'pods/demo-ffmpeg',
        'pods/demo-egress',
        'services/demo-egress',
        'networkpolicies/demo-egress',
        'ingresses/demo',
      ],
    ],
    [
      'WebRTC while another namespace holds the path: no route',
      observed(view('demo', withWebrtc()), { routeHolder: { namespace: 'other', name: 'demo' } }),
      cfg,
      ['networkpolicies/demo-ffmpeg', 'pods/demo-ffmpeg', 'pods/demo-egress', 'services/demo-egress', 'networkpolicies/demo-egress'],
    ],
    [
      'no FFmpeg NetworkPolicy when the configuration turns it off',
      observed(view('demo')),
      config({ ffmpeg: { networkPolicy: { enabled: false } } }),
      ['pods/demo-ffmpeg'],
    ],
  ];
  for (const [name, o, c, want] of cases) test(name, () => assert.deepEqual(names(o, c), want));
});

/** Caches holding one Process and nothing else; a reader over `server` (objects by kind/name) that counts reads. */
function world(server: Record<string, KubeObject>) {
  const raw = {
    ...processManifest('demo', withWebrtc()),
    metadata: { name: 'demo', namespace: 'ns', uid: 'uid-demo', generation: 1, resourceVersion: '7' },
  } as unknown as ProcessObject;
  const caches: Caches = { process: () => raw, processesNamed: () => [raw], child: () => undefined };
  const reads: string[] = [];
  const read = async (kind: ChildKind, _ns: string, name: string) => {
    reads.push(`${kind}/${name}`);
    return server[`${kind}/${name}`];
  };
  return { caches, reads, lookup: { config: cfg, read } };
}
const controlledBy = (kind: string, name: string, uid: string): KubeObject => ({
  metadata: { ownerReferences: [{ apiVersion: 'corecast.dev/v1alpha1', kind, name, uid, controller: true }] },
});

describe('gather: whose are the names the caches do not show', () => {
  test('a stranger, ours by uid, an earlier Process of the same name, and free names', async () => {
    const w = world({
      'services/demo-egress': { metadata: { name: 'demo-egress' } },
      'pods/demo-ffmpeg': controlledBy('Process', 'demo', 'uid-demo'),
      'pods/demo-egress': controlledBy('Process', 'demo', 'uid-earlier'),
      'ingresses/demo': controlledBy('Deployment', 'demo', 'uid-demo-deploy'),
    });
    const o = await gather('ns/demo', w.caches, w.lookup);
    assert.equal(w.reads.length, 6, 'every wanted child is looked up once');
    assert.deepEqual(o?.uncached, [
      { kind: 'pods', name: 'demo-ffmpeg', ours: true },
      { kind: 'pods', name: 'demo-egress', ours: true },
      { kind: 'services', name: 'demo-egress', ours: false },
      { kind: 'ingresses', name: 'demo', ours: false },
    ]);
  });

  test('nothing found: nothing recorded', async () => {
    const w = world({});
    const o = await gather('ns/demo', w.caches, w.lookup);
    assert.equal(o?.uncached, undefined);
  });
});

describe('decide on what gather found', () => {
  const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };
  test('a taken name: no write at all, NameTaken, look again later', () => {
    const o = observed(view('demo', withWebrtc()), {
      uncached: [
        { kind: 'pods', name: 'demo-ffmpeg', ours: true },
        { kind: 'services', name: 'demo-egress', ours: false },
      ],
    });
    const plan = decide(o, ctx);
    assert.deepEqual([plan.applies.length, plan.deletes.length], [0, 0]);
    const ready = plan.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.reason, 'NameTaken');
    assert.equal(
      ready?.message,
      'Service demo-egress already exists and is not managed by this Process. Delete or rename that object; the operator does not take over objects it did not make.',
    );
    assert.equal(plan.requeueAfterMs, NAME_TAKEN_RETRY_MS);
  });

  test('our own object the caches missed is created with force (taken back); the others are not', () => {
    const o = observed(view('demo', withMeta({ uid: 'uid-demo' })), { uncached: [{ kind: 'pods', name: 'demo-ffmpeg', ours: true }] });
    const plan = decide(o, ctx);
    assert.deepEqual(
      plan.applies.map((a) => `${a.verb} ${a.kind}/${a.object.metadata?.name} force=${a.force}`),
      ['create networkpolicies/demo-ffmpeg force=false', 'create pods/demo-ffmpeg force=true'],
    );
  });
});
