/**
 * Integration-test helpers on the run's real control plane (test/kit): clients, an operator
 * started in this process, waiting for conditions, and playing the kubelet.
 *
 * Nothing here times anything: `eventually` polls until a condition holds or a generous
 * deadline passes (the machine is small and shared), and the failure says what was awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { GROUP, PLURAL, VERSION } from '@corecast/api';
import { type ControlPlane, sharedControlPlane } from '@corecast/testkit/control-plane';
import { installCrds } from '@corecast/testkit/control-plane-crds';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import type { ProcessManifest } from '../../../api/test/fixtures/processes.ts';
import { parseConfig } from '../../src/config.ts';
import { ffmpegWrapper, PROGRESS_SENDER } from '../../src/children/ffmpeg-pod.ts';
import type { RequestHooks } from '../../src/kube/client.ts';
import type { Pod } from '../../src/kube/types.ts';
import { Operator, type OperatorOptions } from '../../src/operator.ts';

/** Clients of the test itself (cluster-admin). */
export interface Cluster {
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  net: NetworkingV1Api;
  custom: CustomObjectsApi;
  events: EventsV1Api;
  coordination: CoordinationV1Api;
}

let cluster: Promise<Cluster> | undefined;

/**
 * The shared control plane with the CRDs installed. The global setup installs them for a
 * whole run; a file run on its own (its own control plane) needs them too, and applying them
 * again is a no-op.
 */
export function getCluster(): Promise<Cluster> {
  cluster ??= (async () => {
    const cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    await installCrds(kc);
    return {
      cp,
      kc,
      core: kc.makeApiClient(CoreV1Api),
      net: kc.makeApiClient(NetworkingV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
      events: kc.makeApiClient(EventsV1Api),
      coordination: kc.makeApiClient(CoordinationV1Api),
    };
  })();
  return cluster;
}

/** Polls `check` until it returns a value other than undefined/false (or stops throwing). */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The test images (no image is ever pulled: the control plane has no nodes). */
export const TEST_IMAGES = { ffmpeg: 'registry.test/corecast/ffmpeg:1', egress: 'registry.test/corecast/egress:1' };

/** A config for a test operator watching `namespaces`, on free ports. */
export function testConfig(namespaces: string[], over: Record<string, unknown> = {}) {
  return parseConfig(
    {
      images: TEST_IMAGES,
      namespaces,
      workers: 2,
      ingress: { host: 'stream.test', className: 'test' },
      metrics: { port: 0 },
      health: { port: 0 },
      progress: { port: 0 },
      ...over,
    },
    { name: 'test-operator', namespace: namespaces[0] },
  );
}

/** Starts an operator in this process. */
export async function startOperator(
  c: Cluster,
  namespaces: string[],
  opts: { config?: Record<string, unknown>; hooks?: RequestHooks[]; name?: string } & Pick<OperatorOptions, 'onFatal' | 'log'> = {},
): Promise<Operator> {
  const name = opts.name ?? 'test-operator';
  const op = new Operator({
    config: testConfig(namespaces, opts.config),
    identity: { name, namespace: namespaces[0] },
    kubeConfig: c.kc,
    log: opts.log ?? pino({ level: process.env.CORECAST_TEST_LOG ?? 'warn', base: { instance: name } }),
    ...(opts.hooks ? { requestHooks: opts.hooks } : {}),
    ...(opts.onFatal ? { onFatal: opts.onFatal } : {}),
  });
  await op.start();
  return op;
}

const group = { group: GROUP, version: VERSION, plural: PLURAL };
/** Request options that send a patch as a JSON merge patch. */
export const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Creates a Process. */
export async function createProcess(c: Cluster, ns: string, manifest: ProcessManifest): Promise<void> {
  await c.custom.createNamespacedCustomObject({
    ...group,
    namespace: ns,
    body: { ...manifest, metadata: { ...manifest.metadata, namespace: ns } },
  });
}

/** A JSON merge patch on a Process (spec or metadata). */
export async function patchProcess(c: Cluster, ns: string, name: string, patch: object): Promise<void> {
  await c.custom.patchNamespacedCustomObject({ ...group, namespace: ns, name, body: patch }, merge);
}

/** Reads a Process. */
export async function getProcess(c: Cluster, ns: string, name: string): Promise<ProcessJson> {
  return (await c.custom.getNamespacedCustomObject({ ...group, namespace: ns, name })) as ProcessJson;
}

/** Deletes a Process. */
export async function deleteProcess(c: Cluster, ns: string, name: string): Promise<void> {
  await c.custom.deleteNamespacedCustomObject({ ...group, namespace: ns, name });
}

/** A Process as read back. */
export interface ProcessJson {
  metadata: { name: string; namespace: string; uid: string; generation: number; resourceVersion: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    exec?: string;
    order?: string;
    restarts?: number;
    startedAt?: string;
    command?: string[];
    lastError?: string;
    whepUrl?: string;
    playerUrl?: string;
  };
}

/** The Ready condition of a Process. */
export function readyOf(p: ProcessJson) {
  return p.status?.conditions?.find((x) => x.type === 'Ready');
}

/** Waits until the Process's Ready condition has this reason (for the current generation). */
export function waitForReady(c: Cluster, ns: string, name: string, reason: string, timeoutMs?: number): Promise<ProcessJson> {
  return eventually(
    `${ns}/${name} Ready reason ${reason}`,
    async () => {
      const p = await getProcess(c, ns, name);
      return p.status?.observedGeneration === p.metadata.generation && readyOf(p)?.reason === reason ? p : undefined;
    },
    timeoutMs,
  );
}

/** Reads a pod, or undefined. */
export async function getPod(c: Cluster, ns: string, name: string): Promise<Pod | undefined> {
  try {
    return JSON.parse(JSON.stringify(await c.core.readNamespacedPod({ name, namespace: ns }))) as Pod;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** Waits for a pod to exist (optionally other than the one with `notUid`). */
export function waitForPod(c: Cluster, ns: string, name: string, notUid?: string): Promise<Pod> {
  return eventually(`pod ${ns}/${name}${notUid ? ' (a new one)' : ''}`, async () => {
    const pod = await getPod(c, ns, name);
    return pod && pod.metadata?.uid !== notUid ? pod : undefined;
  });
}

/** Waits for a pod to be gone. */
export function waitForNoPod(c: Cluster, ns: string, name: string): Promise<true> {
  return eventually(`pod ${ns}/${name} to be gone`, async () => (await getPod(c, ns, name)) === undefined);
}

/**
 * Plays the kubelet: writes the pod's status the way the kubelet reports it. There is no node
 * here, so nothing else ever does.
 */
export async function setPodStatus(c: Cluster, ns: string, name: string, status: Pod['status']): Promise<void> {
  await c.core.patchNamespacedPodStatus({ name, namespace: ns, body: { status } }, merge);
}

/** Kubelet status: the one container runs (and is ready). */
export function runningStatus(container: string): Pod['status'] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    phase: 'Running',
    conditions: [
      { type: 'Ready', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
    ],
    containerStatuses: [
      {
        name: container,
        image: 'img',
        imageID: 'img@sha256:0',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      },
    ],
  };
}

/** Kubelet status: the container exited with `exitCode` and a termination message. */
export function exitedStatus(container: string, exitCode: number, message: string): Pod['status'] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now, reason: 'PodCompleted' }],
    containerStatuses: [
      {
        name: container,
        image: 'img',
        imageID: 'img@sha256:0',
        ready: false,
        started: false,
        restartCount: 0,
        state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt: now, finishedAt: now } },
      },
    ],
  };
}

