/**
 * media.mode loadBalancer, pure parts: the media Service as built (one UDP port, one TCP port
 * with ICE-TCP), the egress configuration with the load balancer's address, the address read from the Service status (host names through an
 * injected resolver), the operator configuration's rules, and what decide does while the
 * address is missing, once it is there, and when it changes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EgressConfig, ValidationError } from '@corecast/api';
import { buildEgressPod, egressConfig, MEDIA_ADDRESSES_ANNOTATION } from '../src/children/egress-pod.ts';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { buildFfmpegPod } from '../src/children/ffmpeg-pod.ts';
import { buildMediaService, loadBalancerIngress } from '../src/children/media-service.ts';
import { buildIngress, buildNetworkPolicy, buildService } from '../src/children/route.ts';
import type { Pod, Service } from '../src/kube/types.ts';
import { decide } from '../src/reconcile/decide.ts';
import { mediaAddress, NAME_RECHECK_MS } from '../src/reconcile/load-balancer.ts';
import { UNRESOLVED_RETRY_MS } from '../src/reconcile/media-wait.ts';
import type { Observed, Plan } from '../src/reconcile/types.ts';
import { config, live, observed, running, view, withWebrtc } from './helpers/fixtures.ts';

const egressLb = (lb: Record<string, unknown> = {}, ice: Record<string, unknown> = {}) => ({
  egress: { ice, loadBalancer: { enabled: true, ...lb } },
});
const cfg = config(egressLb());
const NOW = Date.parse('2026-01-01T00:01:05Z');
const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };
const demo = view('demo', withWebrtc());

const withIngress = (svc: Service, ingress: { ip?: string; hostname?: string }[]): Service => ({
  ...svc,
  status: { loadBalancer: { ingress } },
});
const configOf = (pod: Pod) => JSON.parse(pod.spec?.containers[0]?.env?.find((e) => e.name === 'CORECAST_EGRESS_CONFIG')?.value ?? '{}');
const summary = (plan: Plan) => ({
  applies: plan.applies.map((a) => `${a.verb} ${a.kind}/${a.object.metadata?.name}`),
  deletes: plan.deletes.map((d) => `${d.kind}/${d.name}: ${d.why}`),
});
const ready = (plan: Plan) => plan.status?.conditions?.find((c) => c.type === 'Ready');

/** The children of `demo` as the API server holds them, with the FFmpeg pod running. */
function world(extra: Partial<Observed> = {}): Observed {
  return observed(demo, {
    ffmpegPod: live(buildFfmpegPod(demo, cfg, 0), running()),
    service: live(buildService(demo) as Pod) as never,
    ingress: live(buildIngress(demo, cfg) as Pod) as never,
    networkPolicy: live(buildNetworkPolicy(demo, cfg) as Pod) as never,
    ffmpegNetworkPolicy: live(buildFfmpegNetworkPolicy(demo, cfg) as Pod) as never,
    mediaService: live(buildMediaService(demo, cfg) as Pod) as never,
    ...extra,
  });
}

describe('media Service', () => {
  test('LoadBalancer, one named UDP port: the ICE port (port = targetPort), owned like every child', () => {
    const svc = buildMediaService(demo, cfg);
    assert.equal(svc.metadata?.name, 'demo-media');
    assert.equal(svc.metadata?.namespace, 'ns');
    assert.equal(svc.metadata?.ownerReferences?.[0]?.uid, 'uid-demo');
    assert.equal(svc.metadata?.ownerReferences?.[0]?.controller, true);
    assert.equal(svc.metadata?.labels?.['app.kubernetes.io/managed-by'], 'corecast-operator');
    assert.deepEqual(svc.spec, {
      type: 'LoadBalancer',
      selector: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' },
      publishNotReadyAddresses: true,
      externalTrafficPolicy: 'Local',
      allocateLoadBalancerNodePorts: true,
      ports: [{ name: 'ice-udp', protocol: 'UDP', port: 8189, targetPort: 8189 }],
    });
  });

  test('ICE-TCP adds its TCP port; a configured ICE port is used as it is', () => {
    const svc = buildMediaService(demo, config(egressLb({}, { udpPort: 3478, tcpPort: 3479 })));
    assert.deepEqual(svc.spec?.ports, [
      { name: 'ice-udp', protocol: 'UDP', port: 3478, targetPort: 3478 },
      { name: 'ice-tcp', protocol: 'TCP', port: 3479, targetPort: 3479 },
    ]);
  });

  test('annotations, class, traffic policy and node ports come from the configuration', () => {
    const svc = buildMediaService(
      demo,
      config(
        egressLb({
          annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'external' },
          loadBalancerClass: 'service.k8s.aws/nlb',
          externalTrafficPolicy: 'Cluster',
          allocateNodePorts: false,
        }),
      ),
    );
    assert.equal(svc.metadata?.annotations?.['service.beta.kubernetes.io/aws-load-balancer-type'], 'external');
    assert.equal(svc.spec?.loadBalancerClass, 'service.k8s.aws/nlb');
    assert.equal(svc.spec?.externalTrafficPolicy, 'Cluster');
    assert.equal(svc.spec?.allocateLoadBalancerNodePorts, false);
  });

  test('status: every IP, else the first host name, else nothing', () => {
    const svc = buildMediaService(demo, cfg);
    assert.deepEqual(loadBalancerIngress(svc), { kind: 'none' });
    assert.deepEqual(loadBalancerIngress(withIngress(svc, [{ ip: '203.0.113.7' }, { ip: '2001:db8::7' }])), {
      kind: 'ips',
      addresses: ['203.0.113.7', '2001:db8::7'],
    });
    assert.deepEqual(loadBalancerIngress(withIngress(svc, [{ hostname: 'lb-1.elb.example.com' }])), {
      kind: 'hostname',
      hostname: 'lb-1.elb.example.com',
    });
  });
});

