/**
 * Status, Events and route conflicts, with the test playing the kubelet (there is no node:
 * the test writes pod status as the kubelet would).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kubectl } from '@corecast/testkit/kube-tools';
import { process as processFixture, withSpec, withWebrtc } from '../../api/test/fixtures/processes.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  deleteProcess,
  eventsAbout,
  eventually,
  exitedStatus,
  getCluster,
  getPod,
  getProcess,
  namespace,
  patchProcess,
  readyOf,
  runningStatus,
  setPodStatus,
  startOperator,
  waitForPod,
  waitForReady,
} from './helpers/cluster.ts';

let c: Cluster;
let ns: string;
let older: string;
let newer: string;
let op: Operator;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'status');
  older = await namespace(c, 'route-a');
  newer = await namespace(c, 'route-b');
  op = await startOperator(c, [ns, older, newer], {
    config: { ffmpeg: { access: { input: { block: ['^file:'] } } }, publicBaseUrl: 'https://play.test' },
  });
});

after(async () => {
  await op?.stop();
});

describe('status from the pods (the test plays the kubelet)', () => {
  test('pods running → Ready=True, Core state, URLs; kubectl wait works', async () => {
    await createProcess(c, ns, processFixture('live', withWebrtc()));
    await waitForPod(c, ns, 'live-ffmpeg');
    await waitForPod(c, ns, 'live-egress');
    const waiting = kubectl(c.cp.kubeconfigPath, ['wait', '-n', ns, '--for=condition=Ready', 'proc/live', '--timeout=120s']);
    await setPodStatus(c, ns, 'live-ffmpeg', runningStatus('ffmpeg'));
    const egressNotReady = await waitForReady(c, ns, 'live', 'EgressNotReady');
    assert.equal(egressNotReady.status?.exec, 'running');
    await setPodStatus(c, ns, 'live-egress', runningStatus('egress'));
    assert.match(await waiting, /condition met/);
    const p = await waitForReady(c, ns, 'live', 'Running');
    assert.equal(readyOf(p)?.status, 'True');
    assert.equal(p.status?.exec, 'running');
    assert.equal(p.status?.order, 'start');
    assert.equal(p.status?.restarts, 0);
    assert.match(p.status?.startedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(p.status?.command?.[0], '-nostdin');
    assert.equal(p.status?.whepUrl, 'https://play.test/api/v3/process/live/whep');
    assert.equal(p.status?.playerUrl, 'https://play.test/api/v3/process/live/whep/player');
    const events = await eventually('Started and Ready events', async () => {
      const e = await eventsAbout(c, ns, 'live');
      return e.some((x) => x.startsWith('Normal Started')) && e.some((x) => x.startsWith('Normal Ready')) ? e : undefined;
    });
    assert.ok(events[0]?.startsWith('Normal Created: Created NetworkPolicy live-ffmpeg, Pod live-ffmpeg'), events.join('\n'));
    const table = await kubectl(c.cp.kubeconfigPath, ['get', 'proc', '-n', ns, 'live']);
    assert.match(table, /live/);
  });

  test('FFmpeg fails without reconnect → failed and the last error line; the pod stays', async () => {
    await createProcess(c, ns, processFixture('broken', withSpec({ reconnect: false })));
    const pod = await waitForPod(c, ns, 'broken-ffmpeg');
    await setPodStatus(c, ns, 'broken-ffmpeg', runningStatus('ffmpeg'));
    await waitForReady(c, ns, 'broken', 'Running');
    await setPodStatus(
      c,
      ns,
      'broken-ffmpeg',
      exitedStatus('ffmpeg', 1, 'Input #0, lavfi\nframe=  12 fps=0.0 q=0.0\rrtmp://ingest/live: Connection refused\n'),
    );
    const p = await waitForReady(c, ns, 'broken', 'Failed');
    assert.equal(p.status?.exec, 'failed');
    assert.equal(p.status?.lastError, 'rtmp://ingest/live: Connection refused');
    assert.match(readyOf(p)?.message ?? '', /spec\.reconnect is false: set the corecast\.dev\/restart annotation/);
    assert.equal((await getPod(c, ns, 'broken-ffmpeg'))?.metadata?.uid, pod.metadata?.uid, 'not restarted');
    await eventually('a Failed warning', async () =>
      (await eventsAbout(c, ns, 'broken')).some((e) => e.startsWith('Warning Failed') && e.includes('Connection refused')),
    );
  });

  test('FFmpeg fails with reconnect → a new pod after the delay, restarts counted', async () => {
    await createProcess(c, ns, processFixture('flaky', withSpec({ reconnect: true, reconnectDelaySeconds: 2 })));
    const first = await waitForPod(c, ns, 'flaky-ffmpeg');
    await setPodStatus(c, ns, 'flaky-ffmpeg', runningStatus('ffmpeg'));
    await waitForReady(c, ns, 'flaky', 'Running');
    await setPodStatus(c, ns, 'flaky-ffmpeg', exitedStatus('ffmpeg', 1, 'Conversion failed!'));
    const second = await waitForPod(c, ns, 'flaky-ffmpeg', first.metadata?.uid);
    assert.equal(second.metadata?.annotations?.['corecast.dev/restarts'], '1');
    const p = await waitForReady(c, ns, 'flaky', 'Starting');
    assert.equal(p.status?.restarts, 1);
    assert.equal(p.status?.lastError, 'Conversion failed!', 'the last error is kept for the next run');
    await setPodStatus(c, ns, 'flaky-ffmpeg', runningStatus('ffmpeg'));
    const running = await waitForReady(c, ns, 'flaky', 'Running');
    assert.equal(running.status?.exec, 'running');
    const events = await eventsAbout(c, ns, 'flaky');
    assert.ok(
      events.some((e) => e.startsWith('Normal Deleted: Deleted Pod flaky-ffmpeg: reconnect')),
      events.join('\n'),
    );
  });

  test('autostart false holds a new Process until its spec changes', async () => {
    await createProcess(c, ns, processFixture('held', withSpec({ autostart: false })));
    const p = await waitForReady(c, ns, 'held', 'AutostartDisabled');
    assert.equal(p.status?.order, 'stop');
    assert.equal(await getPod(c, ns, 'held-ffmpeg'), undefined);
    await patchProcess(c, ns, 'held', { spec: { autostart: true } });
    await waitForPod(c, ns, 'held-ffmpeg');
    await waitForReady(c, ns, 'held', 'Starting');
  });

  test('an address the access rules block → InvalidSpec naming the field, nothing created', async () => {
    await createProcess(c, ns, processFixture('blocked', withSpec({ input: [{ id: 'in', address: 'file:/etc/passwd', options: [] }] })));
    const p = await waitForReady(c, ns, 'blocked', 'InvalidSpec');
    assert.match(
      readyOf(p)?.message ?? '',
      /spec\.input\[0\]\.address: input address "file:\/etc\/passwd" is blocked by the rule \/\^file:\//,
    );
    assert.equal(await getPod(c, ns, 'blocked-ffmpeg'), undefined);
    await eventually('an InvalidSpec warning', async () =>
      (await eventsAbout(c, ns, 'blocked')).some((e) => e.startsWith('Warning InvalidSpec')),
    );
  });
});

describe('FFmpeg access in the status', () => {
  test('a file behind a wrapper in -i hidden in input options → InvalidSpec naming the option and the token, nothing created', async () => {
    const input = [{ id: 'in', address: 'testsrc2=size=320x240', options: ['-i', 'async:file:/etc/hostname', '-f', 'lavfi'] }];
    await createProcess(c, ns, processFixture('hidden', withSpec({ input })));
    const p = await waitForReady(c, ns, 'hidden', 'InvalidSpec');
    assert.match(
      readyOf(p)?.message ?? '',
      /spec\.input\[0\]\.options\[1\]: input input \(-i in options\) "async:file:\/etc\/hostname" opens "file:\/etc\/hostname", which is blocked by the rule \/\^file:\//,
    );
    assert.equal(await getPod(c, ns, 'hidden-ffmpeg'), undefined);
  });
});

describe('route conflicts', () => {
  test('the older Process keeps the path; the newer reports it, and takes over when the older goes', async () => {
    await createProcess(c, older, processFixture('shared', withWebrtc()));
    await eventually('older ingress', () => c.net.readNamespacedIngress({ namespace: older, name: 'shared' }));
    await createProcess(c, newer, processFixture('shared', withWebrtc()));
    const loser = await eventually('RouteConflict on the newer', async () => {
      const p = await getProcess(c, newer, 'shared');
      return p.status?.conditions?.find((x) => x.type === 'RouteConflict' && x.status === 'True') ? p : undefined;
    });
    assert.equal(loser.status?.whepUrl, undefined);
    assert.match(loser.status?.conditions?.find((x) => x.type === 'RouteConflict')?.message ?? '', new RegExp(`namespace ${older}`));
    await waitForPod(c, newer, 'shared-egress');
    const ingresses = await c.net.listNamespacedIngress({ namespace: newer });
    assert.equal(ingresses.items.length, 0, 'no ingress path for the newer');
    const winner = await getProcess(c, older, 'shared');
    assert.equal(winner.status?.conditions?.find((x) => x.type === 'RouteConflict')?.reason, 'PathAssigned');
    await eventually('a RouteConflict warning', async () =>
      (await eventsAbout(c, newer, 'shared')).some((e) => e.startsWith('Warning RouteConflict')),
    );

    await deleteProcess(c, older, 'shared');
    await eventually('the newer gets the ingress', () => c.net.readNamespacedIngress({ namespace: newer, name: 'shared' }));
    const now = await eventually('the newer is routed', async () => {
      const p = await getProcess(c, newer, 'shared');
      return p.status?.conditions?.find((x) => x.type === 'RouteConflict')?.reason === 'PathAssigned' ? p : undefined;
    });
    assert.equal(now.status?.whepUrl, 'https://play.test/api/v3/process/shared/whep');
  });
});
