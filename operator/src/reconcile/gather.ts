/**
 * gather: everything one reconcile looks at, checked with the Process schema and defaulted.
 * The Process and its children come from the informer caches. The caches hold only objects
 * with the operator's labels, so for each child the Process asks for that they do not show,
 * the API server is asked whether the name is free, ours (the cache lagged, a label was edited
 * away, an earlier Process of the same name left it for the garbage collector) or someone
 * else's — known here, before decide, so a taken name stops the reconcile before any write.
 */
import { KIND, LABELS, MAX_EGRESS_REPLICAS, type ProcessStatus, parseProcess, ValidationError } from '@corecast/api';
import { childNames, type ProcessView } from '../children/common.ts';
import { egressPodName } from '../children/egress-pod.ts';
import { usesFfmpegNetworkPolicy } from '../children/ffmpeg-network-policy.ts';
import { usesMediaService } from '../children/media-service.ts';
import { type OperatorConfig, routeKind } from '../config.ts';
import type { ChildKind, ProcessObject } from '../kube/sources.ts';
import type { DeepReadonly, HTTPRoute, Ingress, KubeObject, NetworkPolicy, Pod, Service } from '../kube/types.ts';
import { TerminalError } from '../runtime/controller.ts';
import { routeHolder } from './route-holder.ts';
import type { Observed, UncachedChild } from './types.ts';

/** Read access to the caches. */
export interface Caches {
  process(key: string): DeepReadonly<ProcessObject> | undefined;
  /** Every cached Process with this name, in any watched namespace. */
  processesNamed(name: string): DeepReadonly<ProcessObject>[];
  child(kind: ChildKind, key: string): DeepReadonly<KubeObject> | undefined;
}

/** A Process as the builders see it, and its status, from the cached object. */
export function processView(raw: DeepReadonly<ProcessObject>): { view: ProcessView; status: ProcessStatus } {
  let parsed: ReturnType<typeof parseProcess>;
  try {
    parsed = parseProcess(raw);
  } catch (err) {
    // The CRD's schema already checks all this; failing here means the CRD is out of date.
    if (err instanceof ValidationError) throw new TerminalError(`${err.message} (is the installed CRD current?)`);
    throw err;
  }
  const m = raw.metadata ?? {};
  const view: ProcessView = {
    name: m.name ?? '',
    namespace: m.namespace ?? '',
    uid: m.uid ?? '',
    generation: m.generation ?? 1,
    creationTimestamp: m.creationTimestamp ?? '',
    annotations: { ...(m.annotations ?? {}) },
    spec: parsed.spec,
  };
  return { view, status: parsed.status ?? {} };
}

function owned<T extends KubeObject>(obj: DeepReadonly<KubeObject> | undefined, processName: string): DeepReadonly<T> | undefined {
  // Children are found by name; the process label confirms the object is one of ours for this Process.
  return obj && obj.metadata?.labels?.[LABELS.process] === processName ? (obj as DeepReadonly<T>) : undefined;
}

/** Reads one object by name from the API server, whoever made it; undefined when there is none. */
export type ReadChild = (kind: ChildKind, namespace: string, name: string) => Promise<DeepReadonly<KubeObject> | undefined>;

/** What gather needs besides the caches: the configuration (which children a Process asks for) and a reader. */
export interface NameLookup {
  readonly config: OperatorConfig;
  readonly read: ReadChild;
}

/**
 * The observed state of the Process `key`, or undefined when it is gone or being deleted: the
 * caches, and the owners of the names of wanted children the caches do not show.
 */
export async function gather(key: string, caches: Caches, names: NameLookup): Promise<Observed | undefined> {
  const cached = fromCaches(key, caches);
  if (!cached) return undefined;
  const uncached = await uncachedChildren(cached, names);
  return uncached.length > 0 ? { ...cached, uncached } : cached;
}

/** True while `autostart: false` holds a Process that has not been changed since it was created. */
export function isHeld(o: Observed): boolean {
  return !o.process.spec.autostart && o.process.generation <= 1;
}

/**
 * The children the Process asks for under this configuration, with what the caches hold of
 * each: the FFmpeg pod (unless stopped) and its NetworkPolicy; with WebRTC the egress pod, its
 * Service and NetworkPolicy, the media Service and the route (unless another Process holds the path).
 */