describe('the load balancer address', () => {
  const svc = buildMediaService(demo, cfg);
  const never = async (): Promise<string[]> => assert.fail('no lookup expected');

  test('IPs are used as given (IPv6 only when the egress gathers IPv6), sorted', async () => {
    const two = withIngress(svc, [{ ip: '203.0.113.9' }, { ip: '2001:db8::7' }, { ip: '198.51.100.1' }]);
    assert.deepEqual(await mediaAddress(two, false, never), { state: 'ready', addresses: ['198.51.100.1', '203.0.113.9'] });
    assert.deepEqual(await mediaAddress(two, true, never), {
      state: 'ready',
      addresses: ['198.51.100.1', '2001:db8::7', '203.0.113.9'],
    });
    const v6 = await mediaAddress(withIngress(svc, [{ ip: '2001:db8::7' }]), false, never);
    assert.equal(v6.state, 'unresolved');
  });

  test('a host name is resolved; a failed or empty answer is reported', async () => {
    const named = withIngress(svc, [{ hostname: 'lb-1.elb.example.com' }]);
    assert.deepEqual(await mediaAddress(named, false, async () => ['203.0.113.20', '203.0.113.10']), {
      state: 'ready',
      addresses: ['203.0.113.10', '203.0.113.20'],
      hostname: 'lb-1.elb.example.com',
    });
    assert.deepEqual(
      await mediaAddress(named, false, async () => {
        throw new Error('getaddrinfo ENOTFOUND lb-1.elb.example.com');
      }),
      { state: 'unresolved', from: 'lb-1.elb.example.com', error: 'getaddrinfo ENOTFOUND lb-1.elb.example.com' },
    );
    const none = await mediaAddress(named, false, async () => ['2001:db8::1']);
    assert.equal(none.state, 'unresolved');
    assert.deepEqual(await mediaAddress(svc, false, never), { state: 'pending' });
  });
});

describe('egress pod with a load balancer address', () => {
  test('advertises only the address (NAT 1:1) on its one ICE port, the same as the Service port; a valid EgressConfig', () => {
    const pod = buildEgressPod(demo, cfg, { addresses: ['203.0.113.7'] });
    const ec = EgressConfig.parse(configOf(pod));
    assert.deepEqual(ec.ice.advertise, { addresses: ['203.0.113.7'], addressEnv: [], only: true });
    assert.equal(configOf(pod).ice.udpPort, 8189);
    assert.equal(configOf(pod).ice.advertisedPort, undefined, 'the load balancer listens on the bound port');
    assert.deepEqual(
      pod.spec?.containers[0]?.ports?.find((p) => p.name === 'ice-udp'),
      { name: 'ice-udp', containerPort: 8189, protocol: 'UDP' },
    );
    assert.equal(pod.metadata?.annotations?.[MEDIA_ADDRESSES_ANNOTATION], '203.0.113.7');
    assert.equal(pod.spec?.hostNetwork, undefined);
  });

  test('configured public addresses stay; another address gives another pod', () => {
    const withPublic = config(egressLb({}, { advertise: { addresses: ['198.51.100.1'] } }));
    assert.deepEqual(egressConfig(demo, withPublic, { addresses: ['203.0.113.7'] }).ice?.advertise?.addresses, [
      '198.51.100.1',
      '203.0.113.7',
    ]);
    const hash = (pod: Pod) => pod.metadata?.annotations?.['corecast.dev/spec-hash'];
    assert.notEqual(
      hash(buildEgressPod(demo, cfg, { addresses: ['203.0.113.7'] })),
      hash(buildEgressPod(demo, cfg, { addresses: ['203.0.113.8'] })),
    );
  });
});

