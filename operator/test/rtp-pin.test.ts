/**
 * The RTP ingest pin (docs/security.md, "RTP ingest"): the egress pod accepted RTP from any
 * sender, so the operator now names the FFmpeg pod's address in the egress pod's
 * `corecast.dev/rtp-source` annotation, which the egress reads from a downward API file. The
 * annotation is not hashed: a new FFmpeg pod updates the running egress pod instead of
 * replacing it (viewers keep playing across an FFmpeg restart).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EGRESS_CONFIG_ENV, EgressConfig } from '@corecast/api';
import {
  buildEgressPod,
  PIN_DRIFT,
  RTP_SOURCE_ANNOTATION,
  RTP_SOURCE_DIR,
  RTP_SOURCE_FILE,
  rtpSource,
} from '../src/children/egress-pod.ts';
import { buildFfmpegPod, POD_ANNOTATIONS } from '../src/children/ffmpeg-pod.ts';
import { buildIngress, buildNetworkPolicy, buildService } from '../src/children/route.ts';
import type { Pod } from '../src/kube/types.ts';
import { decideEgress } from '../src/reconcile/decide-children.ts';
import { actionEvents } from '../src/reconcile/events.ts';
import type { Observed } from '../src/reconcile/types.ts';
import { config, live, observed, running, view, withWebrtc } from './helpers/fixtures.ts';

const cfg = config();
const ctx = { config: cfg, now: Date.parse('2026-01-01T00:01:05Z') };
const p = view('demo', withWebrtc());
const withIp = (status: Pod['status'], ...ips: string[]): Pod['status'] => ({
  ...status,
  podIP: ips[0],
  podIPs: ips.map((ip) => ({ ip })),
});

/** The egress children as the API server holds them, the egress pod pinned to `pin`. */
function world(ffmpeg: Pod | undefined, pin: string): Observed {
  return observed(p, {
    ...(ffmpeg ? { ffmpegPod: ffmpeg } : {}),
    egressPod: live(buildEgressPod(p, cfg, undefined, pin), running()),
    service: live(buildService(p) as Pod) as never,
    ingress: live(buildIngress(p, cfg) as Pod) as never,
    networkPolicy: live(buildNetworkPolicy(p, cfg) as Pod) as never,
  });
}

