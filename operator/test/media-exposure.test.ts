/**
 * Media exposure on one ICE port per egress pod, pure parts: the pod's ports and ICE settings in
 * each mode (pod network, nodePort, host networking), the NodePort media Service, the slots of
 * host ports, what decide does while a node port or a slot is missing, and the configuration's
 * rules. loadBalancer has its own file (load-balancer.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EgressConfig, ValidationError } from '@corecast/api';
import { buildEgressPod, egressConfig } from '../src/children/egress-pod.ts';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { egressPorts, hostSlotCapacity, mediaMode } from '../src/children/media-ports.ts';
import { buildMediaService, nodePortsOf } from '../src/children/media-service.ts';
import { buildNetworkPolicy, buildService, icePorts } from '../src/children/route.ts';
import type { Pod, Service } from '../src/kube/types.ts';
import { decide } from '../src/reconcile/decide.ts';
import { HostPortSlots } from '../src/reconcile/host-ports.ts';
import { MediaInputs } from '../src/reconcile/media-inputs.ts';
import { SLOT_RETRY_MS } from '../src/reconcile/media-wait.ts';
import type { Plan } from '../src/reconcile/types.ts';
import { config, live, observed, running, view, withWebrtc } from './helpers/fixtures.ts';

const demo = view('demo', withWebrtc());
const NOW = Date.parse('2026-01-01T00:01:05Z');
const configOf = (pod: Pod) => JSON.parse(pod.spec?.containers[0]?.env?.find((e) => e.name === 'CORECAST_EGRESS_CONFIG')?.value ?? '{}');
const portsOf = (pod: Pod) =>
  pod.spec?.containers[0]?.ports?.map((p) => `${p.name} ${p.protocol} ${p.containerPort}${p.hostPort ? ` host ${p.hostPort}` : ''}`);
const ready = (plan: Plan) => plan.status?.conditions?.find((c) => c.type === 'Ready');
const applied = (plan: Plan) => plan.applies.map((a) => `${a.verb} ${a.kind}/${a.object.metadata?.name}`);

describe('pod network (media.mode pod)', () => {
  test('one UDP ICE port beside RTP, HTTP and metrics; ICE-TCP adds one TCP port', () => {
    assert.equal(mediaMode(config()), 'pod');
    const pod = buildEgressPod(demo, config());
    assert.deepEqual(portsOf(pod), ['rtp-video UDP 5004', 'rtp-audio UDP 5006', 'http TCP 8080', 'metrics TCP 8081', 'ice-udp UDP 8189']);
    assert.equal(configOf(pod).ice.udpPort, 8189);
    assert.equal(configOf(pod).ice.tcpPort, undefined);
    const tcp = config({ egress: { ice: { udpPort: 9000, tcpPort: 9443 } } });
    assert.deepEqual(portsOf(buildEgressPod(demo, tcp))?.slice(4), ['ice-udp UDP 9000', 'ice-tcp TCP 9443']);
    assert.deepEqual(icePorts(egressPorts(tcp)), [
      { protocol: 'UDP', port: 9000 },
      { protocol: 'TCP', port: 9443 },
    ]);
  });

  test('the NetworkPolicy admits that one port for media, not a range', () => {
    const np = buildNetworkPolicy(demo, config());
    assert.deepEqual(np.spec?.ingress?.at(-1), { ports: [{ protocol: 'UDP', port: 8189 }] });
  });

  test('the Service targets the named container ports, so a pod on other numbers is still reached', () => {
    assert.deepEqual(
      buildService(demo).spec?.ports?.map((p) => `${p.name} ${p.port}->${p.targetPort}`),
      ['rtp-video 5004->rtp-video', 'rtp-audio 5006->rtp-audio', 'http 8080->http'],
    );
  });

  test('an ICE port on an RTP port (UDP) or a TCP one on HTTP or metrics is refused', () => {
    assert.throws(
      () => config({ egress: { ice: { udpPort: 5004 } } }),
      /egress\.ice\.udpPort: must differ from the RTP ports 5004 and 5006/,
    );
    assert.throws(() => config({ egress: { ice: { tcpPort: 8081 } } }), /egress\.ice\.tcpPort: must differ from the HTTP port 8080/);
  });
});

describe('nodePort', () => {
  const cfg = config({ egress: { nodePort: { enabled: true, annotations: { 'example.com/a': 'b' } } } });
  const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };
  /** The Service as the API server returns it: node ports filled in. */
  const allocated = (svc: Service, udp: number, tcp?: number): Service => ({
    ...svc,
    spec: {
      ...svc.spec,
      ports: svc.spec?.ports?.map((p) => ({ ...p, nodePort: p.protocol === 'TCP' ? (tcp ?? udp) : udp })),
    },
  });

  test('Service <name>-media of type NodePort, externalTrafficPolicy Local, one UDP port', () => {
    assert.equal(mediaMode(cfg), 'nodePort');
    const svc = buildMediaService(demo, cfg);
    assert.equal(svc.metadata?.name, 'demo-media');
    assert.equal(svc.metadata?.annotations?.['example.com/a'], 'b');
    assert.deepEqual(svc.spec, {
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      selector: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' },
      publishNotReadyAddresses: true,
      ports: [{ name: 'ice-udp', protocol: 'UDP', port: 8189, targetPort: 8189 }],
    });
  });

  test('with ICE-TCP both protocols share one Service port number, so the API server gives them one node port', () => {
    const svc = buildMediaService(demo, config({ egress: { nodePort: { enabled: true }, ice: { tcpPort: 8443 } } }));
    assert.deepEqual(svc.spec?.ports, [
      { name: 'ice-udp', protocol: 'UDP', port: 8189, targetPort: 8189 },
      { name: 'ice-tcp', protocol: 'TCP', port: 8189, targetPort: 8443 },
    ]);
  });

  test('node ports are read from the Service only once it has them, and only from a NodePort Service', () => {
    const svc = buildMediaService(demo, cfg);
    assert.equal(nodePortsOf(svc), undefined);
    assert.deepEqual(nodePortsOf(allocated(svc, 31234)), { udp: 31234 });
    const lb = buildMediaService(demo, config({ egress: { loadBalancer: { enabled: true } } }));
    assert.equal(nodePortsOf(allocated(lb, 31234)), undefined);
  });

  test("the egress pod listens on the ICE port and advertises its node's address with the node port", () => {
    const pod = buildEgressPod(demo, cfg, { nodePorts: { udp: 31234 } });
    const ice = configOf(pod).ice;
    assert.equal(ice.udpPort, 8189);
    assert.equal(ice.advertisedPort, 31234);
    assert.deepEqual(ice.advertise, { addresses: [], addressEnv: ['NODE_IP'], only: true });
    assert.deepEqual(EgressConfig.parse(configOf(pod)).ice.advertise.addressEnv, ['NODE_IP']);
    // NODE_IP is the node's address as the kubelet reports it (downward API).
    assert.deepEqual(pod.spec?.containers[0]?.env?.find((e) => e.name === 'NODE_IP')?.valueFrom, {
      fieldRef: { apiVersion: 'v1', fieldPath: 'status.hostIP' },
    });
    assert.equal(pod.spec?.hostNetwork, undefined, 'the pod stays on the pod network');
    const tcp = config({ egress: { nodePort: { enabled: true }, ice: { tcpPort: 8443 } } });
    const both = egressConfig(demo, tcp, { nodePorts: { udp: 31234, tcp: 31234 } }).ice as Record<string, unknown>;
    assert.deepEqual([both.tcpPort, both.advertisedPort, both.advertisedTcpPort], [8443, 31234, 31234]);
  });

  test('decide: the Service first and no egress pod until it has a node port (WaitingForNodePort); then the pod; a new node port, a new pod', () => {
    const first = decide(observed(demo), ctx);
    assert.ok(applied(first).includes('create services/demo-media'));
    assert.ok(!applied(first).includes('create pods/demo-egress'));
    assert.equal(ready(first)?.reason, 'WaitingForNodePort');
    assert.match(ready(first)?.message ?? '', /Service demo-media \(type NodePort\)/);

    const svc = live(allocated(buildMediaService(demo, cfg), 31234) as Pod) as never;
    const second = decide(observed(demo, { mediaService: svc }), ctx);
    const pod = second.applies.find((a) => a.object.metadata?.name === 'demo-egress')?.object as Pod;
    assert.equal(configOf(pod).ice.advertisedPort, 31234);
    assert.notEqual(ready(second)?.reason, 'WaitingForNodePort');

    const egressPod = live(pod, running());
    const same = decide(observed(demo, { mediaService: svc, egressPod }), ctx);
    assert.ok(!same.deletes.some((d) => d.name === 'demo-egress'));
    const moved = live(allocated(buildMediaService(demo, cfg), 30999) as Pod) as never;
    const replaced = decide(observed(demo, { mediaService: moved, egressPod }), ctx);
    assert.ok(replaced.deletes.some((d) => d.name === 'demo-egress'));
  });
});

