import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANNOTATIONS, EgressConfig, ValidationError } from '@corecast/api';
import { buildEgressPod, egressConfig } from '../src/children/egress-pod.ts';
import { buildFfmpegPod, FFMPEG_WRAPPER, POD_ANNOTATIONS, staleProbe } from '../src/children/ffmpeg-pod.ts';
import { egressPorts } from '../src/children/media-ports.ts';
import { cpuQuantity, limitsToResources, memoryQuantity } from '../src/children/quantity.ts';
import { buildHttpRoute, buildIngress, buildNetworkPolicy, buildService, icePorts } from '../src/children/route.ts';
import { config, view, withAnnotation, withMeta, withRestart, withSpec, withWebrtc } from './helpers/fixtures.ts';

const owner = {
  apiVersion: 'corecast.dev/v1alpha1',
  kind: 'Process',
  name: 'demo',
  uid: 'uid-demo',
  controller: true,
  blockOwnerDeletion: true,
};
const labels = (component: string) => ({
  'app.kubernetes.io/name': 'corecast',
  'app.kubernetes.io/managed-by': 'corecast-operator',
  'app.kubernetes.io/component': component,
  'corecast.dev/process': 'demo',
});

describe('FFmpeg pod', () => {
  test('the pod for a plain Process, field by field', () => {
    const pod = buildFfmpegPod(view('demo'), config(), 0);
    assert.equal(pod.metadata?.name, 'demo-ffmpeg');
    assert.equal(pod.metadata?.namespace, 'ns');
    assert.deepEqual(pod.metadata?.labels, labels('ffmpeg'));
    assert.deepEqual(pod.metadata?.ownerReferences, [owner]);
    assert.equal(pod.metadata?.annotations?.[ANNOTATIONS.restartedFor], '');
    assert.equal(pod.metadata?.annotations?.[ANNOTATIONS.reloadedFor], '');
    assert.equal(pod.metadata?.annotations?.[POD_ANNOTATIONS.restarts], '0');
    assert.match(pod.metadata?.annotations?.[POD_ANNOTATIONS.specHash] ?? '', /^[0-9a-f]{16}$/);
    const spec = pod.spec!;
    assert.equal(spec.restartPolicy, 'Never');
    assert.equal(spec.automountServiceAccountToken, false);
    assert.deepEqual(spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = spec.containers[0]!;
    assert.equal(c.image, 'registry.test/ffmpeg:1');
    assert.deepEqual(c.command, ['sh', '-c', FFMPEG_WRAPPER, 'ffmpeg']);
    assert.deepEqual(c.args, [
      '-nostdin',
      '-stats_period',
      '1',
      '-progress',
      'pipe:3',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=25',
      '-f',
      'null',
      '-',
    ]);
    assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.deepEqual(spec.volumes, [{ name: 'tmp', emptyDir: {} }]);
    assert.deepEqual(c.resources, {});
    assert.equal(c.livenessProbe, undefined, 'no stale check when staleTimeoutSeconds is 0');
  });

  const cases: [string, Parameters<typeof view>[1][], (pod: ReturnType<typeof buildFfmpegPod>) => void][] = [
    [
      'limits become equal requests and limits',
      [withSpec({ limits: { cpuUsage: 150, memoryMbytes: 1024 } })],
      (pod) =>
        assert.deepEqual(pod.spec?.containers[0]?.resources, {
          requests: { cpu: '1500m', memory: '1Gi' },
          limits: { cpu: '1500m', memory: '1Gi' },
        }),
    ],
    [
      'staleTimeoutSeconds becomes a heartbeat liveness probe',
      [withSpec({ staleTimeoutSeconds: 30 })],
      (pod) => assert.deepEqual(pod.spec?.containers[0]?.livenessProbe, staleProbe(30)),
    ],
    [
      'WebRTC appends the RTP legs to the egress Service',
      [withWebrtc()],
      (pod) => {
        const args = pod.spec?.containers[0]?.args ?? [];
        assert.equal(args.at(-2), 'tee');
        assert.match(args.at(-1) ?? '', /udp:\/\/demo-egress\.ns\.svc:5004\?pkt_size=1200/);
        assert.match(args.at(-1) ?? '', /udp:\/\/demo-egress\.ns\.svc:5006\?pkt_size=1200/);
      },
    ],
    [
      'the restart token is recorded',
      [withRestart('7')],
      (pod) => assert.equal(pod.metadata?.annotations?.[ANNOTATIONS.restartedFor], '7'),
    ],
  ];
  for (const [name, withs, check] of cases) {
    test(name, () => check(buildFfmpegPod(view('demo', ...withs), config(), 0)));
  }

  test('the hash follows the spec, the tokens and the owner, not the restart counter', () => {
    const hash = (pod: ReturnType<typeof buildFfmpegPod>) => pod.metadata?.annotations?.[POD_ANNOTATIONS.specHash];
    const base = hash(buildFfmpegPod(view('demo'), config(), 0));
    assert.equal(hash(buildFfmpegPod(view('demo'), config(), 5)), base);
    assert.notEqual(hash(buildFfmpegPod(view('demo', withSpec({ options: ['-loglevel', 'error'] })), config(), 0)), base);
    assert.notEqual(hash(buildFfmpegPod(view('demo', withRestart('1')), config(), 0)), base);
    assert.notEqual(hash(buildFfmpegPod(view('demo', withAnnotation(ANNOTATIONS.reload, 'x')), config(), 0)), base);
    assert.notEqual(hash(buildFfmpegPod(view('demo', withMeta({ uid: 'other' })), config(), 0)), base);
  });

  test('an address blocked by the access rules is a ValidationError naming the field', () => {
    const c = config({ ffmpeg: { access: { input: { block: ['^testsrc'] } } } });
    assert.throws(
      () => buildFfmpegPod(view('demo'), c, 0),
      (err: unknown) => err instanceof ValidationError && err.message.includes('spec.input[0].address'),
    );
  });
});

describe('quantities in canonical form', () => {
  const cpu: [number, string][] = [
    [100, '1'],
    [150, '1500m'],
    [12.5, '125m'],
    [0.01, '1m'],
    [400, '4'],
  ];
  for (const [percent, q] of cpu) test(`cpuUsage ${percent} → ${q}`, () => assert.equal(cpuQuantity(percent), q));
  const mem: [number, string][] = [
    [512, '512Mi'],
    [1024, '1Gi'],
    [1536, '1536Mi'],
    [1048576, '1Ti'],
  ];
  for (const [mib, q] of mem) test(`memoryMbytes ${mib} → ${q}`, () => assert.equal(memoryQuantity(mib), q));
  test('no limits, no resources', () => assert.deepEqual(limitsToResources({ cpuUsage: 0, memoryMbytes: 0 }), {}));
});

describe('egress pod', () => {
  test('its configuration is a valid EgressConfig for the Process', () => {
    const p = view('demo', withWebrtc({ maxViewers: 20, videoPayloadType: 96 }));
    const parsed = EgressConfig.parse(egressConfig(p, config()));
    assert.equal(parsed.streams[0]?.processId, 'demo');
    assert.equal(parsed.streams[0]?.maxViewers, 20);
    assert.equal(parsed.streams[0]?.video.payloadType, 96);
    assert.equal(parsed.streams[0]?.video.port, 5004);
    assert.equal(parsed.maxViewers, 100);
    // Tokens and embed URLs name `<namespace>/<name>`: the pod learns its namespace from here.
    assert.equal(parsed.namespace, 'ns');
    assert.equal(parsed.session.maxPerSubject, 5);
    assert.equal(parsed.session.maxPerClient, 10);
  });

  test('the pod: ports, probes, env, restricted', () => {
    const pod = buildEgressPod(view('demo', withWebrtc()), config());
    assert.equal(pod.metadata?.name, 'demo-egress');
    assert.deepEqual(pod.metadata?.labels, { ...labels('egress'), 'corecast.dev/replica': '0' });
    const c = pod.spec!.containers[0]!;
    assert.equal(pod.spec?.restartPolicy, 'Always');
    assert.deepEqual(c.ports, [
      { name: 'rtp-video', containerPort: 5004, protocol: 'UDP' },
      { name: 'rtp-audio', containerPort: 5006, protocol: 'UDP' },
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 8081, protocol: 'TCP' },
      { name: 'ice-udp', containerPort: 8189, protocol: 'UDP' },
    ]);
    // Not /readyz (RTP flowing), which deadlocks a replaced egress pod: test/e2e/node's
    // 'egress pod deleted' step is the regression test, on a real node with kube-proxy.
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/healthz', port: 'http' });
    assert.equal(c.env?.[0]?.name, 'CORECAST_EGRESS_CONFIG');
    assert.equal(
      c.env?.some((e) => e.name === 'CORECAST_JWT_SECRET'),
      false,
      'no secret without hs256',
    );
    assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '512Mi' } });
    assert.equal(pod.spec?.hostNetwork, undefined);
  });

  test('hs256 and embeds read their secrets from a Secret; host networking declares its slot as host ports', () => {
    const c = config({
      egress: { auth: { mode: 'hs256' }, jwtSecretRef: { name: 'auth', key: 'jwt' }, embed: { enabled: true }, hostNetwork: true },
    });
    const pod = buildEgressPod(view('demo', withWebrtc()), c, { slot: 0 });
    const env = pod.spec!.containers[0]!.env ?? [];
    assert.deepEqual(env.find((e) => e.name === 'CORECAST_JWT_SECRET')?.valueFrom, { secretKeyRef: { name: 'auth', key: 'jwt' } });
    assert.deepEqual(env.find((e) => e.name === 'CORECAST_EMBED_SECRET')?.valueFrom, { secretKeyRef: { name: 'auth', key: 'jwt' } });
    assert.equal(pod.spec?.hostNetwork, true);
    assert.equal(pod.spec?.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(
      pod.spec?.containers[0]?.ports?.map((p) => p.hostPort),
      [21000, 21001, 21002, 21003, 20000],
    );
  });
});

