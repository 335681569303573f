/**
 * The reconcile loop against the real API server (and the real garbage collector): children
 * are created exactly as built, follow the spec, go with their Process, and hand edits and
 * stale writes are handled.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ANNOTATIONS, EGRESS_CONFIG_ENV, GROUP, PLURAL, VERSION } from '@corecast/api';
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { process as processFixture, withSpec, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { objectDiff } from '../src/children/derivative.ts';
import { buildEgressPod } from '../src/children/egress-pod.ts';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { buildFfmpegPod } from '../src/children/ffmpeg-pod.ts';
import { buildIngress, buildNetworkPolicy, buildService } from '../src/children/route.ts';
import type { RequestRecord } from '../src/kube/client.ts';
import type { Pod } from '../src/kube/types.ts';
import type { Operator } from '../src/operator.ts';
import { processView } from '../src/reconcile/gather.ts';
import {
  type Cluster,
  createProcess,
  deleteProcess,
  eventsAbout,
  eventually,
  getCluster,
  getPod,
  getProcess,
  merge,
  namespace,
  patchProcess,
  startOperator,
  TEST_IMAGES,
  testConfig,
  waitForNoPod,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
let op: Operator;
const requests: RequestRecord[] = [];
/** Set by a test to change the Process under the operator's feet before its next status write. */
let beforeStatusWrite: (() => Promise<void>) | undefined;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'reconcile');
  op = await startOperator(c, [ns], {
    hooks: [
      {
        before: async (ctx) => {
          if (beforeStatusWrite && String(ctx.getHttpMethod()) === 'PATCH' && ctx.getUrl().includes('/status')) {
            const run = beforeStatusWrite;
            beforeStatusWrite = undefined;
            await run();
          }
        },
        after: (r) => requests.push(r),
      },
    ],
  });
});

after(async () => {
  await op?.stop();
});

/** The children as the builders make them for the live Process. */
async function built(name: string) {
  const raw = await getProcess(c, ns, name);
  const { view } = processView(raw as never);
  const cfg = testConfig([ns]);
  return {
    ffmpegPod: buildFfmpegPod(view, cfg, 0),
    egressPod: buildEgressPod(view, cfg),
    service: buildService(view),
    ingress: buildIngress(view, cfg),
    networkPolicy: buildNetworkPolicy(view, cfg),
    ffmpegNetworkPolicy: buildFfmpegNetworkPolicy(view, cfg),
  };
}

