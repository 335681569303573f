/**
 * The egress pods of a Process with several replicas (reconcile/decide-replicas.ts), as tables of
 * observed worlds: names and labels, replica 0's relay targets and each sibling's pin moving on
 * the live pods, drains of the highest index one at a time, deletes only once drained, the
 * status and Events — and the FFmpeg pod never touched by any of it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EGRESS_CONFIG_ENV, EgressConfig, type ProcessStatus } from '@corecast/api';
import type { ProcessView } from '../src/children/common.ts';
import {
  buildEgressPod,
  DRAIN_ANNOTATION,
  type Replica,
  RELAY_TARGETS_ANNOTATION,
  REPLICA_LABEL,
  RTP_SOURCE_ANNOTATION,
} from '../src/children/egress-pod.ts';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { buildFfmpegPod } from '../src/children/ffmpeg-pod.ts';
import { buildIngress, buildNetworkPolicy, buildService } from '../src/children/route.ts';
import type { DeepReadonly, Pod } from '../src/kube/types.ts';
import { decide } from '../src/reconcile/decide.ts';
import { actionEvents } from '../src/reconcile/events.ts';
import { DRAIN_GRACE_MS, relayTargets, SINGLE_BEHIND_LOAD_BALANCER } from '../src/reconcile/decide-replicas.ts';
import type { Observed, Plan } from '../src/reconcile/types.ts';
import { process as processManifest } from '../../api/test/fixtures/processes.ts';
import type { ProcessObject } from '../src/kube/sources.ts';
import { type Caches, fromCaches, gather } from '../src/reconcile/gather.ts';
import { config, live, observed, running, view, withWebrtc } from './helpers/fixtures.ts';

const NOW = Date.parse('2026-01-01T00:01:05Z');
const cfg = config();
const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const at = (ip: string): Pod['status'] => ({ ...running(), podIP: ip, podIPs: [{ ip }] });

/** A live egress pod of `replica`, running at 10.2.0.<index + 10>. */
function egress(p: ProcessView, replica: Replica, pin = ''): Pod {
  return live(buildEgressPod(p, cfg, {}, pin, replica), at(`10.2.0.${replica.index + 10}`));
}

/**
 * Every child of `p` as the API server holds them, with egress pods of the given replicas (the
 * siblings pinned to `siblingPin`, by default replica 0's address) and viewer counts by index.
 */
function world(
  p: ProcessView,
  replicas: readonly Replica[],
  status: ProcessStatus = {},
  viewers: Record<number, number> = {},
  siblingPin = '10.2.0.10',
): Observed {
  const pods = replicas.map((r) => egress(p, r, r.index === 0 ? '10.1.0.7' : siblingPin));
  const counts = new Map(
    replicas.flatMap((r, i) => (viewers[r.index] !== undefined ? [[pods[i]!.metadata!.uid!, viewers[r.index]!]] : [])),
  );
  return observed(p, {
    status,
    ffmpegPod: live(buildFfmpegPod(p, cfg, 0), at('10.1.0.7')),
    ffmpegNetworkPolicy: live(buildFfmpegNetworkPolicy(p, cfg) as Pod) as never,
    ...(pods[0] && replicas[0]?.index === 0 ? { egressPod: pods[0] } : {}),
    egressReplicas: pods.filter((_, i) => replicas[i]!.index > 0),
    service: live(buildService(p) as Pod) as never,
    ingress: live(buildIngress(p, cfg) as Pod) as never,
    networkPolicy: live(buildNetworkPolicy(p, cfg) as Pod) as never,
    viewers: counts,
  });
}

const podWrites = (plan: Plan) => [
  ...plan.deletes.filter((d) => d.kind === 'pods').map((d) => `delete ${d.name}: ${d.why}`),
  ...plan.applies.filter((a) => a.kind === 'pods').map((a) => `${a.verb} ${a.object.metadata?.name}${a.drift ? ` at ${a.drift}` : ''}`),
];
const applied = (plan: Plan, name: string) => plan.applies.find((a) => a.object.metadata?.name === name)?.object as Pod | undefined;
const annotation = (pod: DeepReadonly<Pod> | undefined, key: string) => pod?.metadata?.annotations?.[key];

/** The targets replica 0 should carry for siblings 1..n-1 at their test addresses. */
const targets = (...entries: string[]) => entries.join(',');

