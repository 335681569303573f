/** Shared names and numbers: the one place the operator, the egress pod and the chart agree on. */

/** API group of every Corecast resource. */
export const GROUP = 'corecast.dev';
/** The served and stored version of the Process resource. */
export const VERSION = 'v1alpha1';
/** `apiVersion` as written in manifests. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Kind of the resource. */
export const KIND = 'Process';
/** Plural resource name, as in URLs and RBAC rules. */
export const PLURAL = 'processes';
/** Singular resource name. */
export const SINGULAR = 'process';
/** Short name for kubectl (`kubectl get proc`). */
export const SHORT_NAME = 'proc';
/** Name of the CustomResourceDefinition object. */
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Labels every child carries; the operator's informers select children by them. */
export const LABELS = {
  /** Standard label: which application manages the object. */
  managedBy: 'app.kubernetes.io/managed-by',
  /** Standard label: the component (`ffmpeg` or `egress`). */
  component: 'app.kubernetes.io/component',
  /** Standard label: the application name. */
  name: 'app.kubernetes.io/name',
  /** The owning Process's name (the process id). */
  process: `${GROUP}/process`,
} as const;

/** Value of the managed-by label on every child. */
export const MANAGED_BY = 'corecast-operator';

/** Annotations a user sets on a Process to ask for one-off actions (they carry no durable state). */
export const ANNOTATIONS = {
  /** Any new value restarts FFmpeg (Core's `restart` command). */
  restart: `${GROUP}/restart`,
  /** Any new value rebuilds every child from the spec (Core's `reload` command). */
  reload: `${GROUP}/reload`,
  /** Set by the operator on the FFmpeg pod: the restart token it was built for. */
  restartedFor: `${GROUP}/restarted-for`,
  /** Set by the operator on children: the reload token they were built for. */
  reloadedFor: `${GROUP}/reloaded-for`,
} as const;

/** Default ports of the egress pod. */
export const PORTS = {
  /** UDP port receiving the video RTP leg. */
  videoRtp: 5004,
  /** UDP port receiving the audio RTP leg. */
  audioRtp: 5006,
  /** HTTP port serving WHEP, the player page and health. */
  http: 8080,
  /** HTTP port serving Prometheus metrics only (not routed by the ingress, no CORS). */
  metrics: 8081,
  /** UDP port of every viewer's media (ICE UDP mux; the egress config's ice.udpPort). */
  iceUdp: 8189,
} as const;

/** Field manager name for every server-side apply the operator makes. */
export const FIELD_MANAGER = 'corecast-operator';

/** Suffixes of child object names; the longest decides how long a Process name may be. */
export const CHILD_SUFFIXES = { ffmpeg: '-ffmpeg', egress: '-egress', media: '-media' } as const;

/** Longest name a Kubernetes object that is a DNS label may have (RFC 1123 / 1035). */
export const DNS_LABEL_MAX = 63;

/** Longest Process name for which every child name still fits in a DNS label. */
export const PROCESS_NAME_MAX = DNS_LABEL_MAX - Math.max(...Object.values(CHILD_SUFFIXES).map((s) => s.length));

/** URL path prefix under which a process's WHEP endpoint, sessions and player live. */
export function whepPath(processId: string): string {
  return `/api/v3/process/${processId}/whep`;
}

/** URL path of a process's player page (below the WHEP prefix so one ingress path routes both). */
export function playerPath(processId: string): string {
  return `${whepPath(processId)}/player`;
}