describe('operator configuration', () => {
  const refused = (egress: Record<string, unknown>, message: RegExp) =>
    assert.throws(
      () => config({ egress }),
      (err: unknown) => err instanceof ValidationError && message.test(err.message),
    );

  test('no port range needed; no other mode, no relay-only, a known traffic policy', () => {
    assert.equal(config({ egress: { loadBalancer: { enabled: true } } }).egress.loadBalancer.enabled, true);
    refused({ hostNetwork: true, loadBalancer: { enabled: true } }, /egress\.loadBalancer\.enabled: cannot be combined with hostNetwork/);
    refused(
      {
        loadBalancer: { enabled: true },
        ice: {
          relayOnly: true,
          servers: [{ urls: ['turn:turn.test:3478'], auth: { type: 'password', username: 'u', credentialEnv: 'T' } }],
        },
        secretEnv: [{ name: 'T', secretName: 's', key: 'k' }],
      },
      /egress\.loadBalancer\.enabled: cannot be combined with ice\.relayOnly/,
    );
    refused({ loadBalancer: { enabled: true, externalTrafficPolicy: 'local' } }, /externalTrafficPolicy/);
  });
});

describe('decide with a media Service', () => {
  test('no address yet: the media Service is created, no egress pod, Ready False WaitingForLoadBalancer with an Event', () => {
    const plan = decide(observed(demo), ctx);
    assert.deepEqual(summary(plan).applies, [
      'create networkpolicies/demo-ffmpeg',
      'create pods/demo-ffmpeg',
      'create services/demo-media',
      'create services/demo-egress',
      'create networkpolicies/demo-egress',
      'create ingresses/demo',
    ]);
    const cond = ready(plan);
    assert.equal(cond?.status, 'False');
    assert.equal(cond?.reason, 'WaitingForLoadBalancer');
    assert.match(cond?.message ?? '', /Service demo-media \(type LoadBalancer\).*pod demo-egress is created once it has one/);
    assert.match(cond?.message ?? '', /kubectl -n ns describe service demo-media/);
    const event = plan.events.find((e) => e.reason === 'WaitingForLoadBalancer');
    assert.equal(event?.type, 'Normal');
  });

  test('the FFmpeg pod running does not hide the wait', () => {
    const plan = decide(world({ mediaAddress: { state: 'pending' } }), ctx);
    assert.deepEqual(summary(plan), { applies: [], deletes: [] });
    assert.equal(ready(plan)?.reason, 'WaitingForLoadBalancer');
  });

  test('an unresolvable host name: a Warning, and a retry', () => {
    const plan = decide(world({ mediaAddress: { state: 'unresolved', from: 'lb.example.com', error: 'ENOTFOUND' } }), ctx);
    assert.equal(ready(plan)?.reason, 'LoadBalancerAddressUnresolved');
    assert.equal(plan.events.find((e) => e.reason === 'LoadBalancerAddressUnresolved')?.type, 'Warning');
    assert.equal(plan.requeueAfterMs, UNRESOLVED_RETRY_MS);
  });

  test('an address: the egress pod is created with it; an address from a name is looked at again', () => {
    const plan = decide(world({ mediaAddress: { state: 'ready', addresses: ['203.0.113.7'] } }), ctx);
    assert.deepEqual(summary(plan), { applies: ['create pods/demo-egress'], deletes: [] });
    const pod = plan.applies[0]!.object as Pod;
    assert.deepEqual(configOf(pod).ice.advertise.addresses, ['203.0.113.7']);
    assert.equal(ready(plan)?.reason, 'EgressNotReady');
    assert.equal(plan.requeueAfterMs, undefined);
    const named = decide(world({ mediaAddress: { state: 'ready', addresses: ['203.0.113.7'], hostname: 'lb.example.com' } }), ctx);
    assert.equal(named.requeueAfterMs, NAME_RECHECK_MS);
  });

  test('a changed address replaces the egress pod; a vanished one leaves it alone', () => {
    const egressPod = live(buildEgressPod(demo, cfg, { addresses: ['203.0.113.7'] }), running());
    const same = decide(world({ egressPod, mediaAddress: { state: 'ready', addresses: ['203.0.113.7'] } }), ctx);
    assert.deepEqual(summary(same), { applies: [], deletes: [] });
    const moved = decide(world({ egressPod, mediaAddress: { state: 'ready', addresses: ['203.0.113.8'] } }), ctx);
    assert.deepEqual(summary(moved), {
      applies: [],
      deletes: ["pods/demo-egress: the load balancer's address changed from 203.0.113.7 to 203.0.113.8"],
    });
    const gone = decide(world({ egressPod, mediaAddress: { state: 'pending' } }), ctx);
    assert.deepEqual(summary(gone), { applies: [], deletes: [] });
    assert.equal(ready(gone)?.reason, 'Running');
  });

  test('another media mode deletes the media Service; WebRTC off deletes it with the rest', () => {
    const other = decide(world({ mediaAddress: { state: 'pending' } }), { ...ctx, config: config() });
    assert.ok(summary(other).deletes.includes('services/demo-media: the operator configuration no longer asks for a media Service'));
    const off = view('demo', withWebrtc({ enabled: false }));
    const plan = decide({ ...world(), process: off }, ctx);
    assert.ok(summary(plan).deletes.includes('services/demo-media: spec.webrtc.enabled is false'));
  });
});
