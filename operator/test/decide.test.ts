import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANNOTATIONS, type ProcessStatus } from '@corecast/api';
import type { ProcessView } from '../src/children/common.ts';
import { buildEgressPod } from '../src/children/egress-pod.ts';
import { buildFfmpegNetworkPolicy } from '../src/children/ffmpeg-network-policy.ts';
import { buildFfmpegPod } from '../src/children/ffmpeg-pod.ts';
import { buildHttpRoute, buildIngress, buildNetworkPolicy, buildService } from '../src/children/route.ts';
import type { HTTPRoute, Pod } from '../src/kube/types.ts';
import { decide } from '../src/reconcile/decide.ts';
import { actionEvents } from '../src/reconcile/events.ts';
import type { Observed, Plan } from '../src/reconcile/types.ts';
import {
  config,
  exited,
  live,
  observed,
  running,
  view,
  waitingFor,
  withMeta,
  withRestart,
  withSpec,
  withWebrtc,
} from './helpers/fixtures.ts';

const NOW = Date.parse('2026-01-01T00:01:05Z');
const cfg = config();
const ctx = { config: cfg, now: NOW, baseUrl: 'https://stream.test' };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Every child of a Process as the API server would hold them, pods in the given states. */
function world(
  p: ProcessView,
  ffmpeg: Pod['status'] | null = running(),
  egress: Pod['status'] = running(),
  restarts = 0,
): Partial<Observed> {
  const w: Mutable<Partial<Observed>> = { ffmpegNetworkPolicy: live(buildFfmpegNetworkPolicy(p, cfg) as Pod) as never };
  if (ffmpeg) w.ffmpegPod = live(buildFfmpegPod(p, cfg, restarts), ffmpeg);
  if (p.spec.webrtc.enabled) {
    w.egressPod = live(buildEgressPod(p, cfg), egress);
    w.service = live(buildService(p) as Pod) as never;
    w.ingress = live(buildIngress(p, cfg) as Pod) as never;
    w.networkPolicy = live(buildNetworkPolicy(p, cfg) as Pod) as never;
  }
  return w;
}

/** What a new WebRTC Process gets created, in order, before its route (an Ingress or an HTTPRoute). */
const WEBRTC_CREATES_BEFORE_ROUTE = [
  'create networkpolicies/demo-ffmpeg',
  'create pods/demo-ffmpeg',
  'create pods/demo-egress',
  'create services/demo-egress',
  'create networkpolicies/demo-egress',
];
/** What turning WebRTC off deletes, in order, before the route. */
const WEBRTC_OFF_DELETES_BEFORE_ROUTE = [
  'pods/demo-ffmpeg: the spec changed',
  'pods/demo-egress: spec.webrtc.enabled is false',
  'services/demo-egress: spec.webrtc.enabled is false',
  'networkpolicies/demo-egress: spec.webrtc.enabled is false',
];
const summary = (plan: Plan) => ({
  applies: plan.applies.map((a) => `${a.verb} ${a.kind}/${a.object.metadata?.name}`),
  deletes: plan.deletes.map((d) => `${d.kind}/${d.name}: ${d.why}`),
});
const ready = (s: ProcessStatus | undefined) => s?.conditions?.find((c) => c.type === 'Ready');