describe('host networking', () => {
  const cfg = config({
    egress: { hostNetwork: true, hostPorts: { ice: { min: 20000, max: 20002 }, internal: { min: 21000, max: 21099 } } },
  });
  const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };

  test('a slot is one ICE port and four internal ports; the ranges hold min(ice, internal / 4) slots', () => {
    assert.equal(hostSlotCapacity(cfg), 3);
    assert.deepEqual(egressPorts(cfg, 2), { iceUdp: 20002, videoRtp: 21008, audioRtp: 21009, http: 21010, metrics: 21011 });
    const tcp = config({ egress: { hostNetwork: true, ice: { tcpPort: 8443 } } });
    assert.equal(egressPorts(tcp, 0).iceTcp, egressPorts(tcp, 0).iceUdp, 'ICE-TCP on the same number as UDP');
  });

  test('the pod binds every port of its slot as a host port, and its configuration says so', () => {
    const pod = buildEgressPod(demo, cfg, { slot: 1 });
    assert.equal(pod.spec?.hostNetwork, true);
    assert.deepEqual(portsOf(pod), [
      'rtp-video UDP 21004 host 21004',
      'rtp-audio UDP 21005 host 21005',
      'http TCP 21006 host 21006',
      'metrics TCP 21007 host 21007',
      'ice-udp UDP 20001 host 20001',
    ]);
    const ec = EgressConfig.parse(configOf(pod));
    assert.deepEqual([ec.http.port, ec.metrics.port, ec.streams[0]?.video.port, ec.streams[0]?.audio.port], [21006, 21007, 21004, 21005]);
    assert.equal(configOf(pod).ice.udpPort, 20001);
    assert.equal(configOf(pod).ice.advertisedPort, undefined);
    // FFmpeg may send RTP to exactly those ports, at the node's address.
    const np = buildFfmpegNetworkPolicy(demo, cfg, egressPorts(cfg, 1));
    assert.deepEqual(np.spec?.egress?.[2], {
      ports: [
        { protocol: 'UDP', port: 21004 },
        { protocol: 'UDP', port: 21005 },
      ],
    });
  });

  test('slots: lowest free, unique across Processes, kept through a replacement, read back from a live pod, given up', () => {
    const slots = new HostPortSlots(cfg);
    assert.deepEqual(slots.take('ns/a', undefined, []), { slot: 0 });
    // b is reconciled before a's pod reaches the cache: a's held slot is still not handed out.
    assert.deepEqual(slots.take('ns/b', undefined, []), { slot: 1 });
    assert.deepEqual(slots.take('ns/a', undefined, []), { slot: 0 }, 'the same slot again');
    // A restarted operator learns c's slot from its pod.
    const cPod = live(buildEgressPod(view('c', withWebrtc()), cfg, { slot: 2 }), running());
    const fresh = new HostPortSlots(cfg);
    assert.deepEqual(fresh.take('ns/c', cPod, [cPod]), { slot: 2 });
    assert.deepEqual(fresh.take('ns/d', undefined, [cPod]), { slot: 0 });
    assert.deepEqual(fresh.take('ns/e', undefined, [cPod]), { slot: 1 });
    assert.deepEqual(fresh.take('ns/f', undefined, [cPod]), { exhausted: 3 });
    fresh.release('ns/d');
    assert.deepEqual(fresh.take('ns/f', undefined, [cPod]), { slot: 0 });
    assert.equal(fresh.size, 3);
  });

  test('the reconcile takes a slot for a WebRTC Process and gives it up when the Process is gone or WebRTC is off', async () => {
    const inputs = new MediaInputs(cfg, () => []);
    assert.deepEqual((await inputs.observe('ns/demo', observed(demo)))?.hostSlot, { slot: 0 });
    assert.deepEqual((await inputs.observe('ns/other', observed(view('other', withWebrtc()))))?.hostSlot, { slot: 1 });
    assert.equal(await inputs.observe('ns/demo', undefined), undefined);
    const off = await inputs.observe('ns/other', observed(view('other', withWebrtc({ enabled: false }))));
    assert.equal(off?.hostSlot, undefined);
    assert.equal(inputs.slots.size, 0);
    // Another mode takes no slot at all.
    const pod = new MediaInputs(config(), () => []);
    assert.equal((await pod.observe('ns/demo', observed(demo)))?.hostSlot, undefined);
  });

  test('decide: no free slot, no egress pod (Warning NoHostPorts, looked at again); a slot, the pod', () => {
    const full = decide(observed(demo, { hostSlot: { exhausted: 3 } }), ctx);
    assert.ok(!applied(full).includes('create pods/demo-egress'));
    assert.equal(ready(full)?.reason, 'NoHostPorts');
    assert.match(ready(full)?.message ?? '', /Every slot of host ports \(3: one ICE port and four internal ports each/);
    assert.equal(full.events.find((e) => e.reason === 'NoHostPorts')?.type, 'Warning');
    assert.equal(full.requeueAfterMs, SLOT_RETRY_MS);
    const ok = decide(observed(demo, { hostSlot: { slot: 2 } }), ctx);
    const pod = ok.applies.find((a) => a.object.metadata?.name === 'demo-egress')?.object as Pod;
    assert.equal(configOf(pod).ice.udpPort, 20002);
  });

  test('the ranges must not overlap', () => {
    assert.throws(
      () => config({ egress: { hostNetwork: true, hostPorts: { ice: { min: 20000, max: 20100 }, internal: { min: 20050, max: 21000 } } } }),
      (err: unknown) => err instanceof ValidationError && /egress\.hostPorts\.internal: must not overlap ice/.test(err.message),
    );
  });
});