describe('Service, Ingress, HTTPRoute, NetworkPolicy', () => {
  const p = view('demo', withWebrtc());

  test('Service: RTP over UDP and HTTP, published before ready', () => {
    const s = buildService(p);
    assert.equal(s.metadata?.name, 'demo-egress');
    assert.deepEqual(s.spec, {
      type: 'ClusterIP',
      selector: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress', 'corecast.dev/replica': '0' },
      publishNotReadyAddresses: true,
      ports: [
        { name: 'rtp-video', protocol: 'UDP', port: 5004, targetPort: 'rtp-video' },
        { name: 'rtp-audio', protocol: 'UDP', port: 5006, targetPort: 'rtp-audio' },
        { name: 'http', protocol: 'TCP', port: 8080, targetPort: 'http' },
      ],
    });
  });

  test('Ingress: the WHEP prefix on the configured host, class, TLS and annotations', () => {
    const c = config({ ingress: { host: 'stream.test', className: 'traefik', tlsSecretName: 'tls', annotations: { 'a/b': 'c' } } });
    const i = buildIngress(p, c);
    assert.equal(i.metadata?.name, 'demo');
    assert.equal(i.metadata?.annotations?.['a/b'], 'c');
    assert.deepEqual(i.spec, {
      ingressClassName: 'traefik',
      tls: [{ hosts: ['stream.test'], secretName: 'tls' }],
      rules: [
        {
          host: 'stream.test',
          http: {
            paths: [
              {
                path: '/api/v3/process/demo/whep',
                pathType: 'Prefix',
                backend: { service: { name: 'demo-egress', port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    });
  });

  test('Ingress without host, class or TLS leaves them out', () => {
    const i = buildIngress(p, config({ ingress: {} }));
    assert.deepEqual(Object.keys(i.spec ?? {}), ['rules']);
    assert.equal(i.spec?.rules?.[0]?.host, undefined);
  });

  test('HTTPRoute: metadata like every child, the gateway annotations, the apiVersion the CRD serves', () => {
    const r = buildHttpRoute(p, config({ gateway: { enabled: true, parentRefs: [{ name: 'gw' }], annotations: { 'a/b': 'c' } } }));
    assert.equal(r.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.equal(r.kind, 'HTTPRoute');
    assert.equal(r.metadata?.name, 'demo');
    assert.equal(r.metadata?.namespace, 'ns');
    assert.deepEqual(r.metadata?.labels, labels('egress'));
    assert.deepEqual(r.metadata?.ownerReferences, [owner]);
    assert.deepEqual(r.metadata?.annotations, { [ANNOTATIONS.reloadedFor]: '', 'a/b': 'c' });
  });

  const rule = (name: string) => ({
    matches: [{ path: { type: 'PathPrefix', value: `/api/v3/process/${name}/whep` } }],
    backendRefs: [{ group: '', kind: 'Service', name: `${name}-egress`, port: 8080 }],
  });
  const gw = (ref: Record<string, unknown>) => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', ...ref });
  const httpRoutes: [string, Record<string, unknown>, Record<string, unknown>, unknown][] = [
    [
      'one Gateway in another namespace, on the ingress host',
      { host: 'stream.test' },
      { parentRefs: [{ name: 'public', namespace: 'gateways' }] },
      { parentRefs: [gw({ name: 'public', namespace: 'gateways' })], hostnames: ['stream.test'], rules: [rule('demo')] },
    ],
    [
      'no host: no hostnames (every host the listener takes)',
      {},
      { parentRefs: [{ name: 'public', namespace: 'gateways' }] },
      { parentRefs: [gw({ name: 'public', namespace: 'gateways' })], rules: [rule('demo')] },
    ],
    [
      'a wildcard host',
      { host: '*.stream.test' },
      { parentRefs: [{ name: 'public' }] },
      { parentRefs: [gw({ name: 'public' })], hostnames: ['*.stream.test'], rules: [rule('demo')] },
    ],
    [
      'two listeners of one Gateway, and a port',
      { host: 'stream.test' },
      {
        parentRefs: [
          { name: 'public', namespace: 'gateways', sectionName: 'http' },
          { name: 'public', namespace: 'gateways', sectionName: 'https', port: 443 },
        ],
      },
      {
        parentRefs: [
          gw({ name: 'public', namespace: 'gateways', sectionName: 'http' }),
          gw({ name: 'public', namespace: 'gateways', sectionName: 'https', port: 443 }),
        ],
        hostnames: ['stream.test'],
        rules: [rule('demo')],
      },
    ],
    [
      'the Ingress-only settings do not leak into it',
      { host: 'stream.test', className: 'traefik', tlsSecretName: 'tls', annotations: { 'ingress/only': 'x' } },
      { parentRefs: [{ name: 'public' }] },
      { parentRefs: [gw({ name: 'public' })], hostnames: ['stream.test'], rules: [rule('demo')] },
    ],
  ];
  for (const [name, ingress, gateway, spec] of httpRoutes) {
    test(`HTTPRoute: ${name}`, () => {
      const r = buildHttpRoute(p, config({ ingress, gateway: { enabled: true, ...gateway } }));
      assert.deepEqual(r.spec, spec);
      assert.equal(r.metadata?.annotations?.['ingress/only'], undefined);
    });
  }

  test('HTTPRoute: the path and backend follow the Process name', () => {
    const r = buildHttpRoute(view('cam-2', withWebrtc()), config({ gateway: { enabled: true, parentRefs: [{ name: 'gw' }] } }));
    assert.equal(r.metadata?.name, 'cam-2');
    assert.deepEqual(r.spec?.rules, [rule('cam-2')]);
  });

  test('NetworkPolicy: RTP only from the FFmpeg pod and its own egress pods (the relay); HTTP, metrics and ICE from anywhere', () => {
    const np = buildNetworkPolicy(p, config({ egress: { ice: { udpPort: 31000 } } }));
    assert.deepEqual(np.spec, {
      podSelector: { matchLabels: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'ffmpeg' } } },
            { podSelector: { matchLabels: { 'corecast.dev/process': 'demo', 'app.kubernetes.io/component': 'egress' } } },
          ],
          ports: [
            { protocol: 'UDP', port: 5004 },
            { protocol: 'UDP', port: 5006 },
          ],
        },
        { ports: [{ protocol: 'TCP', port: 8080 }] },
        { ports: [{ protocol: 'TCP', port: 8081 }] },
        { ports: [{ protocol: 'UDP', port: 31000 }] },
      ],
    });
  });

  test('ICE: the one UDP port (8189 by default), and the one TCP port with ICE-TCP', () => {
    assert.deepEqual(icePorts(egressPorts(config())), [{ protocol: 'UDP', port: 8189 }]);
    assert.deepEqual(icePorts(egressPorts(config({ egress: { ice: { tcpPort: 8443 } } }))), [
      { protocol: 'UDP', port: 8189 },
      { protocol: 'TCP', port: 8443 },
    ]);
  });
});
