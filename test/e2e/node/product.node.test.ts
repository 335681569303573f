/**
 * Corecast as a user meets it, on a cluster with a real node: the chart installed with Helm, the
 * operator's pod Ready, examples/test-pattern.yaml applied, the FFmpeg and egress pods running,
 * and headless Chromium playing the player page through the ingress controller — media straight
 * from the egress pod's own address. Then the faults a cluster brings, one after another on the
 * same install: pods deleted, the operator's leader killed, a `helm upgrade`, a Process whose
 * input never connects, and a Process deleted.
 *
 * Steps build on each other (one install, one viewer), so they run in order; each waits for what
 * the user or the viewer would see, never for a fixed time.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import { outsidePackets } from '@corecast/testkit/node-cluster';
import { NODE } from '@corecast/testkit/node-config';
import { type Cluster, clusterFromEnv, eventually, openPlayer, type Player, repoRoot } from './harness.ts';

const NS = 'default';
const RELEASE = ['corecast', '-n', 'corecast-system'];
const PLAYER_PATH = '/api/v3/process/demo/whep/player';

/**
 * The Gateway the gateway step creates: Traefik's class, a listener on the port of its `web`
 * entry point (80 on the test node; kind.sh's Traefik listens on 8000 inside its pod).
 */
const GATEWAY = {
  className: process.env.CORECAST_GATEWAY_CLASS ?? 'traefik',
  port: Number(process.env.CORECAST_GATEWAY_PORT ?? 80),
};

interface Cond {
  type: string;
  status: string;
}
interface Conditioned {
  status?: { conditions?: Cond[] };
}
const isTrue = (conditions: Cond[] | undefined, type: string): boolean =>
  conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

interface PodSummary {
  name: string;
  uid: string;
  phase: string;
  ip: string;
  ready: boolean;
}

