/**
 * The Ready condition's chain of checks: the first check that speaks decides. Each case sets up
 * a world where several checks could speak and names the one that must win.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildEgressPod } from '../src/children/egress-pod.ts';
import { buildFfmpegPod } from '../src/children/ffmpeg-pod.ts';
import { evaluateReady, READY_CHECKS } from '../src/reconcile/ready.ts';
import type { StatusInputs } from '../src/reconcile/status.ts';
import type { FfmpegDecision, Observed } from '../src/reconcile/types.ts';
import { config, live, observed, running, view, waitingFor, withSpec, withWebrtc } from './helpers/fixtures.ts';

const cfg = config();
const plain = view('demo');
const webrtc = view('demo', withWebrtc());
const inputs = (over: Partial<StatusInputs> = {}): StatusInputs => ({
  now: 0,
  held: false,
  order: 'start',
  route: 'Ingress',
  baseUrl: 'https://stream.test',
  ...over,
});
const ff = (exec: FfmpegDecision['exec'], over: Partial<FfmpegDecision> = {}): FfmpegDecision => ({ exec, restarts: 0, ...over });
const failed = ff('failed', { exit: { exec: 'failed', exitCode: 1, reason: 'Error', finishedAt: undefined, lastError: 'boom' } });
const lbWait = { status: 'False', reason: 'WaitingForLoadBalancer', message: 'waiting for an address' } as const;
const other = { routeHolder: { namespace: 'elsewhere', name: 'demo' } };
const readyEgress = { egressPod: live(buildEgressPod(webrtc, cfg), running()) };
const pullingPod = live(buildFfmpegPod(plain, cfg, 0), waitingFor('ImagePullBackOff', 'no such image'));

describe('Ready: the first check that speaks decides', () => {
  const cases: [string, Observed, StatusInputs, [check: string, reason: string, status?: string]][] = [
    [
      'an invalid spec hides a taken name and autostart',
      observed(plain),
      inputs({ invalid: 'bad address', nameTaken: 'Service x exists', held: true }),
      ['invalidSpec', 'InvalidSpec'],
    ],
    ['a taken name hides autostart', observed(plain), inputs({ nameTaken: 'Service x exists', held: true }), ['nameTaken', 'NameTaken']],
    [
      'autostart hides the stop it implies',
      observed(plain),
      inputs({ held: true, order: 'stop', ffmpeg: ff('finished') }),
      ['autostartHeld', 'AutostartDisabled'],
    ],
    ['nothing decided yet', observed(plain), inputs(), ['notReconciled', 'Unknown']],
    ['a stop order hides how the last run ended', observed(plain), inputs({ order: 'stop', ffmpeg: failed }), ['stopOrdered', 'Stopped']],
    ['a stop order while the pod goes', observed(plain), inputs({ order: 'stop', ffmpeg: ff('finishing') }), ['stopOrdered', 'Stopping']],
    ['a pod being replaced', observed(webrtc), inputs({ ffmpeg: ff('finishing'), mediaWait: lbWait }), ['replacing', 'Restarting']],
    [
      'a pod that cannot start hides the load balancer wait',
      observed(webrtc),
      inputs({ ffmpeg: ff('starting', { pod: pullingPod }), mediaWait: lbWait }),
      ['podCannotStart', 'ImagePullBackOff'],
    ],
    ['an ended run hides the load balancer wait', observed(webrtc), inputs({ ffmpeg: failed, mediaWait: lbWait }), ['exited', 'Failed']],
    [
      'the load balancer wait hides Starting',
      observed(webrtc),
      inputs({ ffmpeg: ff('starting'), mediaWait: lbWait }),
      ['waitingForLoadBalancer', 'WaitingForLoadBalancer'],
    ],
    ['starting', observed(plain), inputs({ ffmpeg: ff('starting') }), ['starting', 'Starting']],
    [
      'without WebRTC a running FFmpeg is all there is, whoever holds the path',
      observed(plain, other),
      inputs({ ffmpeg: ff('running') }),
      ['runningWithoutWebrtc', 'Running', 'True'],
    ],
    [
      'a route conflict hides the load balancer wait',
      observed(webrtc, other),
      inputs({ ffmpeg: ff('running'), mediaWait: lbWait }),
      ['routeConflict', 'RouteConflict'],
    ],
    [
      'no route made by the operator: no conflict to report',
      observed(webrtc, other),
      inputs({ ffmpeg: ff('running'), route: undefined }),
      ['egressNotReady', 'EgressNotReady'],
    ],
    [
      'the load balancer wait hides an egress pod that is not ready',
      observed(webrtc),
      inputs({ ffmpeg: ff('running'), mediaWait: lbWait }),
      ['waitingForLoadBalancer', 'WaitingForLoadBalancer'],
    ],
    ['the egress pod is not ready', observed(webrtc), inputs({ ffmpeg: ff('running') }), ['egressNotReady', 'EgressNotReady']],
    ['everything is up', observed(webrtc, readyEgress), inputs({ ffmpeg: ff('running') }), ['served', 'Running', 'True']],
  ];
  for (const [name, o, s, [check, reason, status = 'False']] of cases) {
    test(name, () => {
      const got = evaluateReady(o, s);
      assert.deepEqual([got.check, got.condition.reason, got.condition.status], [check, reason, status]);
    });
  }
});

describe('Ready: the chain itself', () => {
  test('every check has its own name, and the table above reaches each of them', () => {
    const names = READY_CHECKS.map(([name]) => name);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(names, [
      'invalidSpec',
      'nameTaken',
      'autostartHeld',
      'notReconciled',
      'stopOrdered',
      'replacing',
      'podCannotStart',
      'exited',
      'runningWithoutWebrtc',
      'routeConflict',
      'waitingForLoadBalancer',
      'starting',
      'egressNotReady',
      'served',
    ]);
  });

  test('in a world where all is well only the last check speaks', () => {
    const o = observed(webrtc, readyEgress);
    const s = inputs({ ffmpeg: ff('running') });
    const spoke = READY_CHECKS.filter(([, check]) => check(o, s) !== undefined).map(([name]) => name);
    assert.deepEqual(spoke, ['served']);
  });

  test('the messages are the ones users have seen so far', () => {
    const o = observed(view('demo', withSpec({ reconnect: false })));
    assert.equal(
      evaluateReady(o, inputs({ ffmpeg: failed })).condition.message,
      'FFmpeg failed with exit code 1: boom spec.reconnect is false: set the corecast.dev/restart annotation to a new value to run it again.',
    );
    assert.equal(
      evaluateReady(observed(webrtc, readyEgress), inputs({ ffmpeg: ff('running') })).condition.message,
      'FFmpeg is running and the stream is served over WebRTC. Play it at https://stream.test/api/v3/process/demo/whep/player.',
    );
  });
});
