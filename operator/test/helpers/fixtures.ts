/**
 * Fixture builders for operator tests: a parsed config, a Process view from the api package's
 * fixtures, observed states and pods in the states the kubelet reports.
 */
import { ANNOTATIONS, parseProcess } from '@corecast/api';
import { type ProcessManifest, process as processManifest, type With } from '../../../api/test/fixtures/processes.ts';
import type { ProcessView } from '../../src/children/common.ts';
import { parseConfig } from '../../src/config.ts';
import type { Pod } from '../../src/kube/types.ts';
import type { Observed } from '../../src/reconcile/types.ts';

export { withSpec, withWebrtc } from '../../../api/test/fixtures/processes.ts';

/** A valid configuration with test images; `over` replaces top-level keys. */
export function config(over: Record<string, unknown> = {}) {
  return parseConfig(
    { images: { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:1' }, ingress: { host: 'stream.test' }, ...over },
    { name: 'test', namespace: 'corecast-system' },
  );
}

/** Sets metadata on a Process manifest. */
export const withMeta =
  (meta: Record<string, unknown>): With =>
  (p) => {
    Object.assign(p.metadata, meta);
  };

/** Sets an annotation on a Process manifest. */
export const withAnnotation =
  (key: string, value: string): With =>
  (p) => {
    p.metadata.annotations = { ...((p.metadata.annotations as Record<string, string>) ?? {}), [key]: value };
  };

/** Asks for a restart (annotation). */
export const withRestart = (token: string): With => withAnnotation(ANNOTATIONS.restart, token);

/** A Process view as gather makes it. */
export function view(name: string, ...withs: With[]): ProcessView {
  const m: ProcessManifest = processManifest(name, ...withs);
  const parsed = parseProcess(m);
  const meta = m.metadata as Record<string, unknown>;
  return {
    name,
    namespace: (meta.namespace as string) ?? 'ns',
    uid: (meta.uid as string) ?? `uid-${name}`,
    generation: (meta.generation as number) ?? 1,
    creationTimestamp: (meta.creationTimestamp as string) ?? '2026-01-01T00:00:00Z',
    annotations: (meta.annotations as Record<string, string>) ?? {},
    spec: parsed.spec,
  };
}

/** An observed state: the Process and whatever children are given. */
export function observed(process: ProcessView, rest: Partial<Omit<Observed, 'process'>> = {}): Observed {
  return { process, resourceVersion: '100', status: {}, ...rest };
}

/** A pod as the API server returns it after an apply: the built pod plus a uid and defaults. */
export function live(pod: Pod, status: Pod['status'] = { phase: 'Pending' }): Pod {
  const clone = structuredClone(pod);
  delete clone.apiVersion;
  delete clone.kind;
  clone.metadata = {
    ...clone.metadata,
    uid: `uid-${clone.metadata?.name}`,
    resourceVersion: '1',
    creationTimestamp: '2026-01-01T00:00:00Z',
  };
  for (const c of clone.spec?.containers ?? []) {
    c.terminationMessagePath = '/dev/termination-log';
  }
  if (clone.spec) clone.spec.dnsPolicy ??= 'ClusterFirst';
  clone.status = status;
  return clone;
}

/** Pod status: the container runs. */
export function running(startedAt = '2026-01-01T00:00:05Z'): Pod['status'] {
  return {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: startedAt }],
    containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt } } }],
  };
}

/** Pod status: the container exited. */
export function exited(exitCode: number, message = '', extra: { reason?: string; finishedAt?: string } = {}): Pod['status'] {
  return {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    containerStatuses: [
      {
        name: 'c',
        image: 'i',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode,
            reason: extra.reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
            message,
            startedAt: '2026-01-01T00:00:05Z',
            finishedAt: extra.finishedAt ?? '2026-01-01T00:01:00Z',
          },
        },
      },
    ],
  };
}

/** Pod status: the container waits (ImagePullBackOff…). */
export function waitingFor(reason: string, message: string): Pod['status'] {
  return {
    phase: 'Pending',
    containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }],
  };
}