describe('egress replicas: pods', () => {
  test('a new Process with replicas 3: replica 0 as before, then -egress-1 and -egress-2, each labelled', () => {
    const p = view('demo', withWebrtc({ replicas: 3 }));
    const plan = decide(observed(p), ctx);
    assert.deepEqual(
      plan.applies.filter((a) => a.kind === 'pods').map((a) => [a.object.metadata?.name, a.object.metadata?.labels?.[REPLICA_LABEL]]),
      [
        ['demo-ffmpeg', undefined],
        ['demo-egress-1', '1'],
        ['demo-egress-2', '2'],
        ['demo-egress', '0'],
      ],
    );
    const sibling = applied(plan, 'demo-egress-1');
    assert.equal(annotation(sibling, DRAIN_ANNOTATION), '', 'not draining');
    assert.equal(annotation(sibling, RELAY_TARGETS_ANNOTATION), undefined, 'relay targets only on replica 0');
    assert.equal(annotation(applied(plan, 'demo-egress'), RELAY_TARGETS_ANNOTATION), '', 'no sibling has an address yet');
    const config = JSON.parse(sibling?.spec?.containers[0]?.env?.[0]?.value ?? '{}') as { replica?: unknown };
    // No targets file: only replica 0 relays (a sibling's egress refuses one).
    assert.deepEqual(config.replica, {
      index: 1,
      drainFile: '/etc/corecast/rtp-source/drain',
      drainSeconds: 30,
    });
    // What the operator hands each replica is what the egress accepts.
    for (const name of ['demo-egress', 'demo-egress-1']) {
      const json = applied(plan, name)?.spec?.containers[0]?.env?.find((e) => e.name === EGRESS_CONFIG_ENV)?.value ?? '';
      assert.equal(EgressConfig.parse(JSON.parse(json)).replica?.index, name === 'demo-egress' ? 0 : 1);
    }
    assert.deepEqual(sibling?.spec?.topologySpreadConstraints?.[0], {
      maxSkew: 1,
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' } },
    });
    assert.deepEqual(plan.status?.webrtc, { replicas: 3, pods: [] });
  });

  test("relay targets follow the siblings' addresses and each sibling's pin is replica 0's: updates, not replacements", () => {
    const p = view('demo', withWebrtc({ replicas: 3 }));
    const w = world(p, [{ index: 0 }, { index: 1 }, { index: 2 }], { webrtc: { replicas: 3 } }, {}, '');
    const plan = decide(w, ctx);
    assert.deepEqual(podWrites(plan), [
      'update demo-egress-1 at metadata.annotations.corecast.dev/rtp-source',
      'update demo-egress-2 at metadata.annotations.corecast.dev/rtp-source',
      'update demo-egress at metadata.annotations.corecast.dev/relay-targets',
    ]);
    assert.equal(
      annotation(applied(plan, 'demo-egress'), RELAY_TARGETS_ANNOTATION),
      targets('1=10.2.0.11:5004:5006:8080', '2=10.2.0.12:5004:5006:8080'),
    );
    assert.equal(annotation(applied(plan, 'demo-egress-1'), RTP_SOURCE_ANNOTATION), '10.2.0.10');
    assert.deepEqual(
      actionEvents(plan.applies, plan.deletes)
        .filter((e) => e.reason === 'SourcePinned')
        .map((e) => e.note),
      [
        "Pod demo-egress-1 accepts RTP only from replica 0's address 10.2.0.10",
        "Pod demo-egress-2 accepts RTP only from replica 0's address 10.2.0.10",
      ],
    );
    assert.ok(!actionEvents(plan.applies, plan.deletes).some((e) => e.reason === 'Updated'), 'moving annotations is no hand edit');
  });

  test('relayTargets: by index, only siblings with an address, :draining after one being drained', () => {
    const p = view('demo', withWebrtc({ replicas: 3 }));
    const noIp = live(buildEgressPod(p, cfg, {}, '', { index: 3 }), { phase: 'Pending' });
    const list = [
      { index: 2, pod: egress(p, { index: 2 }), draining: true },
      { index: 3, pod: noIp, draining: false },
      { index: 1, pod: egress(p, { index: 1 }), draining: false },
    ];
    assert.equal(
      relayTargets(list, { videoRtp: 5004, audioRtp: 5006, http: 8080 }),
      '1=10.2.0.11:5004:5006:8080,2=10.2.0.12:5004:5006:8080:draining',
    );
  });

  test('replicas 3 → 1: the highest index drains first, the other keeps serving, the FFmpeg pod is left alone', () => {
    const p = view('demo', withWebrtc({ replicas: 1, drainSeconds: 20 }));
    const zero = { index: 0, relayTargets: targets('1=10.2.0.11:5004:5006:8080', '2=10.2.0.12:5004:5006:8080') };
    const w = world(p, [zero, { index: 1 }, { index: 2 }], { webrtc: { replicas: 3 } }, { 0: 4, 1: 3, 2: 5 });
    const plan = decide(w, ctx);
    assert.deepEqual(podWrites(plan), [
      'update demo-egress-2 at metadata.annotations.corecast.dev/drain',
      'update demo-egress at metadata.annotations.corecast.dev/relay-targets',
    ]);
    assert.equal(annotation(applied(plan, 'demo-egress-2'), DRAIN_ANNOTATION), iso(NOW + 20_000));
    assert.equal(
      annotation(applied(plan, 'demo-egress'), RELAY_TARGETS_ANNOTATION),
      targets('1=10.2.0.11:5004:5006:8080', '2=10.2.0.12:5004:5006:8080:draining'),
    );
    assert.deepEqual(
      plan.events.filter((e) => ['ScaledDown', 'Draining'].includes(e.reason)).map((e) => `${e.reason}: ${e.note}`),
      [
        'ScaledDown: Egress replicas 3 → 1: spec.webrtc.replicas is 1',
        `Draining: Draining pod demo-egress-2 (replica 2, 5 viewers): its viewers are closed gradually until ${iso(NOW + 20_000)} and reconnect to the other replicas; the pod is deleted once it has none`,
      ],
    );
    assert.deepEqual(plan.status?.webrtc?.pods, [
      { replica: 0, name: 'demo-egress', viewers: 4, state: 'serving' },
      { replica: 1, name: 'demo-egress-1', viewers: 3, state: 'serving' },
      { replica: 2, name: 'demo-egress-2', viewers: 5, state: 'draining' },
    ]);
    assert.equal(plan.requeueAfterMs, 20_000 + DRAIN_GRACE_MS, 'looked at again when the deadline and its grace have passed');
    assert.ok(!plan.applies.concat().some((a) => a.object.metadata?.name === 'demo-ffmpeg'));
    assert.ok(!plan.deletes.some((d) => d.name === 'demo-ffmpeg'));
  });

  test('a draining replica is deleted once it has no viewers, or its deadline passed by the grace; never before', () => {
    const p = view('demo', withWebrtc({ replicas: 1 }));
    const deadline = NOW + 5_000;
    const replicas = [{ index: 0 }, { index: 1 }, { index: 2, drain: iso(deadline) }];
    const status = { webrtc: { replicas: 1 } };
    const holding = decide(world(p, replicas, status, { 1: 3, 2: 2 }), ctx);
    assert.ok(!holding.deletes.some((d) => d.kind === 'pods'), 'viewers left, before the deadline: kept');
    assert.ok(!holding.events.some((e) => e.reason === 'Draining'), 'one drain at a time: replica 1 waits');
    const empty = decide(world(p, replicas, status, { 1: 3, 2: 0 }), ctx);
    assert.deepEqual(
      empty.deletes.filter((d) => d.kind === 'pods').map((d) => `${d.name}: ${d.why}`),
      ['demo-egress-2: replica 2 is drained (no viewers left)'],
    );
    const late = decide(world(p, replicas, status, { 1: 3, 2: 2 }), { ...ctx, now: deadline + DRAIN_GRACE_MS });
    assert.deepEqual(
      late.deletes.filter((d) => d.kind === 'pods').map((d) => d.name),
      ['demo-egress-2'],
    );
    assert.match(late.deletes[0]!.why, /drain deadline .* passed 10 s ago with 2 viewers left/);
    // Replica 1 holds viewers and is not draining: it is never deleted, whatever the count says.
    for (const plan of [holding, empty, late]) assert.ok(!plan.deletes.some((d) => d.name === 'demo-egress-1'));
  });

  test('an outdated replica past the count is replaced like any outdated one, not drained (its spec cannot be updated)', () => {
    const p = view('demo', withWebrtc({ replicas: 1 }));
    const w = world(p, [{ index: 0 }], { webrtc: { replicas: 2 } });
    const older = config({ images: { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:0' } });
    const stale = live(buildEgressPod(p, older, {}, '10.2.0.10', { index: 1 }), at('10.2.0.11'));
    const plan = decide({ ...w, egressReplicas: [stale] }, ctx);
    assert.deepEqual(
      plan.deletes.filter((d) => d.kind === 'pods').map((d) => d.name),
      ['demo-egress-1'],
    );
    assert.ok(!plan.events.some((e) => e.reason === 'Draining'));
    assert.ok(!plan.applies.some((a) => a.object.metadata?.name === 'demo-egress-1'), 'not created again past the count');
  });

  test('after the drained replica is gone, the next highest drains', () => {
    const p = view('demo', withWebrtc({ replicas: 1 }));
    const plan = decide(world(p, [{ index: 0 }, { index: 1 }], { webrtc: { replicas: 1 } }, { 1: 3 }), ctx);
    assert.deepEqual(podWrites(plan), [
      'update demo-egress-1 at metadata.annotations.corecast.dev/drain',
      'update demo-egress at metadata.annotations.corecast.dev/relay-targets',
    ]);
  });

  test('autoscale: the viewers of every replica decide; up at once, status with the last scale', () => {
    const p = view('demo', withWebrtc({ autoscale: { maxReplicas: 4, targetViewersPerReplica: 10 } }));
    const plan = decide(world(p, [{ index: 0 }], { webrtc: { replicas: 1 } }, { 0: 25 }), ctx);
    assert.deepEqual(podWrites(plan), ['create demo-egress-1', 'create demo-egress-2']);
    assert.deepEqual(plan.status?.webrtc?.lastScale, {
      time: iso(NOW),
      from: 1,
      to: 3,
      reason: '25 viewers at 10 per replica need 3 replicas',
    });
    assert.deepEqual(
      plan.events.filter((e) => e.reason === 'ScaledUp').map((e) => e.note),
      ['Egress replicas 1 → 3: 25 viewers at 10 per replica need 3 replicas'],
    );
  });

  test('behind a media load balancer one replica serves: the spec asks for 3, the count is 1, and says why', () => {
    const lb = config({ egress: { loadBalancer: { enabled: true } } });
    const p = view('demo', withWebrtc({ replicas: 3 }));
    const w = {
      ...world(p, [{ index: 0 }], { webrtc: { replicas: 3 } }),
      mediaAddress: { state: 'ready', addresses: ['203.0.113.7'] } as const,
    };
    const plan = decide(w, { ...ctx, config: lb });
    assert.ok(!plan.applies.some((a) => a.verb === 'create' && a.kind === 'pods'), 'no sibling created');
    assert.equal(plan.status?.webrtc?.replicas, 1);
    assert.equal(plan.status?.webrtc?.lastScale?.reason, SINGLE_BEHIND_LOAD_BALANCER);
  });

  test('WebRTC off deletes every replica', () => {
    const on = view('demo', withWebrtc({ replicas: 2 }));
    const w = world(on, [{ index: 0 }, { index: 1 }], { webrtc: { replicas: 2 } });
    const off = decide({ ...w, process: view('demo', withWebrtc({ enabled: false })) }, ctx);
    assert.deepEqual(
      off.deletes.filter((d) => d.kind === 'pods' && d.name !== 'demo-ffmpeg').map((d) => d.name),
      ['demo-egress', 'demo-egress-1'],
    );
    assert.equal(off.status?.webrtc, undefined);
  });

  test("gather finds the siblings by their names and the Process's labels, and asks for the wanted ones it lacks", async () => {
    const p = view('demo', withWebrtc({ replicas: 3 }));
    const raw = { ...processManifest('demo', withWebrtc({ replicas: 3 })), metadata: { name: 'demo', namespace: 'ns', uid: 'uid-demo' } };
    const pods: Record<string, Pod> = {
      'ns/demo-egress-1': egress(p, { index: 1 }),
      'ns/demo-egress-5': egress(p, { index: 5 }),
      'ns/demo-egress-7': { ...egress(p, { index: 7 }), metadata: { name: 'demo-egress-7', labels: { 'corecast.dev/process': 'other' } } },
    };
    const caches: Caches = {
      process: () => raw as unknown as ProcessObject,
      processesNamed: () => [],
      child: (kind, key) => (kind === 'pods' ? pods[key] : undefined),
    };
    const o = fromCaches('ns/demo', caches);
    assert.deepEqual(
      o?.egressReplicas?.map((pod) => pod.metadata?.name),
      ['demo-egress-1', 'demo-egress-5'],
      'by name, owned by this Process (a leftover past the count included: it is drained)',
    );
    const reads: string[] = [];
    await gather('ns/demo', caches, { config: cfg, read: async (kind, _ns, name) => void reads.push(`${kind}/${name}`) });
    assert.ok(reads.includes('pods/demo-egress-2'), 'the wanted sibling the cache lacks is asked for');
    assert.ok(!reads.includes('pods/demo-egress-1'));
  });
});