export function wantedChildren(o: Observed, config: OperatorConfig): { kind: ChildKind; name: string; cached: unknown }[] {
  const n = childNames(o.process.name);
  const wanted: { kind: ChildKind; name: string; cached: unknown }[] = [];
  if (usesFfmpegNetworkPolicy(config)) wanted.push({ kind: 'networkpolicies', name: n.ffmpegNetworkPolicy, cached: o.ffmpegNetworkPolicy });
  if (!isHeld(o) && o.process.spec.order === 'start') wanted.push({ kind: 'pods', name: n.ffmpegPod, cached: o.ffmpegPod });
  if (!o.process.spec.webrtc.enabled) return wanted;
  // The siblings the count last wanted, or the spec's count: the names the next pass may create.
  const webrtc = o.process.spec.webrtc;
  const replicas = webrtc.autoscale ? (o.status.webrtc?.replicas ?? webrtc.autoscale.minReplicas) : (webrtc.replicas ?? 1);
  for (let i = 1; i < replicas; i++) {
    const name = egressPodName(o.process.name, i);
    wanted.push({ kind: 'pods', name, cached: o.egressReplicas?.find((pod) => pod.metadata?.name === name) });
  }
  wanted.push(
    { kind: 'pods', name: n.egressPod, cached: o.egressPod },
    { kind: 'services', name: n.service, cached: o.service },
    { kind: 'networkpolicies', name: n.networkPolicy, cached: o.networkPolicy },
  );
  if (usesMediaService(config)) wanted.push({ kind: 'services', name: n.mediaService, cached: o.mediaService });
  const route = o.routeHolder ? undefined : routeKind(config);
  if (route === 'ingress') wanted.push({ kind: 'ingresses', name: n.ingress, cached: o.ingress });
  if (route === 'gateway') wanted.push({ kind: 'httproutes', name: n.httpRoute, cached: o.httpRoute });
  return wanted;
}

/**
 * The wanted children the caches do not show but the API server has, each with whether it is
 * this Process's (its controller is this Process, by uid, or by kind and name for an earlier
 * one of the same name). In steady state every wanted child is cached and nothing is read.
 */
async function uncachedChildren(o: Observed, { config, read }: NameLookup): Promise<UncachedChild[]> {
  const missing = wantedChildren(o, config).filter((w) => !w.cached);
  // Reads change nothing, so the first failure may end the reconcile (it is retried).
  const found = await Promise.all(missing.map((w) => read(w.kind, o.process.namespace, w.name)));
  return missing.flatMap((w, i) => {
    const existing = found[i];
    if (!existing) return [];
    const controller = existing.metadata?.ownerReferences?.find((r) => r.controller);
    const ours = controller?.uid === o.process.uid || (controller?.kind === KIND && controller.name === o.process.name);
    return [{ kind: w.kind, name: w.name, ours }];
  });
}

/** The observed state of the Process `key` as the caches show it, or undefined when it is gone or being deleted. */
export function fromCaches(key: string, caches: Caches): Observed | undefined {
  const raw = caches.process(key);
  if (!raw || raw.metadata?.deletionTimestamp) return undefined;
  const { view: process, status } = processView(raw);
  const ns = process.namespace;
  const names = childNames(process.name);
  const at = (kind: ChildKind, name: string) => caches.child(kind, `${ns}/${name}`);
  const candidates = caches.processesNamed(process.name).map((c) => ({
    namespace: c.metadata?.namespace ?? '',
    name: c.metadata?.name ?? '',
    creationTimestamp: c.metadata?.creationTimestamp ?? '',
    webrtc: (c.spec as { webrtc?: { enabled?: unknown } } | undefined)?.webrtc?.enabled === true,
    deleting: Boolean(c.metadata?.deletionTimestamp),
  }));
  const self = {
    namespace: ns,
    name: process.name,
    creationTimestamp: process.creationTimestamp,
    webrtc: process.spec.webrtc.enabled,
    deleting: false,
  };
  const holder = routeHolder(self, candidates);
  const observed: Observed = {
    process,
    resourceVersion: raw.metadata?.resourceVersion ?? '',
    status,
    ffmpegPod: owned<Pod>(at('pods', names.ffmpegPod), process.name),
    egressPod: owned<Pod>(at('pods', names.egressPod), process.name),
    egressReplicas: siblingPods(process.name, (name) => owned<Pod>(at('pods', name), process.name)),
    service: owned<Service>(at('services', names.service), process.name),
    ingress: owned<Ingress>(at('ingresses', names.ingress), process.name),
    httpRoute: owned<HTTPRoute>(at('httproutes', names.httpRoute), process.name),
    networkPolicy: owned<NetworkPolicy>(at('networkpolicies', names.networkPolicy), process.name),
    ffmpegNetworkPolicy: owned<NetworkPolicy>(at('networkpolicies', names.ffmpegNetworkPolicy), process.name),
    mediaService: owned<Service>(at('services', names.mediaService), process.name),
    ...(holder ? { routeHolder: holder } : {}),
  };
  return observed;
}

/**
 * The egress pods of replicas 1 and up in the cache, by index. Their names are fixed by index
 * (`<name>-egress-<i>`), so each is one cache lookup: there are never more than MAX_EGRESS_REPLICAS.
 */
function siblingPods(processName: string, at: (name: string) => DeepReadonly<Pod> | undefined): DeepReadonly<Pod>[] {
  const pods: DeepReadonly<Pod>[] = [];
  for (let i = 1; i < MAX_EGRESS_REPLICAS; i++) {
    const pod = at(egressPodName(processName, i));
    if (pod && pod.metadata?.labels?.[LABELS.component] === 'egress') pods.push(pod);
  }
  return pods;
}