describe('decide: children', () => {
  const cases: [string, Observed, { applies: string[]; deletes: string[] }][] = [
    [
      'a new Process gets its FFmpeg pod and its NetworkPolicy',
      observed(view('demo')),
      { applies: ['create networkpolicies/demo-ffmpeg', 'create pods/demo-ffmpeg'], deletes: [] },
    ],
    [
      'a new WebRTC Process gets all six children',
      observed(view('demo', withWebrtc())),
      {
        applies: [...WEBRTC_CREATES_BEFORE_ROUTE, 'create ingresses/demo'],
        deletes: [],
      },
    ],
    [
      'an unchanged world needs nothing',
      observed(view('demo', withWebrtc()), world(view('demo', withWebrtc()))),
      { applies: [], deletes: [] },
    ],
    [
      'order stop deletes the FFmpeg pod and keeps the egress',
      observed(view('demo', withWebrtc(), withSpec({ order: 'stop' })), world(view('demo', withWebrtc()))),
      { applies: [], deletes: ['pods/demo-ffmpeg: spec.order is stop'] },
    ],
    [
      'WebRTC off deletes the egress children',
      observed(view('demo'), world(view('demo', withWebrtc()))),
      {
        applies: [],
        deletes: [...WEBRTC_OFF_DELETES_BEFORE_ROUTE, 'ingresses/demo: spec.webrtc.enabled is false'],
      },
    ],
    [
      'a restart annotation replaces the FFmpeg pod only',
      observed(view('demo', withWebrtc(), withRestart('1')), world(view('demo', withWebrtc()))),
      { applies: [], deletes: ['pods/demo-ffmpeg: restart requested (annotation corecast.dev/restart)'] },
    ],
    [
      'a reload annotation replaces both pods and updates the rest',
      observed(view('demo', withWebrtc(), withMeta({ annotations: { [ANNOTATIONS.reload]: 'r1' } })), world(view('demo', withWebrtc()))),
      {
        applies: [
          'update networkpolicies/demo-ffmpeg',
          'update services/demo-egress',
          'update networkpolicies/demo-egress',
          'update ingresses/demo',
        ],
        deletes: [
          'pods/demo-ffmpeg: reload requested (annotation corecast.dev/reload)',
          'pods/demo-egress: reload requested (annotation corecast.dev/reload)',
        ],
      },
    ],
    [
      'a changed spec replaces the FFmpeg pod',
      observed(view('demo', withSpec({ options: ['-loglevel', 'error'] })), world(view('demo'))),
      { applies: [], deletes: ['pods/demo-ffmpeg: the spec changed'] },
    ],
    [
      'an exited pod past the reconnect delay is replaced',
      observed(
        view('demo', withSpec({ reconnectDelaySeconds: 5 })),
        world(view('demo', withSpec({ reconnectDelaySeconds: 5 })), exited(1, 'boom')),
      ),
      { applies: [], deletes: ['pods/demo-ffmpeg: reconnect: FFmpeg exited (failed); starting it again'] },
    ],
    [
      'an exited pod without reconnect stays',
      observed(view('demo', withSpec({ reconnect: false })), world(view('demo', withSpec({ reconnect: false })), exited(1, 'boom'))),
      { applies: [], deletes: [] },
    ],
    [
      'autostart false holds a new Process (its NetworkPolicy is made)',
      observed(view('demo', withSpec({ autostart: false }))),
      { applies: ['create networkpolicies/demo-ffmpeg'], deletes: [] },
    ],
    [
      'autostart false does not hold a changed Process',
      observed(view('demo', withSpec({ autostart: false }), withMeta({ generation: 2 }))),
      { applies: ['create networkpolicies/demo-ffmpeg', 'create pods/demo-ffmpeg'], deletes: [] },
    ],
    [
      'a route held elsewhere: no Ingress, and an existing one goes',
      observed(view('demo', withWebrtc()), { ...world(view('demo', withWebrtc())), routeHolder: { namespace: 'older', name: 'demo' } }),
      { applies: [], deletes: ['ingresses/demo: the path is served for Process demo in namespace older'] },
    ],
    [
      'a child edited by hand is put back',
      (() => {
        const p = view('demo', withWebrtc());
        const w = world(p);
        const svc = structuredClone(w.service) as { spec: { ports: { port: number }[] } };
        svc.spec.ports[2]!.port = 9999;
        return observed(p, { ...w, service: svc as never });
      })(),
      { applies: ['update services/demo-egress'], deletes: [] },
    ],
  ];
  for (const [name, o, expected] of cases) {
    test(name, () => {
      const got = summary(decide(o, ctx));
      assert.deepEqual(
        { applies: [...got.applies].sort(), deletes: [...got.deletes].sort() },
        {
          applies: [...expected.applies].sort(),
          deletes: [...expected.deletes].sort(),
        },
      );
    });
  }

  test('creates do not force (a foreign object conflicts); updates force (hand edits are taken back)', () => {
    const plan = decide(observed(view('demo')), ctx);
    assert.equal(plan.applies[0]?.force, false);
    const p = view('demo', withWebrtc());
    const w = world(p);
    const np = structuredClone(w.networkPolicy) as { spec: { policyTypes: string[] } };
    np.spec.policyTypes = ['Ingress', 'Egress'];
    const fix = decide(observed(p, { ...w, networkPolicy: np as never }), ctx);
    assert.equal(fix.applies[0]?.force, true);
    assert.equal(fix.applies[0]?.drift, 'spec.policyTypes.length');
  });

  test('before the reconnect delay it waits, and asks to be woken when it is due', () => {
    const p = view('demo', withSpec({ reconnectDelaySeconds: 30 }));
    const plan = decide(observed(p, world(p, exited(1, 'boom', { finishedAt: '2026-01-01T00:01:00Z' }))), ctx);
    assert.deepEqual(summary(plan), { applies: [], deletes: [] });
    assert.equal(plan.requeueAfterMs, 25_000);
    assert.match(ready(plan.status)?.message ?? '', /It starts again at 2026-01-01T00:01:30Z/);
  });

  test('a pod being deleted is waited for, not recreated', () => {
    const p = view('demo');
    const w = world(p);
    const ffmpegPod = { ...w.ffmpegPod, metadata: { ...w.ffmpegPod?.metadata, deletionTimestamp: '2026-01-01T00:01:00Z' } } as Pod;
    const plan = decide(observed(p, { ...w, ffmpegPod }), ctx);
    assert.deepEqual(summary(plan), { applies: [], deletes: [] });
    assert.equal(plan.status?.exec, 'finishing');
  });
});

