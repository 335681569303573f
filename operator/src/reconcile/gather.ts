/**
 * gather: everything one reconcile looks at, read from the informer caches (never from the
 * API server), checked with the Process schema and defaulted.
 */
import { LABELS, type ProcessStatus, parseProcess, ValidationError } from '@corecast/api';
import { childNames, type ProcessView } from '../children/common.ts';
import type { ChildKind, ProcessObject } from '../kube/sources.ts';
import type { DeepReadonly, HTTPRoute, Ingress, KubeObject, NetworkPolicy, Pod, Service } from '../kube/types.ts';
import { TerminalError } from '../runtime/controller.ts';
import { routeHolder } from './route-holder.ts';
import type { Observed } from './types.ts';

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

/** The observed state of the Process `key`, or undefined when it is gone or being deleted. */
export function gather(key: string, caches: Caches): Observed | undefined {
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