describe('retired and combined settings', () => {
  test('egress.ice.portRange is refused by name, saying what replaced it', () => {
    assert.throws(
      () => config({ egress: { ice: { portRange: { min: 50000, max: 50099 } } } }),
      (err: unknown) =>
        err instanceof ValidationError &&
        /egress\.ice\.portRange: is no longer used: every viewer of an egress pod shares one UDP port \(udpPort, default 8189\); remove it/.test(
          err.message,
        ),
    );
  });

  test('one mode at a time', () => {
    assert.throws(
      () => config({ egress: { loadBalancer: { enabled: true }, nodePort: { enabled: true } } }),
      /egress\.nodePort\.enabled: cannot be combined with loadBalancer\.enabled/,
    );
  });
});

describe("the chart's media values, as the operator reads them", () => {
  const chart = (media: Record<string, unknown>) => config({ auth: { mode: 'none' }, media } as Record<string, unknown>);

  test('each mode, the ICE ports and the host-port ranges reach the egress settings', () => {
    const np = chart({ mode: 'nodePort', udpPort: 9000, tcpPort: 9443, nodePort: { annotations: { a: 'b' } } });
    assert.deepEqual(
      [mediaMode(np), np.egress.ice.udpPort, np.egress.ice.tcpPort, np.egress.nodePort.annotations],
      ['nodePort', 9000, 9443, { a: 'b' }],
    );
    const host = chart({ mode: 'hostNetwork', hostNetwork: { icePorts: { min: 50000, max: 50019 } } });
    assert.equal(mediaMode(host), 'hostNetwork');
    assert.deepEqual(host.egress.hostPorts, { ice: { min: 50000, max: 50019 }, internal: { min: 21000, max: 21399 } });
    assert.equal(mediaMode(chart({ mode: 'loadBalancer' })), 'loadBalancer');
    assert.deepEqual([mediaMode(chart({})), chart({}).egress.ice.udpPort, chart({}).egress.ice.tcpPort], ['pod', 8189, undefined]);
  });

  test('a broken value is named as the values wrote it', () => {
    assert.throws(
      () => chart({ mode: 'hostNetwork', hostNetwork: { icePorts: { min: 21000, max: 21099 } } }),
      /media\.hostNetwork\.internalPorts: must not overlap ice/,
    );
    assert.throws(() => chart({ portRange: { min: 50000, max: 50099 } }), /media\.portRange: is no longer used/);
    assert.throws(() => chart({ udpPort: 5004 }), /media\.udpPort: must differ from the RTP ports/);
  });
});
