/** The hub's view of the operator's caches: a Process's inputs, outputs and FFmpeg pod, and what its status shows. */
import { childNames } from '../children/common.ts';
import type { ProcessObject } from '../kube/sources.ts';
import { type DeepReadonly, splitKey } from '../kube/types.ts';
import type { Caches } from '../reconcile/gather.ts';
import type { LiveStatus, ProgressSources } from './hub.ts';

type Endpoint = { id?: unknown; address?: unknown };
const endpoints = (list: unknown) =>
  (Array.isArray(list) ? (list as Endpoint[]) : []).map((e) => ({ id: String(e.id ?? ''), address: String(e.address ?? '') }));

const liveOf = (p: DeepReadonly<ProcessObject> | undefined): LiveStatus => {
  const s = (p?.status ?? {}) as LiveStatus;
  return { ...(s.progress ? { progress: s.progress } : {}), ...(s.viewers !== undefined ? { viewers: s.viewers } : {}) };
};

/** Sources over the informer caches; `all` lists every cached Process. */
export function cacheSources(caches: Caches, all: () => readonly DeepReadonly<ProcessObject>[]): ProgressSources {
  return {
    process(key) {
      const p = caches.process(key);
      if (!p) return undefined;
      const { namespace, name } = splitKey(key);
      const pod = caches.child('pods', `${namespace}/${childNames(name).ffmpegPod}`);
      const spec = (p.spec ?? {}) as { input?: unknown; output?: unknown };
      return { endpoints: { input: endpoints(spec.input), output: endpoints(spec.output) }, ffmpegPodUid: pod?.metadata?.uid };
    },
    shown: (key) => liveOf(caches.process(key)),
    showing: () =>
      all()
        .filter((p) => {
          const l = liveOf(p);
          return l.progress !== undefined || l.viewers !== undefined;
        })
        .map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`),
  };
}