describe('decide: status', () => {
  const cases: [string, Observed, Partial<ProcessStatus> & { ready: [string, string, RegExp?] }][] = [
    ['a new Process is starting', observed(view('demo')), { exec: 'starting', ready: ['False', 'Starting'] }],
    [
      'a running pod',
      observed(view('demo'), world(view('demo'))),
      { exec: 'running', startedAt: '2026-01-01T00:00:05Z', ready: ['True', 'Running'] },
    ],
    [
      'WebRTC running with a ready egress has URLs',
      observed(view('demo', withWebrtc()), world(view('demo', withWebrtc()))),
      {
        exec: 'running',
        whepUrl: 'https://stream.test/api/v3/process/demo/whep',
        playerUrl: 'https://stream.test/api/v3/process/demo/whep/player',
        ready: ['True', 'Running', /Play it at https:\/\/stream\.test\/api\/v3\/process\/demo\/whep\/player/],
      },
    ],
    [
      'the egress not ready yet',
      observed(view('demo', withWebrtc()), world(view('demo', withWebrtc()), running(), { phase: 'Running' })),
      { exec: 'running', ready: ['False', 'EgressNotReady'] },
    ],
    [
      'a failed run shows the last error line',
      observed(
        view('demo', withSpec({ reconnect: false })),
        world(view('demo', withSpec({ reconnect: false })), exited(1, 'frame=  10 fps=0\rrtmp://x: Connection refused\n')),
      ),
      {
        exec: 'failed',
        lastError: 'rtmp://x: Connection refused',
        ready: ['False', 'Failed', /exit code 1: rtmp:\/\/x: Connection refused/],
      },
    ],
    [
      'OOMKilled is killed',
      observed(
        view('demo', withSpec({ reconnect: false })),
        world(view('demo', withSpec({ reconnect: false })), exited(137, '', { reason: 'OOMKilled' })),
      ),
      { exec: 'killed', ready: ['False', 'Killed'] },
    ],
    [
      'a clean exit is finished',
      observed(view('demo', withSpec({ reconnect: false })), world(view('demo', withSpec({ reconnect: false })), exited(0))),
      { exec: 'finished', ready: ['False', 'Finished'] },
    ],
    [
      'an image that cannot be pulled is said so',
      observed(view('demo'), world(view('demo'), waitingFor('ImagePullBackOff', 'Back-off pulling image "x"'))),
      { exec: 'starting', ready: ['False', 'ImagePullBackOff', /Back-off pulling image/] },
    ],
    ['stopped', observed(view('demo', withSpec({ order: 'stop' }))), { exec: 'finished', order: 'stop', ready: ['False', 'Stopped'] }],
    ['held by autostart', observed(view('demo', withSpec({ autostart: false }))), { order: 'stop', ready: ['False', 'AutostartDisabled'] }],
    [
      'an address the access rules block',
      observed(view('demo', withSpec({ input: [{ id: 'in', address: 'file:/etc/passwd', options: [] }] }))),
      { ready: ['False', 'InvalidSpec', /spec\.input\[0\]\.address/] },
    ],
    [
      'a route conflict',
      observed(view('demo', withWebrtc()), { ...world(view('demo', withWebrtc())), routeHolder: { namespace: 'older', name: 'demo' } }),
      { exec: 'running', whepUrl: undefined, ready: ['False', 'RouteConflict', /namespace older/] },
    ],
  ];
  const blocking = config({ ffmpeg: { access: { input: { block: ['^file:'] } } } });
  for (const [name, o, expected] of cases) {
    test(name, () => {
      const plan = decide(o, { ...ctx, config: name.includes('access') ? blocking : cfg });
      const s = plan.status;
      assert.ok(s, 'status written');
      const {
        ready: [status, reason, message],
        ...fields
      } = expected;
      assert.equal(ready(s)?.status, status);
      assert.equal(ready(s)?.reason, reason);
      if (message) assert.match(ready(s)?.message ?? '', message);
      for (const [k, v] of Object.entries(fields)) assert.deepEqual(s[k as keyof ProcessStatus], v, k);
      assert.equal(s.observedGeneration, o.process.generation);
    });
  }

  test('an unchanged world writes no status and records no Event', () => {
    const o = observed(view('demo', withWebrtc()), world(view('demo', withWebrtc())));
    const first = decide(o, ctx);
    const again = decide({ ...o, status: first.status ?? {} }, { ...ctx, now: NOW + 60_000 });
    assert.equal(again.status, undefined);
    assert.deepEqual(again.events, []);
  });

  test('the route conflict condition', () => {
    const o = observed(view('demo', withWebrtc()), {
      ...world(view('demo', withWebrtc())),
      routeHolder: { namespace: 'older', name: 'demo' },
    });
    const s = decide(o, ctx).status;
    const route = s?.conditions?.find((c) => c.type === 'RouteConflict');
    assert.equal(route?.status, 'True');
    assert.equal(route?.reason, 'PathInUse');
    const mine = decide(observed(view('demo', withWebrtc()), world(view('demo', withWebrtc()))), ctx).status;
    assert.equal(mine?.conditions?.find((c) => c.type === 'RouteConflict')?.reason, 'PathAssigned');
  });

  test('restarts count reconnects: the next pod carries one more', () => {
    const p = view('demo');
    const afterExit: ProcessStatus = { exec: 'failed', order: 'start', restarts: 2 };
    const plan = decide(observed(p, { status: afterExit }), ctx);
    const pod = plan.applies.find((a) => a.kind === 'pods')?.object as Pod;
    assert.equal(pod.metadata?.annotations?.['corecast.dev/restarts'], '3');
    assert.equal(plan.status?.restarts, 3);
    // A start after a stop is not a restart.
    const afterStop = decide(observed(p, { status: { exec: 'finished', order: 'stop', restarts: 2 } }), ctx);
    assert.equal(afterStop.status?.restarts, 2);
  });

  test('Events: what was created, and what changed', () => {
    const created = decide(observed(view('demo', withWebrtc())), ctx);
    assert.deepEqual(
      [...actionEvents(created.applies, created.deletes), ...created.events].map((e) => `${e.type} ${e.reason}: ${e.note}`),
      [
        'Normal Created: Created NetworkPolicy demo-ffmpeg, Pod demo-ffmpeg, Pod demo-egress, Service demo-egress, NetworkPolicy demo-egress, Ingress demo',
      ],
    );
    const p = view('demo', withSpec({ reconnect: false }));
    const failed = decide(observed(p, { ...world(p, exited(1, 'No such file')), status: { exec: 'running', order: 'start' } }), ctx);
    assert.deepEqual(
      failed.events.map((e) => `${e.type} ${e.reason}`),
      ['Warning Failed'],
    );
    assert.match(failed.events[0]?.note ?? '', /No such file/);
  });
});

