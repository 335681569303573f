/**
 * The RTP ingest pin against the real API server (docs/security.md, "RTP ingest"): the egress
 * pod accepted RTP from any sender; now the operator writes the FFmpeg pod's address into the
 * egress pod's `corecast.dev/rtp-source` annotation, which the kubelet hands to the egress as
 * a downward API file. Pods do not run here: the tests play the kubelet by writing the FFmpeg
 * pod's status.podIP. When the FFmpeg pod is replaced the egress pod keeps its uid (viewers
 * keep playing) and only the annotation moves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ANNOTATIONS } from '@corecast/api';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { RTP_SOURCE_ANNOTATION } from '../src/children/egress-pod.ts';
import { POD_ANNOTATIONS } from '../src/children/ffmpeg-pod.ts';
import type { Pod } from '../src/kube/types.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  eventsAbout,
  eventually,
  getCluster,
  getPod,
  namespace,
  patchProcess,
  runningStatus,
  setPodStatus,
  startOperator,
  waitForPod,
} from './helpers/cluster.ts';

let c: Cluster;
const operators: Operator[] = [];

before(async () => {
  c = await getCluster();
});

after(async () => {
  await Promise.all(operators.map((op) => op.stop()));
});

/** The kubelet's status of a running FFmpeg pod with `ip`, on a node with address 192.168.0.2. */
const runningAt = (ip: string): Pod['status'] => ({
  ...runningStatus('ffmpeg'),
  podIP: ip,
  podIPs: [{ ip }],
  hostIP: '192.168.0.2',
  hostIPs: [{ ip: '192.168.0.2' }],
});

const pinOf = async (ns: string, name: string) => (await getPod(c, ns, `${name}-egress`))?.metadata?.annotations?.[RTP_SOURCE_ANNOTATION];

/**
 * `node`: what the pin adds to the FFmpeg pod's address — with host networking the FFmpeg pod's
 * node address, since no pod here is on a node (the egress pod's node is not known).
 */
async function pinFollowsFfmpeg(ns: string, name: string, node = ''): Promise<void> {
  await createProcess(c, ns, processFixture(name, withWebrtc()));
  const ff = await waitForPod(c, ns, `${name}-ffmpeg`);
  const eg = await waitForPod(c, ns, `${name}-egress`);
  assert.equal(eg.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '', 'no address yet: nothing pinned');
  assert.ok(
    eg.spec?.volumes?.some((v) => v.name === 'rtp-source' && v.downwardAPI),
    'the downward API volume',
  );

  await setPodStatus(c, ns, `${name}-ffmpeg`, runningAt('10.1.0.7'));
  await eventually('the egress pod pinned to the FFmpeg pod', async () => (await pinOf(ns, name)) === `10.1.0.7${node}`);

  // The FFmpeg pod is replaced (here by the restart annotation; a reconnect does the same).
  await patchProcess(c, ns, name, { metadata: { annotations: { [ANNOTATIONS.restart]: '1' } } });
  await waitForPod(c, ns, `${name}-ffmpeg`, ff.metadata?.uid);
  await eventually('the pin cleared while the new pod has no address', async () => (await pinOf(ns, name)) === '');
  await setPodStatus(c, ns, `${name}-ffmpeg`, runningAt('10.1.0.8'));
  await eventually('the egress pod re-pinned to the new FFmpeg pod', async () => (await pinOf(ns, name)) === `10.1.0.8${node}`);

  const after = await getPod(c, ns, `${name}-egress`);
  assert.equal(after?.metadata?.uid, eg.metadata?.uid, 'the egress pod was updated, not replaced');
  assert.equal(after?.metadata?.annotations?.[POD_ANNOTATIONS.specHash], eg.metadata?.annotations?.[POD_ANNOTATIONS.specHash]);
  const events = await eventually('the SourcePinned Events', async () => {
    const all = await eventsAbout(c, ns, name);
    return all.filter((e) => e.startsWith('Normal SourcePinned')).length >= 2 ? all : undefined;
  });
  assert.ok(events.some((e) => e.includes(`Pod ${name}-egress accepts RTP only from the FFmpeg pod's address 10.1.0.8${node}`)));
  assert.ok(!events.some((e) => e.startsWith('Normal Updated') && e.includes(`${name}-egress`)), 'a re-pin is not reported as a hand edit');
}

describe('RTP ingest pin: the operator names the FFmpeg pod to its egress pod (any sender was accepted)', () => {
  test('the egress pod gets the FFmpeg pod address and keeps its uid when the FFmpeg pod is replaced', async () => {
    const ns = await namespace(c, 'rtp-pin');
    operators.push(await startOperator(c, [ns]));
    await pinFollowsFfmpeg(ns, 'pinned');
  });

  test("host-network mode: the same pin, plus the FFmpeg pod's node address while the pods' nodes may differ", async () => {
    const ns = await namespace(c, 'rtp-pin-host');
    operators.push(await startOperator(c, [ns], { config: { egress: { hostNetwork: true } }, name: 'host-operator' }));
    await pinFollowsFfmpeg(ns, 'hostnet', ',192.168.0.2');
    assert.equal((await getPod(c, ns, 'hostnet-egress'))?.spec?.hostNetwork, true);
  });
});