describe('RTP ingest pin: the egress pod names its FFmpeg pod (any sender was accepted)', () => {
  test('rtpSource: the FFmpeg pod\'s addresses, "" while there is none', () => {
    const ffmpeg = buildFfmpegPod(p, cfg, 0);
    assert.equal(rtpSource(undefined), '');
    assert.equal(rtpSource(live(ffmpeg, { phase: 'Pending' })), '', 'no address yet');
    assert.equal(rtpSource(live(ffmpeg, withIp(running(), '10.1.0.7'))), '10.1.0.7');
    assert.equal(rtpSource(live(ffmpeg, withIp(running(), '10.1.0.7', 'fd00::7'))), '10.1.0.7,fd00::7', 'dual stack: both');
    assert.equal(rtpSource(live(ffmpeg, { phase: 'Running', podIP: '10.1.0.8' })), '10.1.0.8', 'podIP alone');
    const terminating = live(ffmpeg, withIp(running(), '10.1.0.7'));
    terminating.metadata!.deletionTimestamp = '2026-01-01T00:01:00Z';
    assert.equal(rtpSource(terminating), '10.1.0.7', 'a terminating pod still sends its BYE');
  });

  test("host networking: the FFmpeg pod's node address too when it runs on another node (masquerading network plugins)", () => {
    const on = (pod: Pod, node: string | undefined) => {
      if (node) pod.spec!.nodeName = node;
      return pod;
    };
    const ffmpeg = (node: string | undefined) =>
      on(
        live(buildFfmpegPod(p, cfg, 0), { ...withIp(running(), '10.1.0.7'), hostIP: '192.168.0.2', hostIPs: [{ ip: '192.168.0.2' }] }),
        node,
      );
    const egress = (node: string | undefined) => on(live(buildEgressPod(p, cfg), running()), node);
    assert.equal(rtpSource(ffmpeg('b'), { hostNetwork: true, pod: egress('a') }), '10.1.0.7,192.168.0.2', 'another node');
    assert.equal(rtpSource(ffmpeg('a'), { hostNetwork: true, pod: egress('a') }), '10.1.0.7', 'the same node: delivered locally');
    assert.equal(rtpSource(ffmpeg('b'), { hostNetwork: true, pod: egress(undefined) }), '10.1.0.7,192.168.0.2', 'egress node unknown');
    assert.equal(rtpSource(ffmpeg(undefined), { hostNetwork: true }), '10.1.0.7,192.168.0.2', 'no egress pod yet');
    assert.equal(rtpSource(ffmpeg('b'), { hostNetwork: false, pod: egress('a') }), '10.1.0.7', 'pod network: pod to pod keeps the address');
    const unstarted = live(buildFfmpegPod(p, cfg, 0), { phase: 'Pending', hostIP: '192.168.0.2' });
    assert.equal(rtpSource(unstarted, { hostNetwork: true }), '', 'no pod address yet: nothing, not the node alone');
  });

  test('the egress pod carries the pin, reads it from a downward API file, and its spec hash ignores it', () => {
    const unpinned = buildEgressPod(p, cfg);
    const pinned = buildEgressPod(p, cfg, undefined, '10.1.0.7');
    const other = buildEgressPod(p, cfg, undefined, '10.1.0.9');
    assert.equal(unpinned.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '');
    assert.equal(pinned.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '10.1.0.7');
    const hash = (pod: Pod) => pod.metadata?.annotations?.[POD_ANNOTATIONS.specHash];
    assert.ok(hash(unpinned));
    assert.equal(hash(pinned), hash(unpinned));
    assert.equal(hash(other), hash(unpinned));
    assert.deepEqual(pinned.spec, unpinned.spec, 'only the annotation differs');

    const volume = pinned.spec?.volumes?.find((v) => v.name === 'rtp-source');
    assert.deepEqual(volume?.downwardAPI?.items, [
      { path: 'address', fieldRef: { fieldPath: `metadata.annotations['${RTP_SOURCE_ANNOTATION}']` } },
      { path: 'relay-targets', fieldRef: { fieldPath: "metadata.annotations['corecast.dev/relay-targets']" } },
      { path: 'drain', fieldRef: { fieldPath: "metadata.annotations['corecast.dev/drain']" } },
    ]);
    const mount = pinned.spec?.containers[0]?.volumeMounts?.find((m) => m.name === 'rtp-source');
    assert.deepEqual(mount, { name: 'rtp-source', mountPath: RTP_SOURCE_DIR, readOnly: true });
    assert.equal(`${RTP_SOURCE_DIR}/address`, RTP_SOURCE_FILE);

    const json = pinned.spec?.containers[0]?.env?.find((e) => e.name === EGRESS_CONFIG_ENV)?.value ?? '';
    const egress = EgressConfig.parse(JSON.parse(json));
    assert.equal(egress.streams[0]?.sourceAddressFile, RTP_SOURCE_FILE, 'the egress reads the pin file');
    assert.deepEqual(egress.streams[0]?.sourceAddresses, []);
  });

  test('the FFmpeg pod gets its address: the running egress pod is updated, not replaced', () => {
    const ffmpeg = live(buildFfmpegPod(p, cfg, 0), withIp(running(), '10.1.0.7'));
    const { applies, deletes } = decideEgress(world(ffmpeg, ''), ctx);
    assert.deepEqual(deletes, []);
    assert.equal(applies.length, 1);
    const [apply] = applies;
    assert.equal(apply?.kind, 'pods');
    assert.equal(apply?.verb, 'update');
    assert.equal(apply?.force, true);
    assert.equal(apply?.object.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '10.1.0.7');
    assert.equal(apply?.drift, PIN_DRIFT);
    assert.deepEqual(
      actionEvents(applies, []).map((e) => `${e.reason}: ${e.note}`),
      ["SourcePinned: Pod demo-egress accepts RTP only from the FFmpeg pod's address 10.1.0.7"],
      'an Event of its own, not "Updated … changed outside the operator"',
    );
  });

  test('a pin change together with a hand edit is reported as the edit', () => {
    const ffmpeg = live(buildFfmpegPod(p, cfg, 0), withIp(running(), '10.1.0.7'));
    const w = world(ffmpeg, '');
    const edited = structuredClone(w.egressPod!) as Pod;
    edited.spec!.containers[0]!.readinessProbe!.periodSeconds = 30;
    const { applies } = decideEgress({ ...w, egressPod: edited }, ctx);
    assert.equal(applies.length, 1);
    assert.equal(applies[0]?.drift, 'spec.containers[name=egress].readinessProbe.periodSeconds', 'the edit is named, not the pin');
    assert.deepEqual(
      actionEvents(applies, []).map((e) => e.reason),
      ['Updated'],
    );
  });

  test('a pinned egress pod with the same FFmpeg pod needs nothing', () => {
    const ffmpeg = live(buildFfmpegPod(p, cfg, 0), withIp(running(), '10.1.0.7'));
    const { applies, deletes } = decideEgress(world(ffmpeg, '10.1.0.7'), ctx);
    assert.deepEqual({ applies, deletes }, { applies: [], deletes: [] });
  });

  test('the FFmpeg pod is replaced: the pin is cleared while it has no address, then moves to the new one', () => {
    const gone = decideEgress(world(undefined, '10.1.0.7'), ctx);
    assert.deepEqual(gone.deletes, []);
    assert.equal(gone.applies[0]?.object.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '', 'no FFmpeg pod: no sender accepted');
    assert.deepEqual(actionEvents(gone.applies, []), [], 'clearing the pin records no Event');
    const fresh = live(buildFfmpegPod(p, cfg, 1), { phase: 'Pending' });
    assert.equal(decideEgress(world(fresh, '10.1.0.7'), ctx).applies[0]?.object.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '');
    const started = live(buildFfmpegPod(p, cfg, 1), withIp(running(), '10.1.0.42'));
    const next = decideEgress(world(started, ''), ctx);
    assert.deepEqual(next.deletes, []);
    assert.equal(next.applies[0]?.object.metadata?.annotations?.[RTP_SOURCE_ANNOTATION], '10.1.0.42');
  });
});