describe('reconcile against the real API server', () => {
  test('create: every child exists with exactly what the builders promise', async () => {
    await createProcess(c, ns, processFixture('exact', withWebrtc()));
    const want = await built('exact');
    const live = await eventually('all six children', async () => {
      const [ffmpegPod, egressPod, service, ingress, networkPolicy, ffmpegNetworkPolicy] = await Promise.all([
        getPod(c, ns, 'exact-ffmpeg'),
        getPod(c, ns, 'exact-egress'),
        c.core.readNamespacedService({ namespace: ns, name: 'exact-egress' }),
        c.net.readNamespacedIngress({ namespace: ns, name: 'exact' }),
        c.custom.getNamespacedCustomObject({
          group: 'networking.k8s.io',
          version: 'v1',
          plural: 'networkpolicies',
          namespace: ns,
          name: 'exact-egress',
        }),
        // The FFmpeg pod's egress policy: the API server validates its ipBlocks (each except inside its CIDR).
        c.net.readNamespacedNetworkPolicy({ namespace: ns, name: 'exact-ffmpeg' }),
      ]);
      return ffmpegPod && egressPod ? { ffmpegPod, egressPod, service, ingress, networkPolicy, ffmpegNetworkPolicy } : undefined;
    });
    const json = (x: unknown) => JSON.parse(JSON.stringify(x));
    for (const key of Object.keys(want) as (keyof typeof want)[]) {
      // The server kept every field that was set (nothing dropped or changed), adding only defaults.
      assert.equal(objectDiff(want[key], json(live[key])), undefined, `${key} differs from the builder's`);
    }
    const proc = await getProcess(c, ns, 'exact');
    const owner = live.service.metadata?.ownerReferences?.[0];
    assert.deepEqual(
      { kind: owner?.kind, name: owner?.name, uid: owner?.uid, controller: owner?.controller, block: owner?.blockOwnerDeletion },
      { kind: 'Process', name: 'exact', uid: proc.metadata.uid, controller: true, block: true },
    );
    assert.equal(live.ffmpegPod.spec?.restartPolicy, 'Never');
    assert.equal(live.ingress.spec?.rules?.[0]?.http?.paths?.[0]?.path, '/api/v3/process/exact/whep');
    // Every write was a server-side apply by the one field manager (plus status, and Events).
    const applies = requests.filter((r) => r.method === 'PATCH' && r.path.includes(`/namespaces/${ns}/`));
    assert.ok(applies.length >= 5);
    for (const r of applies) assert.match(r.query, /fieldManager=corecast-operator/);
    const managers = (live.service.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
    assert.deepEqual(managers, ['corecast-operator/Apply']);
    await waitForReady(c, ns, 'exact', 'Starting');
    assert.ok(
      (await eventsAbout(c, ns, 'exact')).some((e) => e.startsWith('Normal Created: Created NetworkPolicy exact-ffmpeg, Pod exact-ffmpeg')),
    );
  });

  test('update: the children follow the spec', async () => {
    await createProcess(c, ns, processFixture('follow', withWebrtc()));
    const first = await waitForPod(c, ns, 'follow-ffmpeg');
    const egress = await waitForPod(c, ns, 'follow-egress');
    await patchProcess(c, ns, 'follow', { spec: { options: ['-loglevel', 'error'] } });
    const second = await waitForPod(c, ns, 'follow-ffmpeg', first.metadata?.uid);
    assert.deepEqual(second.spec?.containers[0]?.args?.slice(5, 7), ['-loglevel', 'error']);
    const p = await waitForReady(c, ns, 'follow', 'Starting');
    assert.deepEqual(p.status?.command?.slice(5, 7), ['-loglevel', 'error']);

    // A new video payload type reaches both ends of the RTP leg: a new egress pod expecting it
    // and a new FFmpeg pod sending it.
    const egressConfig = (pod: Pod) => {
      const value = pod.spec?.containers[0]?.env?.find((e) => e.name === EGRESS_CONFIG_ENV)?.value;
      return JSON.parse(value ?? '{}') as { streams?: { processId: string; video: { payloadType: number } }[] };
    };
    assert.equal(egressConfig(egress).streams?.[0]?.video.payloadType, 102);
    await patchProcess(c, ns, 'follow', { spec: { webrtc: { videoPayloadType: 96 } } });
    const egress2 = await waitForPod(c, ns, 'follow-egress', egress.metadata?.uid);
    assert.deepEqual(
      egressConfig(egress2).streams?.map((s) => [s.processId, s.video.payloadType]),
      [['follow', 96]],
    );
    const third = await waitForPod(c, ns, 'follow-ffmpeg', second.metadata?.uid);
    const args = third.spec?.containers[0]?.args ?? [];
    const tee = args[args.length - 1] ?? '';
    assert.match(tee, /\[select=v:f=rtp:payload_type=96:/);
    assert.doesNotMatch(tee, /payload_type=102/);
  });

  test('delete: the garbage collector removes the children', async () => {
    await createProcess(c, ns, processFixture('gone', withWebrtc()));
    await waitForPod(c, ns, 'gone-egress');
    await eventually('service and network policy', async () => {
      await c.core.readNamespacedService({ namespace: ns, name: 'gone-egress' });
      return c.net.readNamespacedNetworkPolicy({ namespace: ns, name: 'gone-egress' });
    });
    await deleteProcess(c, ns, 'gone');
    await waitForNoPod(c, ns, 'gone-ffmpeg');
    await waitForNoPod(c, ns, 'gone-egress');
    await eventually('service, ingress and network policy gone', async () => {
      const labelSelector = 'corecast.dev/process=gone';
      const svcs = await c.core.listNamespacedService({ namespace: ns, labelSelector });
      const ings = await c.net.listNamespacedIngress({ namespace: ns, labelSelector });
      const nps = await c.net.listNamespacedNetworkPolicy({ namespace: ns, labelSelector });
      return svcs.items.length + ings.items.length + nps.items.length === 0;
    });
  });

  test('WebRTC on → off → on', async () => {
    await createProcess(c, ns, processFixture('toggle', withWebrtc()));
    await waitForPod(c, ns, 'toggle-egress');
    await patchProcess(c, ns, 'toggle', { spec: { webrtc: { enabled: false } } });
    await waitForNoPod(c, ns, 'toggle-egress');
    await eventually('egress children gone', async () => {
      const svcs = await c.core.listNamespacedService({ namespace: ns, labelSelector: 'corecast.dev/process=toggle' });
      const ings = await c.net.listNamespacedIngress({ namespace: ns, labelSelector: 'corecast.dev/process=toggle' });
      const nps = await c.net.listNamespacedNetworkPolicy({
        namespace: ns,
        labelSelector: 'corecast.dev/process=toggle,app.kubernetes.io/component=egress',
      });
      return svcs.items.length + ings.items.length + nps.items.length === 0;
    });
    const ff = await waitForPod(c, ns, 'toggle-ffmpeg');
    assert.ok(!ff.spec?.containers[0]?.args?.includes('tee'), 'no RTP legs without WebRTC');
    await patchProcess(c, ns, 'toggle', { spec: { webrtc: { enabled: true } } });
    await waitForPod(c, ns, 'toggle-egress');
    await eventually('ingress back', () => c.net.readNamespacedIngress({ namespace: ns, name: 'toggle' }));
    const p = await waitForReady(c, ns, 'toggle', 'Starting');
    assert.equal(p.status?.whepUrl, 'http://stream.test/api/v3/process/toggle/whep');
  });

  test('order stop → start: the FFmpeg pod goes and comes back, the egress stays', async () => {
    await createProcess(c, ns, processFixture('order', withWebrtc()));
    const egress = await waitForPod(c, ns, 'order-egress');
    await waitForPod(c, ns, 'order-ffmpeg');
    await patchProcess(c, ns, 'order', { spec: { order: 'stop' } });
    await waitForNoPod(c, ns, 'order-ffmpeg');
    const stopped = await waitForReady(c, ns, 'order', 'Stopped');
    assert.equal(stopped.status?.exec, 'finished');
    assert.equal(stopped.status?.order, 'stop');
    assert.equal((await getPod(c, ns, 'order-egress'))?.metadata?.uid, egress.metadata?.uid, 'the egress pod stays');
    await patchProcess(c, ns, 'order', { spec: { order: 'start' } });
    await waitForPod(c, ns, 'order-ffmpeg');
    const started = await waitForReady(c, ns, 'order', 'Starting');
    assert.equal(started.status?.restarts, 0, 'a start after a stop is not a restart');
  });

  test('the restart annotation makes a new FFmpeg pod; reload rebuilds both pods', async () => {
    await createProcess(c, ns, processFixture('again', withWebrtc()));
    const ff = await waitForPod(c, ns, 'again-ffmpeg');
    const eg = await waitForPod(c, ns, 'again-egress');
    await patchProcess(c, ns, 'again', { metadata: { annotations: { [ANNOTATIONS.restart]: '1' } } });
    const ff2 = await waitForPod(c, ns, 'again-ffmpeg', ff.metadata?.uid);
    assert.equal(ff2.metadata?.annotations?.[ANNOTATIONS.restartedFor], '1');
    assert.equal((await getPod(c, ns, 'again-egress'))?.metadata?.uid, eg.metadata?.uid, 'restart leaves the egress alone');
    await patchProcess(c, ns, 'again', { metadata: { annotations: { [ANNOTATIONS.reload]: 'r' } } });
    await waitForPod(c, ns, 'again-ffmpeg', ff2.metadata?.uid);
    const eg2 = await waitForPod(c, ns, 'again-egress', eg.metadata?.uid);
    assert.equal(eg2.metadata?.annotations?.[ANNOTATIONS.reloadedFor], 'r');
    const svc = await c.core.readNamespacedService({ namespace: ns, name: 'again-egress' });
    await eventually(
      'service rebuilt for the reload',
      async () =>
        (await c.core.readNamespacedService({ namespace: ns, name: 'again-egress' })).metadata?.annotations?.[ANNOTATIONS.reloadedFor] ===
        'r',
    );
    assert.ok(svc.metadata?.name);
  });

  test('a child edited by hand is put back', async () => {
    await createProcess(c, ns, processFixture('edited', withWebrtc()));
    await eventually('service', () => c.core.readNamespacedService({ namespace: ns, name: 'edited-egress' }));
    // As `kubectl edit` would: another field manager changes a port the operator set.
    await c.core.patchNamespacedService(
      { namespace: ns, name: 'edited-egress', fieldManager: 'kubectl-edit', body: { spec: { publishNotReadyAddresses: false } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await eventually('publishNotReadyAddresses put back', async () => {
      const svc = await c.core.readNamespacedService({ namespace: ns, name: 'edited-egress' });
      return svc.spec?.publishNotReadyAddresses === true;
    });
    // The Event is written after the put-back itself, so it may follow it by a moment.
    await eventually('the Updated Event', async () =>
      (await eventsAbout(c, ns, 'edited')).some((e) => e.includes('Normal Updated: Updated Service edited-egress')),
    );
  });

  test('a 409 from a stale status write is retried, not surfaced', async () => {
    const conflictsBefore = requests.filter((r) => r.status === 409).length;
    beforeStatusWrite = () => patchProcess(c, ns, 'stale', { metadata: { labels: { touched: 'yes' } } });
    await createProcess(c, ns, processFixture('stale', withSpec({ reference: 'r' })));
    const p = await waitForReady(c, ns, 'stale', 'Starting');
    assert.equal(beforeStatusWrite, undefined, 'the hook ran');
    assert.ok(requests.filter((r) => r.status === 409).length > conflictsBefore, 'the API server answered 409');
    assert.equal(p.status?.exec, 'starting');
    const events = await eventsAbout(c, ns, 'stale');
    assert.ok(!events.some((e) => e.startsWith('Warning')), `no warning: ${events.join('; ')}`);
    const raw = await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name: 'stale' });
    assert.equal((raw as { metadata: { labels: Record<string, string> } }).metadata.labels.touched, 'yes');
  });

  test("an object with a child's name that someone else owns is reported, not taken over", async () => {
    await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'taken-egress' }, spec: { ports: [{ name: 'web', port: 80, protocol: 'TCP' }] } },
    });
    await createProcess(c, ns, processFixture('taken', withWebrtc()));
    const p = await waitForReady(c, ns, 'taken', 'NameTaken');
    assert.match(p.status?.conditions?.[0]?.message ?? '', /Service taken-egress already exists and is not managed by this Process/);
    const svc = await c.core.readNamespacedService({ namespace: ns, name: 'taken-egress' });
    assert.deepEqual(
      svc.spec?.ports?.map((x) => x.port),
      [80],
      'left alone',
    );
    assert.equal(svc.metadata?.ownerReferences, undefined);
    // Known in gather, before any write: no child of this Process was created or changed.
    const childWrites = requests.filter(
      (r) => (r.method === 'PATCH' || r.method === 'DELETE') && /\/(pods|services|ingresses|networkpolicies)\/taken(-|$)/.test(r.path),
    );
    assert.deepEqual(
      childWrites.map((r) => `${r.method} ${r.path}`),
      [],
    );
    assert.equal(await getPod(c, ns, 'taken-ffmpeg'), undefined, 'no FFmpeg pod beside a taken name');
    void merge;
  });

  test('our own child the caches do not show (its labels edited away) is taken back, not reported as taken', async () => {
    await createProcess(c, ns, processFixture('relabel'));
    await waitForPod(c, ns, 'relabel-ffmpeg');
    // The FFmpeg NetworkPolicy loses the operator's labels: the caches no longer show it, the API server still has it.
    await c.net.patchNamespacedNetworkPolicy({ namespace: ns, name: 'relabel-ffmpeg', body: { metadata: { labels: null } } }, merge);
    // A change to the Process reconciles it (the policy's own watch event no longer names the Process).
    await patchProcess(c, ns, 'relabel', { metadata: { labels: { touched: 'yes' } } });
    await eventually('labels put back on NetworkPolicy relabel-ffmpeg', async () => {
      const np = await c.net.readNamespacedNetworkPolicy({ namespace: ns, name: 'relabel-ffmpeg' });
      return np.metadata?.labels?.['corecast.dev/process'] === 'relabel';
    });
    const p = await waitForReady(c, ns, 'relabel', 'Starting');
    assert.notEqual(p.status?.conditions?.[0]?.reason, 'NameTaken');
  });
});