describe('decide: the route through the Gateway API', () => {
  const gateway = { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateways' }] };
  const gcfg = config({ gateway });
  const gctx = { ...ctx, config: gcfg };
  const p = view('demo', withWebrtc());
  /** The world of an operator in gateway mode: an HTTPRoute where the Ingress was. */
  function gatewayWorld(proc: ProcessView, c = gcfg): Partial<Observed> {
    const { ingress: _, ...rest } = world(proc);
    return { ...rest, httpRoute: live(buildHttpRoute(proc, c) as Pod) as never };
  }
  /** The HTTPRoute as the API server returns it: the CRD's defaults filled in, a status from the gateway controller. */
  function withServerDefaults(o: Partial<Observed>): Partial<Observed> {
    const route = structuredClone(o.httpRoute) as HTTPRoute;
    for (const rule of route.spec?.rules ?? []) for (const b of rule.backendRefs ?? []) b.weight = 1;
    route.status = {
      parents: [
        {
          parentRef: { name: 'public', namespace: 'gateways' },
          controllerName: 'traefik.io/gateway-controller',
          conditions: [{ type: 'Accepted', status: 'True' }],
        },
      ],
    };
    return { ...o, httpRoute: route as never };
  }
  const both = { ...world(p), httpRoute: gatewayWorld(p).httpRoute };

  const cases: [string, Observed, ReturnType<typeof config>, { applies: string[]; deletes: string[] }][] = [
    [
      'a new WebRTC Process gets an HTTPRoute instead of an Ingress',
      observed(p),
      gcfg,
      {
        applies: [...WEBRTC_CREATES_BEFORE_ROUTE, 'create httproutes/demo'],
        deletes: [],
      },
    ],
    ['an unchanged world needs nothing', observed(p, gatewayWorld(p)), gcfg, { applies: [], deletes: [] }],
    [
      "the CRD's defaults and the route's status are not drift",
      observed(p, withServerDefaults(gatewayWorld(p))),
      gcfg,
      { applies: [], deletes: [] },
    ],
    [
      'two listeners of one Gateway (repeated parentRef names) are not drift',
      (() => {
        const c = config({
          gateway: {
            enabled: true,
            parentRefs: [
              { name: 'public', namespace: 'gateways', sectionName: 'http' },
              { name: 'public', namespace: 'gateways', sectionName: 'https' },
            ],
          },
        });
        return observed(p, gatewayWorld(p, c));
      })(),
      config({
        gateway: {
          enabled: true,
          parentRefs: [
            { name: 'public', namespace: 'gateways', sectionName: 'http' },
            { name: 'public', namespace: 'gateways', sectionName: 'https' },
          ],
        },
      }),
      { applies: [], deletes: [] },
    ],
    [
      'switching ingress → gateway: the HTTPRoute comes, the Ingress goes',
      observed(p, world(p)),
      gcfg,
      {
        applies: ['create httproutes/demo'],
        deletes: ['ingresses/demo: the operator configuration routes through the Gateway API (gateway.enabled) instead'],
      },
    ],
    [
      'gateway.enabled wins over ingress.enabled: off or on, no Ingress',
      observed(p, world(p)),
      config({ ingress: { enabled: false, host: 'stream.test' }, gateway }),
      {
        applies: ['create httproutes/demo'],
        deletes: ['ingresses/demo: the operator configuration routes through the Gateway API (gateway.enabled) instead'],
      },
    ],
    [
      'switching gateway → ingress: the Ingress comes, the HTTPRoute goes',
      observed(p, gatewayWorld(p)),
      cfg,
      { applies: ['create ingresses/demo'], deletes: ['httproutes/demo: gateway.enabled is false in the operator configuration'] },
    ],
    [
      'both off: every route goes',
      observed(p, both),
      config({ ingress: { enabled: false } }),
      {
        applies: [],
        deletes: [
          'ingresses/demo: ingress.enabled is false in the operator configuration',
          'httproutes/demo: gateway.enabled is false in the operator configuration',
        ],
      },
    ],
    [
      'a route held elsewhere: no HTTPRoute, and an existing one goes',
      observed(p, { ...gatewayWorld(p), routeHolder: { namespace: 'older', name: 'demo' } }),
      gcfg,
      { applies: [], deletes: ['httproutes/demo: the path is served for Process demo in namespace older'] },
    ],
    [
      'a route held elsewhere, just after the switch: neither kind stays',
      observed(p, { ...both, routeHolder: { namespace: 'older', name: 'demo' } }),
      gcfg,
      {
        applies: [],
        deletes: [
          'ingresses/demo: the path is served for Process demo in namespace older',
          'httproutes/demo: the path is served for Process demo in namespace older',
        ],
      },
    ],
    [
      'WebRTC off deletes the HTTPRoute with the egress children',
      observed(view('demo'), gatewayWorld(p)),
      gcfg,
      {
        applies: [],
        deletes: [...WEBRTC_OFF_DELETES_BEFORE_ROUTE, 'httproutes/demo: spec.webrtc.enabled is false'],
      },
    ],
    [
      'an HTTPRoute edited by hand is put back',
      (() => {
        const w = gatewayWorld(p);
        const route = structuredClone(w.httpRoute) as HTTPRoute;
        route.spec!.rules![0]!.backendRefs![0]!.port = 9999;
        return observed(p, { ...w, httpRoute: route as never });
      })(),
      gcfg,
      { applies: ['update httproutes/demo'], deletes: [] },
    ],
    [
      'new parentRefs in the configuration update the HTTPRoute',
      observed(p, gatewayWorld(p)),
      config({ gateway: { enabled: true, parentRefs: [{ name: 'internal', namespace: 'gateways' }] } }),
      { applies: ['update httproutes/demo'], deletes: [] },
    ],
    [
      'a reload annotation re-applies the HTTPRoute too',
      observed(view('demo', withWebrtc(), withMeta({ annotations: { [ANNOTATIONS.reload]: 'r1' } })), gatewayWorld(p)),
      gcfg,
      {
        applies: [
          'update networkpolicies/demo-ffmpeg',
          'update services/demo-egress',
          'update networkpolicies/demo-egress',
          'update httproutes/demo',
        ],
        deletes: [
          'pods/demo-ffmpeg: reload requested (annotation corecast.dev/reload)',
          'pods/demo-egress: reload requested (annotation corecast.dev/reload)',
        ],
      },
    ],
  ];
  for (const [name, o, c, expected] of cases) {
    test(name, () => {
      const got = summary(decide(o, { ...ctx, config: c }));
      assert.deepEqual(
        { applies: [...got.applies].sort(), deletes: [...got.deletes].sort() },
        { applies: [...expected.applies].sort(), deletes: [...expected.deletes].sort() },
      );
    });
  }

  const statuses: [string, Observed, { whepUrl?: string; ready: [string, string, RegExp?]; route?: [string, string, RegExp?] }][] = [
    [
      'routed: URLs as with an Ingress, and the path is assigned',
      observed(p, gatewayWorld(p)),
      {
        whepUrl: 'https://stream.test/api/v3/process/demo/whep',
        ready: ['True', 'Running'],
        route: ['False', 'PathAssigned', /routes to this Process/],
      },
    ],
    [
      'a route conflict: no URLs, the conflict names the other namespace and the HTTPRoute',
      observed(p, { ...gatewayWorld(p), routeHolder: { namespace: 'older', name: 'demo' } }),
      {
        ready: [
          'False',
          'RouteConflict',
          /the gateway path \/api\/v3\/process\/demo\/whep is served .* namespace older\. .*through the gateway/,
        ],
        route: ['True', 'PathInUse', /namespace older, which is older; no HTTPRoute was made for this one\./],
      },
    ],
  ];
  for (const [name, o, expected] of statuses) {
    test(`status: ${name}`, () => {
      const s = decide(o, gctx).status;
      assert.equal(s?.whepUrl, expected.whepUrl);
      const [status, reason, message] = expected.ready;
      assert.deepEqual([ready(s)?.status, ready(s)?.reason], [status, reason]);
      if (message) assert.match(ready(s)?.message ?? '', message);
      const route = s?.conditions?.find((c) => c.type === 'RouteConflict');
      assert.deepEqual([route?.status, route?.reason], expected.route?.slice(0, 2));
      if (expected.route?.[2]) assert.match(route?.message ?? '', expected.route[2]);
    });
  }

  test('Events: the HTTPRoute is among the children created', () => {
    const plan = decide(observed(p), gctx);
    assert.deepEqual(
      [...actionEvents(plan.applies, plan.deletes), ...plan.events].map((e) => `${e.type} ${e.reason}: ${e.note}`),
      [
        'Normal Created: Created NetworkPolicy demo-ffmpeg, Pod demo-ffmpeg, Pod demo-egress, Service demo-egress, NetworkPolicy demo-egress, HTTPRoute demo',
      ],
    );
  });
});

describe('decide: the FFmpeg command is built once', () => {
  test('the pod runs the argv it is given, not one of its own', () => {
    const pod = buildFfmpegPod(view('demo'), cfg, 0, ['-i', 'given', '-f', 'null', '-']);
    assert.deepEqual(pod.spec?.containers[0]?.args, ['-i', 'given', '-f', 'null', '-']);
  });

  test('the created pod and the status carry the same command', () => {
    const plan = decide(observed(view('demo', withWebrtc())), ctx);
    const pod = plan.applies.find((a) => a.kind === 'pods' && a.object.metadata?.name === 'demo-ffmpeg')?.object as Pod | undefined;
    assert.ok(pod?.spec?.containers[0]?.args?.length);
    assert.deepEqual(plan.status?.command, pod.spec?.containers[0]?.args);
  });
});