describe('Corecast on a real node: Helm, pods, ingress, browser', { timeout: 1_800_000 }, () => {
  let cluster: Cluster;
  let player: Player | undefined;

  const pods = async (selector: string, ns = NS): Promise<PodSummary[]> => {
    const list = JSON.parse(await cluster.kubectl('get', 'pods', '-n', ns, '-l', selector, '-o', 'json')) as {
      items: {
        metadata: { name: string; uid: string; deletionTimestamp?: string };
        status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[] };
      }[];
    };
    return list.items
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => ({
        name: p.metadata.name,
        uid: p.metadata.uid,
        phase: p.status.phase,
        ip: p.status.podIP ?? '',
        ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      }));
  };
  const pod = async (name: string): Promise<PodSummary | undefined> =>
    (await pods(`corecast.dev/process=demo`)).find((p) => p.name === name);
  const runningPod = (name: string, notUid?: string) =>
    eventually(`pod ${name} Running${notUid ? ' (a new one)' : ''}`, async () => {
      const p = await pod(name);
      return p && p.phase === 'Running' && p.ready && p.uid !== notUid ? p : undefined;
    });
  /** The spec of the Lease an operator pod that exists now holds, if one does. */
  const operatorLease = async () => {
    const leases = JSON.parse(await cluster.kubectl('get', 'leases', '-n', 'corecast-system', '-o', 'json')) as {
      items: { spec: { holderIdentity?: string; renewTime?: string } }[];
    };
    const ops = await pods('app.kubernetes.io/component=operator', 'corecast-system');
    return leases.items.map((l) => l.spec).find((s) => s.holderIdentity && ops.some((p) => p.name === s.holderIdentity));
  };
  /** helm upgrade of the release with the test's values and these `--set`s, waiting for it. */
  const upgrade = (...sets: string[]) =>
    cluster.helm(
      'upgrade',
      ...RELEASE,
      'charts/corecast',
      ...cluster.valuesArgs,
      ...sets.flatMap((v) => ['--set', v]),
      '--wait',
      '--timeout',
      '5m',
    );
  const condition = async (name: string, type = 'Ready') => {
    const proc = JSON.parse(await cluster.kubectl('get', 'proc', name, '-n', NS, '-o', 'json')) as {
      status?: { conditions?: { type: string; status: string; reason: string; message: string }[]; lastError?: string };
    };
    return { cond: proc.status?.conditions?.find((c) => c.type === type), status: proc.status };
  };

  /**
   * Each step needs the ones before it: after a failure the rest fail at once, naming the step
   * that broke, instead of each waiting out its own timeout.
   */
  let broken: string | undefined;
  const step = (name: string, fn: (t: TestContext) => Promise<void>) =>
    it(name, async (t) => {
      if (broken) throw new Error(`not run: the earlier step "${broken}" failed`);
      try {
        await fn(t);
      } catch (err) {
        broken = name;
        throw err;
      }
    });

  before(() => {
    cluster = clusterFromEnv();
  });
  after(async () => {
    await player?.close();
  });

  step('helm install: the operator pod becomes Ready', async () => {
    await cluster.helm('install', ...RELEASE, '--create-namespace', 'charts/corecast', ...cluster.valuesArgs, '--wait', '--timeout', '5m');
    await cluster.kubectl('wait', '-n', 'corecast-system', '--for=condition=Available', 'deployment', '--all', '--timeout=300s');
    const out = await cluster.kubectl('get', 'deployment', '-n', 'corecast-system', '-o', 'jsonpath={.items[*].status.readyReplicas}');
    assert.equal(out.trim(), '1');
  });

  step('kubectl apply examples/test-pattern.yaml: FFmpeg and egress pods run, the Process is Ready', async () => {
    await cluster.kubectl('apply', '-n', NS, '-f', `${repoRoot}examples/test-pattern.yaml`);
    await cluster.kubectl('wait', '-n', NS, '--for=condition=Ready', 'proc/demo', '--timeout=300s');
    assert.equal((await runningPod('demo-ffmpeg')).phase, 'Running');
    assert.equal((await runningPod('demo-egress')).phase, 'Running');
  });

  step('Chromium plays the player page through the ingress controller, media from the egress pod', async () => {
    player = await openPlayer(`${cluster.ingressUrl}${PLAYER_PATH}`);
    const s = await player.framesGrow(30, 0);
    assert.equal(s.state, 'playing');
    assert.deepEqual([s.width, s.height], [1280, 720]);
    assert.ok(s.audioPacketsReceived > 0, `no audio: ${JSON.stringify(s)}`);
    const egress = await runningPod('demo-egress');
    const remote = await player.mediaRemoteAddress();
    assert.equal(remote, mediaAddress(egress), 'the selected candidate pair is not the egress pod');
  });

  step('FFmpeg pod deleted: the viewer keeps its session and plays again once the new pod runs', async () => {
    assert.ok(player);
    const before = await player.status();
    const old = await runningPod('demo-ffmpeg');
    await cluster.kubectl('delete', 'pod', '-n', NS, 'demo-ffmpeg', '--wait=true');
    const fresh = await runningPod('demo-ffmpeg', old.uid);
    assert.notEqual(fresh.uid, old.uid);
    const after = await player.framesGrow(60, (await player.status()).framesDecoded);
    assert.equal(after.sessionUrl, before.sessionUrl, 'the viewer was renegotiated');
    assert.equal(after.posts, before.posts);
    assert.equal(after.state, 'playing');
  });

  step('egress pod deleted: the player reconnects by itself and plays again', async () => {
    assert.ok(player);
    const before = await player.status();
    const old = await runningPod('demo-egress');
    await cluster.kubectl('delete', 'pod', '-n', NS, 'demo-egress', '--wait=false');
    const fresh = await runningPod('demo-egress', old.uid);
    const after = await eventually('player plays from the new egress pod', async () => {
      const s = await player!.status();
      return s.state === 'playing' && s.sessionUrl !== before.sessionUrl ? s : undefined;
    });
    assert.ok(after.reconnects > before.reconnects || after.posts > before.posts);
    await player.framesGrow(30);
    assert.equal(await player.mediaRemoteAddress(), mediaAddress(fresh));
  });

  step(
    'spec.webrtc.replicas 2: a new viewer through the ingress lands on the second egress pod (relayed media); back to 1, it is drained and plays on from replica 0',
    async () => {
      assert.ok(player);
      const first = await player.status();
      const ffmpeg = await runningPod('demo-ffmpeg');
      const egress0 = await runningPod('demo-egress');
      const replicas = (n: number) =>
        cluster.kubectl('patch', 'proc', 'demo', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { webrtc: { replicas: n } } }));
      await replicas(2);
      const sibling = await runningPod('demo-egress-1');
      const second = await openPlayer(`${cluster.ingressUrl}${PLAYER_PATH}`);
      try {
        const s = await second.framesGrow(30, 0);
        // Replica 0 holds the first viewer, replica 1 none: the POST went through replica 0 to it.
        assert.match(s.sessionUrl, /\/whep\/r1-/, 'the new viewer is on replica 1');
        assert.equal(await second.mediaRemoteAddress(), mediaAddress(sibling), 'media from the second egress pod');
        await replicas(1);
        const drainStarted = performance.now();
        const back = await eventually('the second viewer playing from replica 0', async () => {
          const now = await second.status();
          return now.state === 'playing' && now.sessionUrl !== s.sessionUrl ? now : undefined;
        });
        assert.doesNotMatch(back.sessionUrl, /\/whep\/r1-/);
        await second.framesGrow(30);
        assert.equal(await second.mediaRemoteAddress(), mediaAddress(egress0), 'media from replica 0 again');
        await eventually('the drained pod deleted', async () => ((await pod('demo-egress-1')) ? undefined : true));
        console.log(
          JSON.stringify({ name: 'node_drain_to_playing_again_ms', value: Math.round(performance.now() - drainStarted), unit: 'ms' }),
        );
      } finally {
        await second.close();
      }
      const after = await player.framesGrow(30);
      assert.equal(after.sessionUrl, first.sessionUrl, 'the viewer on replica 0 kept its session throughout');
      assert.equal((await pod('demo-egress'))?.uid, egress0.uid, 'replica 0 was never replaced');
      assert.equal((await pod('demo-ffmpeg'))?.uid, ffmpeg.uid, "FFmpeg's pod was never replaced");
    },
  );

  step('helm upgrade to two operator replicas: the Process and the viewer survive', async () => {
    assert.ok(player);
    const before = await player.status();
    const egress = await runningPod('demo-egress');
    const ffmpeg = await runningPod('demo-ffmpeg');
    await upgrade('operator.replicas=2');
    await eventually('two operator pods Ready', async () => {
      const ops = await pods('app.kubernetes.io/component=operator', 'corecast-system');
      return ops.length === 2 && ops.every((p) => p.ready);
    });
    await player.framesGrow(30);
    const s = await player.status();
    assert.equal(s.sessionUrl, before.sessionUrl, 'the viewer was disconnected by the upgrade');
    assert.equal((await pod('demo-egress'))?.uid, egress.uid, 'the egress pod was replaced');
    assert.equal((await pod('demo-ffmpeg'))?.uid, ffmpeg.uid, 'the FFmpeg pod was replaced');
  });

  step('the leader pod killed: the other replica takes the Lease and no child is duplicated', async () => {
    const ops = await pods('app.kubernetes.io/component=operator', 'corecast-system');
    const holder = async () => (await operatorLease())?.holderIdentity;
    const leader = await eventually('a leader', holder);
    assert.ok(
      ops.some((p) => p.name !== leader),
      `another operator pod beside the leader (${ops.map((p) => p.name).join(', ')})`,
    );
    const children = await pods('corecast.dev/process=demo');
    const killedAt = Date.now();
    await cluster.kubectl('delete', 'pod', '-n', 'corecast-system', leader, '--grace-period=0', '--force');
    // The Lease lasts 15 s; the survivor takes it once it has expired. (Which pod survives is not
    // fixed by the list above: right after the upgrade it may still hold a pod of the old
    // ReplicaSet on its way out.)
    await eventually(
      'another replica holds the Lease',
      async () => {
        const now = await holder();
        return now !== undefined && now !== leader;
      },
      60_000,
    );
    const tookOver = (Date.now() - killedAt) / 1000;
    // The new leader reconciles everything again; wait for it to have done so, then count.
    await cluster.kubectl('annotate', 'proc', 'demo', '-n', NS, `corecast.dev/test-touch=${Date.now()}`, '--overwrite');
    await cluster.kubectl('wait', '-n', NS, '--for=condition=Ready', 'proc/demo', '--timeout=120s');
    const after = await pods('corecast.dev/process=demo');
    assert.deepEqual(after.map((p) => `${p.name}/${p.uid}`).sort(), children.map((p) => `${p.name}/${p.uid}`).sort());
    process.stdout.write(`# leader takeover after the kill: ${tookOver.toFixed(1)} s\n`);
  });

  step("the leader's process SIGKILLed (no release): the Lease is renewed again and a restart request is carried out once", async (t) => {
    const leader = (await eventually('a leader', operatorLease)).holderIdentity!;
    const pid = processOfPod('operator/src/main.ts', leader);
    if (pid === undefined) {
      t.skip(`the process of pod ${leader} is not on this machine (a kind node): only the test node can SIGKILL it`);
      return;
    }
    const ffmpeg = await runningPod('demo-ffmpeg');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    // Whoever holds it next (the standby, or the restarted container under the same pod name)
    // must renew it after the kill, and act: a restart request is carried out exactly once.
    await eventually(
      'the Lease renewed after the kill',
      async () => {
        const l = await operatorLease();
        return l?.renewTime && Date.parse(l.renewTime) > killedAt + 1000;
      },
      90_000,
    );
    const tookOver = (Date.now() - killedAt) / 1000;
    await cluster.kubectl('annotate', 'proc', 'demo', '-n', NS, `corecast.dev/restart=${killedAt}`, '--overwrite');
    const fresh = await runningPod('demo-ffmpeg', ffmpeg.uid);
    const all = await pods('corecast.dev/process=demo');
    assert.deepEqual(all.map((p) => p.name).sort(), ['demo-egress', 'demo-ffmpeg']);
    assert.notEqual(fresh.uid, ffmpeg.uid);
    process.stdout.write(`# Lease renewed ${tookOver.toFixed(1)} s after SIGKILL of the leader\n`);
  });

  step('gateway.enabled: an HTTPRoute on a Traefik Gateway replaces the Ingress, and a new viewer plays through it', async () => {
    await applyJson(cluster, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'corecast', namespace: NS },
      spec: {
        gatewayClassName: GATEWAY.className,
        listeners: [{ name: 'web', protocol: 'HTTP', port: GATEWAY.port, allowedRoutes: { namespaces: { from: 'All' } } }],
      },
    });
    await eventually('Gateway corecast Programmed', async () => {
      const g = JSON.parse(await cluster.kubectl('get', 'gateway', 'corecast', '-n', NS, '-o', 'json')) as Conditioned;
      return isTrue(g.status?.conditions, 'Programmed');
    });
    await upgrade(
      'operator.replicas=2',
      'gateway.enabled=true',
      'gateway.parentRefs[0].name=corecast',
      `gateway.parentRefs[0].namespace=${NS}`,
    );
    await eventually(
      'HTTPRoute demo accepted by the Gateway, Ingress demo gone',
      async () => {
        const routes = JSON.parse(await cluster.kubectl('get', 'httproutes', '-n', NS, '-o', 'json')) as {
          items: ({ metadata: { name: string } } & { status?: { parents?: { conditions?: Cond[] }[] } })[];
        };
        const route = routes.items.find((r) => r.metadata.name === 'demo');
        const accepted = route?.status?.parents?.some((p) => isTrue(p.conditions, 'Accepted')) ?? false;
        const ingresses = await cluster.kubectl('get', 'ingresses', '-n', NS, '-o', 'name');
        return accepted && ingresses.trim() === '';
      },
      180_000,
    );
    const viewer = await openPlayer(`${cluster.ingressUrl}${PLAYER_PATH}`);
    try {
      const s = await viewer.framesGrow(30, 0);
      assert.equal(s.state, 'playing');
      assert.deepEqual([s.width, s.height], [1280, 720]);
    } finally {
      await viewer.close();
    }
  });

  step('a Process whose input never connects: status and Events say why', async () => {
    // The node's own address, a port nothing listens on: FFmpeg's connection is refused.
    const address = new URL(cluster.ingressUrl).hostname;
    const manifest = {
      apiVersion: 'corecast.dev/v1alpha1',
      kind: 'Process',
      metadata: { name: 'unreachable' },
      spec: {
        input: [{ id: 'in', address: `rtmp://${address}:1935/live/none`, options: [] }],
        output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
        reconnectDelaySeconds: 30,
      },
    };
    await applyJson(cluster, manifest);
    const { cond, status } = await eventually('Ready=False with reason Failed', async () => {
      const c = await condition('unreachable');
      return c.cond?.reason === 'Failed' ? c : undefined;
    });
    assert.equal(cond?.status, 'False');
    assert.match(cond?.message ?? '', /Connection refused|Cannot open connection|Input\/output error/i, JSON.stringify(status));
    const events = await cluster.kubectl('get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=unreachable', '-o', 'json');
    const reasons = (JSON.parse(events) as { items: { reason: string; note?: string; message?: string }[] }).items.map((e) => e.reason);
    assert.ok(reasons.includes('Failed'), `events: ${reasons.join(', ')}`);
    await cluster.kubectl('delete', 'proc', 'unreachable', '-n', NS, '--wait=true');
  });

  step('kubectl delete proc demo: every child is gone', async () => {
    await player?.close();
    player = undefined;
    await cluster.kubectl('delete', 'proc', 'demo', '-n', NS, '--wait=true');
    await eventually('no child of demo left', async () => {
      const left = await cluster.kubectl(
        'get',
        'pods,services,ingresses,httproutes,networkpolicies',
        '-n',
        NS,
        '-l',
        'corecast.dev/process=demo',
        '-o',
        'name',
      );
      return left.trim() === '' ? true : undefined;
    });
  });

  step('helm uninstall leaves nothing of the release running', async () => {
    await cluster.helm('uninstall', ...RELEASE, '--wait', '--timeout', '3m');
    await eventually(
      'operator pods gone',
      async () => (await pods('app.kubernetes.io/component=operator', 'corecast-system')).length === 0,
    );
  });

  // Not a step: it holds whatever the steps above got to.
  it('through all of it, nothing on the node or in a Pod sent a packet towards an outside address', async (t) => {
    if (!existsSync(`/run/netns/${NODE.netns}`)) {
      t.skip('not on the test node (kind): its namespace and dead-end route are not here');
      return;
    }
    assert.equal(await outsidePackets(), 0);
  });
});

/**
 * The pid of a container's process on this machine (the test node runs containers as local
 * processes): its command line contains `command` and its HOSTNAME is the pod's name.
 */
function processOfPod(command: string, podName: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(command)) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`HOSTNAME=${podName}`)) return Number(entry);
    } catch {
      // The process went away while we looked.
    }
  }
  return undefined;
}

/**
 * Where the browser's media comes from: the egress pod's own address (media.mode pod), unless
 * the cluster maps it elsewhere (kind: its port mappings on 127.0.0.1, CORECAST_MEDIA_ADDRESS).
 */
function mediaAddress(egress: PodSummary): string {
  return process.env.CORECAST_MEDIA_ADDRESS ?? egress.ip;
}

/** kubectl apply of one object given as JSON on stdin. */
async function applyJson(cluster: Cluster, obj: unknown): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { kubeTools } = await import('@corecast/testkit/kube-tools');
  const { kubectl } = await kubeTools();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(kubectl, [`--kubeconfig=${cluster.kubeconfigPath}`, 'apply', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply: ${err}`))));
    child.stdin.end(JSON.stringify(obj));
  });
}