/** Events (events.k8s.io/v1) about a Process, oldest first, as "Type Reason: note". */
export async function eventsAbout(c: Cluster, ns: string, name: string): Promise<string[]> {
  const list = await c.events.listNamespacedEvent({ namespace: ns });
  return list.items
    .filter((e) => e.regarding?.name === name && e.regarding?.kind === 'Process')
    .sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)))
    .map((e) => `${e.type} ${e.reason}: ${e.note}`);
}

/** A fresh namespace for one test. */
export async function namespace(c: Cluster, prefix: string): Promise<string> {
  return c.cp.newNamespace(`op-${prefix}`);
}

/**
 * The input and output of a Process whose FFmpeg runs for real in live-progress tests: a test
 * pattern at real-time pace, encoded and thrown away. FFmpeg refuses to overwrite an existing
 * output (here /dev/null) without -y.
 */
export const LIVE_PATTERN = {
  options: ['-y'],
  input: [{ id: 'pattern', address: 'testsrc2=size=160x120:rate=25', options: ['-re', '-f', 'lavfi'] }],
  output: [{ id: 'discard', address: '/dev/null', options: ['-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts'] }],
};

/**
 * Plays the kubelet for an FFmpeg pod: runs its arguments under the pod's wrapper (real `sh`,
 * `bash` and FFmpeg) with `dir` as the wrapper's scratch folder, the progress sender posting every
 * second to `port` on loopback as the Process `ns`/`name`.
 */
export function runFfmpegPod(pod: Pod, dir: string, port: number, ns: string, name: string): ChildProcess {
  return spawn('sh', ['-c', ffmpegWrapper(dir), 'ffmpeg', ...(pod.spec?.containers?.[0]?.args ?? [])], {
    env: {
      ...process.env,
      CORECAST_PROGRESS_SENDER: PROGRESS_SENDER,
      CORECAST_PROGRESS_HOST: '127.0.0.1',
      CORECAST_PROGRESS_PORT: String(port),
      CORECAST_PROGRESS_INTERVAL: '1',
      CORECAST_PROCESS_NAMESPACE: ns,
      CORECAST_PROCESS_NAME: name,
      CORECAST_POD_UID: pod.metadata?.uid ?? '',
    },
    stdio: 'ignore',
  });
}