describe('every write runs to its end and every failure is reported', () => {
  let refuseNs: string;
  let refuseOp: Operator | undefined;
  const policy = { name: '' };
  const lines: { msg?: string; err?: { message?: string } }[] = [];

  before(async () => {
    refuseNs = await namespace(c, 'refuse');
    // The API server refuses every new pod in this namespace (a ValidatingAdmissionPolicy);
    // Services, NetworkPolicies and Ingresses are let through.
    const admission = c.kc.makeApiClient(AdmissionregistrationV1Api);
    policy.name = `corecast-test-refuse-pods-${refuseNs}`;
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy.name },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] },
          validations: [{ expression: 'false', message: 'pods are refused in this namespace' }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy.name },
        spec: {
          policyName: policy.name,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': refuseNs } } },
        },
      },
    });
    // The API server loads the policy in the background: wait until a pod is refused.
    const probe = { metadata: { name: 'probe' }, spec: { containers: [{ name: 'c', image: TEST_IMAGES.ffmpeg }] } };
    await eventually('the policy refusing pods', async () => {
      try {
        await c.core.createNamespacedPod({ namespace: refuseNs, body: probe });
      } catch (err) {
        if (/pods are refused/.test(String((err as { body?: unknown }).body ?? err))) return true;
        throw err;
      }
      await c.core.deleteNamespacedPod({ namespace: refuseNs, name: 'probe', gracePeriodSeconds: 0 });
      return false;
    });
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    refuseOp = await startOperator(c, [refuseNs], { name: 'refuse-operator', log: pino({ level: 'error' }, sink) });
  });

  after(async () => {
    await refuseOp?.stop();
    const admission = c.kc.makeApiClient(AdmissionregistrationV1Api);
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policy.name }).catch(() => {});
    await admission.deleteValidatingAdmissionPolicy({ name: policy.name }).catch(() => {});
  });

  test('two refused pods are both named in the error, and the other children are still written', async () => {
    await createProcess(c, refuseNs, processFixture('refuse', withWebrtc()));
    const failure = await eventually('a reconcile error naming both pods', () =>
      lines.find((l) => /Pod\/refuse-ffmpeg/.test(l.err?.message ?? '') && /Pod\/refuse-egress/.test(l.err?.message ?? '')),
    );
    assert.equal(failure.msg, 'reconcile failed; retrying with backoff');
    // Each failure in the API server's own words.
    const refused = (pod: string) =>
      `create Pod/${pod}: 422: pods "${pod}" is forbidden: ValidatingAdmissionPolicy '${policy.name}' with binding '${policy.name}' denied request: pods are refused in this namespace`;
    assert.equal(failure.err?.message, `2 of 6 writes failed: ${refused('refuse-ffmpeg')}; ${refused('refuse-egress')}`);
    // The writes that could succeed did, in the same pass.
    const svc = await c.core.readNamespacedService({ namespace: refuseNs, name: 'refuse-egress' });
    assert.equal(svc.metadata?.labels?.['corecast.dev/process'], 'refuse');
    await c.net.readNamespacedIngress({ namespace: refuseNs, name: 'refuse' });
    await c.net.readNamespacedNetworkPolicy({ namespace: refuseNs, name: 'refuse-ffmpeg' });
    await c.net.readNamespacedNetworkPolicy({ namespace: refuseNs, name: 'refuse-egress' });
  });

  test('the writes that went through are told in an Event although the pass failed, and the retries do not tell them again', async () => {
    // The pass above failed, and so does every retry (the pods stay refused).
    const created =
      'Normal Created: Created NetworkPolicy refuse-ffmpeg, Service refuse-egress, NetworkPolicy refuse-egress, Ingress refuse';
    await eventually('the Created Event for the four children written', async () =>
      (await eventsAbout(c, refuseNs, 'refuse')).includes(created),
    );
    const failures = () =>
      lines.filter((l) => l.msg === 'reconcile failed; retrying with backoff' && /Pod\/refuse-ffmpeg/.test(l.err?.message ?? ''));
    const seen = failures().length;
    await eventually('two more failed retries', () => failures().length >= seen + 2, 30_000);
    const events = await eventsAbout(c, refuseNs, 'refuse');
    assert.deepEqual(
      events.filter((e) => e.startsWith('Normal Created')),
      [created],
      'told once: a retry plans only the refused pods and does not tell them as created',
    );
  });
});
