/**
 * The egress pods: replica 0 (`<name>-egress`) receives the two RTP legs from the FFmpeg pod and
 * relays them to the other replicas (`<name>-egress-<i>`, docs/scale-out.md); each serves WHEP
 * and the player. Its configuration is the api package's EgressConfig, as JSON in one variable;
 * secrets come from Secrets in the Process's namespace through separate variables.
 */
import { DEFAULT_DRAIN_SECONDS, EGRESS_CONFIG_ENV, EGRESS_SECRET_ENV, type EgressConfigInput, egressStreamFor, PORTS } from '@corecast/api';
import type { OperatorConfig } from '../config.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, podSelector } from './common.ts';
import { POD_ANNOTATIONS } from './ffmpeg-pod.ts';
import { contentHash } from './hash.ts';
import { egressContainerPorts, egressPorts, mediaMode } from './media-ports.ts';
import { podSecurityContext, restrictedContainerSecurity, TMP_MOUNT, TMP_VOLUME } from './security.ts';

/**
 * Named ports of the egress container on the pod network, besides ICE (media-ports.ts). `metrics`
 * is the Prometheus port (the chart's PodMonitor scrapes it by name); it is not a Service port,
 * so no ingress route reaches it.
 */
export const EGRESS_PORTS = [
  { name: 'rtp-video', containerPort: PORTS.videoRtp, protocol: 'UDP' },
  { name: 'rtp-audio', containerPort: PORTS.audioRtp, protocol: 'UDP' },
  { name: 'http', containerPort: PORTS.http, protocol: 'TCP' },
  { name: 'metrics', containerPort: PORTS.metrics, protocol: 'TCP' },
] as const;

/** Annotation of an egress pod listing the load-balancer addresses it advertises (comma-separated). */
export const MEDIA_ADDRESSES_ANNOTATION = 'corecast.dev/media-addresses';

/**
 * Annotation of an egress pod naming its FFmpeg pod's addresses (comma-separated; "" while none
 * is known): the egress container reads it from a downward API file (RTP_SOURCE_FILE, which the
 * kubelet rewrites when the annotation changes) and accepts RTP only from them. It is left out
 * of the spec hash, so a new FFmpeg pod re-pins the running egress pod instead of replacing it.
 */
export const RTP_SOURCE_ANNOTATION = 'corecast.dev/rtp-source';

/** The `drift` of an egress pod update that only moves the pin (events.ts words its Event for it). */
export const PIN_DRIFT = `metadata.annotations.${RTP_SOURCE_ANNOTATION}`;

/** Directory of the downward API volume holding the pin. */
export const RTP_SOURCE_DIR = '/etc/corecast/rtp-source';

/** The pin file in the egress container (the egress configuration's `sourceAddressFile`). */
export const RTP_SOURCE_FILE = `${RTP_SOURCE_DIR}/address`;

/** Label of every egress pod: its replica index ("0" receives from FFmpeg and relays to the others). */
export const REPLICA_LABEL = 'corecast.dev/replica';

/**
 * Annotation of replica 0 listing the siblings it relays RTP to, `<index>=<ip>:<videoPort>:<audioPort>:<httpPort>`
 * comma-separated, `:draining` after one being drained (docs/scale-out.md). Not hashed, like the pin.
 */
export const RELAY_TARGETS_ANNOTATION = 'corecast.dev/relay-targets';

/** Annotation of a replica being drained: the RFC 3339 time by which its viewers should be gone. Not hashed. */
export const DRAIN_ANNOTATION = 'corecast.dev/drain';

/** The relay targets file in the egress container (the egress configuration's `replica.relayTargetsFile`). */
export const RELAY_TARGETS_FILE = `${RTP_SOURCE_DIR}/relay-targets`;

/** The drain file in the egress container (`replica.drainFile`). */
export const DRAIN_FILE = `${RTP_SOURCE_DIR}/drain`;

const annotationFile = (path: string, annotation: string) => ({ path, fieldRef: { fieldPath: `metadata.annotations['${annotation}']` } });

/** The downward API volume with the pin, the relay targets and the drain deadline, and its mount. */
const RTP_SOURCE_VOLUME = {
  name: 'rtp-source',
  downwardAPI: {
    items: [
      annotationFile('address', RTP_SOURCE_ANNOTATION),
      annotationFile('relay-targets', RELAY_TARGETS_ANNOTATION),
      annotationFile('drain', DRAIN_ANNOTATION),
    ],
  },
};
const RTP_SOURCE_MOUNT = { name: 'rtp-source', mountPath: RTP_SOURCE_DIR, readOnly: true };

/**
 * The pin for the egress pod: the FFmpeg pod's addresses (status.podIPs, else status.podIP) —
 * also while it terminates, so its BYE still counts — or "" when there is no FFmpeg pod or it
 * has no address yet: then the egress accepts no RTP at all, since no sender is the source.
 *
 * With host networking (`hostNetwork`), when the FFmpeg pod runs on another node than the egress
 * pod (or either node is not known yet), the FFmpeg pod's node addresses too: network plugins
 * that masquerade pod traffic to node addresses (flannel, Calico's natOutgoing) make its RTP
 * arrive from there. On the egress pod's own node the packets are delivered locally and keep
 * the pod's address, so the node's is left out.
 */
export function rtpSource(
  ffmpegPod: DeepReadonly<Pod> | undefined,
  egress: { hostNetwork?: boolean; pod?: DeepReadonly<Pod> | undefined } = {},
): string {
  const status = ffmpegPod?.status;
  const ips = (status?.podIPs ?? []).map((a) => a.ip).filter((ip): ip is string => Boolean(ip));
  if (ips.length === 0 && status?.podIP) ips.push(status.podIP);
  if (ips.length > 0 && egress.hostNetwork) {
    const node = ffmpegPod?.spec?.nodeName;
    if (!node || node !== egress.pod?.spec?.nodeName) {
      const hostIps = (status?.hostIPs ?? []).map((a) => a.ip).filter((ip): ip is string => Boolean(ip));
      if (hostIps.length === 0 && status?.hostIP) hostIps.push(status.hostIP);
      for (const ip of hostIps) if (!ips.includes(ip)) ips.push(ip);
    }
  }
  return ips.join(',');
}

/**
 * What the reconcile found out about how viewers reach a Process's egress pod, beyond the
 * configuration: the slot of host ports it holds (hostNetwork), its load balancer's addresses
 * (loadBalancer), its Service's node ports (nodePort).
 */
export interface Exposure {
  readonly slot?: number;
  readonly addresses?: readonly string[];
  readonly nodePorts?: { readonly udp: number; readonly tcp?: number };
}

/** The egress pod's ICE settings (the api's EgressIce). */
export type EgressIceInput = OperatorConfig['egress']['ice'];

/**
 * ICE settings of one egress pod: the configured ones with the ports it binds, and per mode what
 * it advertises. loadBalancer: the load balancer's addresses alone (NAT 1:1: the pod's own address
 * is no use to browsers). nodePort: its node's address (NODE_IP, status.hostIP) alone, with the
 * node ports as the candidates' ports — kube-proxy maps node port to ICE port on the way in and
 * back on the way out, so the candidate must carry the port viewers send to, not the bound one.
 */
export function egressIce(config: OperatorConfig, exposure: Exposure = {}): EgressIceInput {
  const ice = config.egress.ice;
  const ports = egressPorts(config, exposure.slot);
  const bound: EgressIceInput = { ...ice, udpPort: ports.iceUdp, ...(ports.iceTcp !== undefined ? { tcpPort: ports.iceTcp } : {}) };
  const mode = mediaMode(config);
  if (mode === 'loadBalancer' && exposure.addresses && exposure.addresses.length > 0) {
    const addresses = [...new Set([...ice.advertise.addresses, ...exposure.addresses])];
    return { ...bound, advertise: { ...ice.advertise, addresses, only: true } };
  }
  if (mode === 'nodePort' && exposure.nodePorts) {
    const addressEnv = [...new Set([...ice.advertise.addressEnv, 'NODE_IP'])];
    const tcp = ports.iceTcp !== undefined ? exposure.nodePorts.tcp : undefined;
    return {
      ...bound,
      advertise: { ...ice.advertise, addressEnv, only: true },
      advertisedPort: exposure.nodePorts.udp,
      ...(tcp !== undefined ? { advertisedTcpPort: tcp } : {}),
    };
  }
  return bound;
}

/**
 * What sets one egress replica apart from the others: its index, and the annotations that are
 * not hashed (they move on the live pod): replica 0's relay targets, a sibling's drain deadline.
 */
export interface Replica {
  readonly index: number;
  readonly relayTargets?: string;
  readonly drain?: string;
}

/** The name of replica `index`'s pod: `<name>-egress` for replica 0 (so Service, Ingress and FFmpeg's destination stay), `<name>-egress-<index>` after. */
export function egressPodName(processName: string, index: number): string {
  const base = childNames(processName).egressPod;
  return index === 0 ? base : `${base}-${index}`;
}

/**
 * The egress pod's configuration for one Process (one stream per pod), listening on the ports
 * of its mode (egressPorts) and advertising what `exposure` says; `index` its replica.
 */
export function egressConfig(p: ProcessView, config: OperatorConfig, exposure: Exposure = {}, index = 0): EgressConfigInput {
  const e = config.egress;
  const ports = egressPorts(config, exposure.slot);
  return {
    // Which replica this pod is, where it reads its relay targets (replica 0) and drain deadline.
    replica: {
      index,
      // Only replica 0 relays (the egress refuses a targets file on another replica).
      ...(index === 0 ? { relayTargetsFile: RELAY_TARGETS_FILE } : {}),
      drainFile: DRAIN_FILE,
      drainSeconds: p.spec.webrtc.drainSeconds ?? DEFAULT_DRAIN_SECONDS,
    },
    http: { host: '0.0.0.0', port: ports.http },
    metrics: { port: ports.metrics },
    // Tokens and embed URLs name `<namespace>/<name>`: the pod checks them against its own.
    namespace: p.namespace,
    // RTP only from the FFmpeg pod: its address comes through the pin file (RTP_SOURCE_ANNOTATION).
    streams: [
      {
        ...egressStreamFor({ name: p.name, spec: p.spec }, { videoPort: ports.videoRtp, audioPort: ports.audioRtp }),
        sourceAddressFile: RTP_SOURCE_FILE,
      },
    ],
    maxViewers: e.maxViewersPerPod,
    session: { maxPerSubject: e.viewerLimits.perSubject, maxPerClient: e.viewerLimits.perClient },
    auth: e.auth,
    embed: e.embed,
    ice: egressIce(config, exposure),
    // Viewers outlive a down source while FFmpeg is started again (reconnect delay plus a new
    // pod's start-up), so a reconnect does not end their sessions.
    source: { graceSeconds: Math.min(3600, Math.max(30, p.spec.reconnectDelaySeconds + 30)) },
    logLevel: e.logLevel,
  };
}

/** Variables of the egress container: the JSON configuration, secrets by reference, and addresses. */
export function egressEnv(p: ProcessView, config: OperatorConfig, exposure: Exposure = {}, index = 0) {
  const e = config.egress;
  const fromSecret = (name: string, ref: { name: string; key: string }) => ({
    name,
    valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } },
  });
  const env: object[] = [{ name: EGRESS_CONFIG_ENV, value: JSON.stringify(egressConfig(p, config, exposure, index)) }];
  if (e.auth.mode === 'hs256' && e.jwtSecretRef) env.push(fromSecret(EGRESS_SECRET_ENV.jwtSecret, e.jwtSecretRef));
  const embedRef = e.embedSecretRef ?? e.jwtSecretRef;
  if (e.embed.enabled && embedRef) env.push(fromSecret(EGRESS_SECRET_ENV.embedSecret, embedRef));
  for (const s of e.secretEnv) env.push(fromSecret(s.name, { name: s.secretName, key: s.key }));
  // For ice.advertise.addressEnv: the node's address (host networking, NodePort) and the pod's.
  env.push({ name: 'NODE_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.hostIP' } } });
  env.push({ name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } });
  return env;
}

/**
 * Builds the pod of one egress replica (replica 0 unless `replica` says otherwise); `exposure` as
 * for egressConfig; `rtpSourceAddresses` the pin (rtpSource of the FFmpeg pod for replica 0, of
 * replica 0's pod for the others), which is not hashed, and neither are the replica's annotations.
 */
export function buildEgressPod(
  p: ProcessView,
  config: OperatorConfig,
  exposure: Exposure = {},
  rtpSourceAddresses = '',
  replica: Replica = { index: 0 },
): Pod {
  const hostNetwork = config.egress.hostNetwork;
  // With host networking every port is a host port from the pod's slot (media-ports.ts): the
  // scheduler never puts two pods wanting one port on a node.
  const ports = egressContainerPorts(egressPorts(config, exposure.slot), hostNetwork).map((port) => ({ ...port }));
  const spec: NonNullable<Pod['spec']> = {
    restartPolicy: 'Always',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    ...(hostNetwork ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
    securityContext: podSecurityContext(config),
    ...(config.images.pullSecrets.length > 0 ? { imagePullSecrets: config.images.pullSecrets.map((name) => ({ name })) } : {}),
    containers: [
      {
        name: 'egress',
        image: config.images.egress,
        imagePullPolicy: config.images.pullPolicy,
        env: egressEnv(p, config, exposure, replica.index) as NonNullable<NonNullable<Pod['spec']>['containers'][number]['env']>,
        ports,
        // Ready means ready to receive: the server listens (RTP sockets and HTTP). Not /readyz
        // (RTP flowing): kube-proxy clears a UDP Service's stale conntrack entries only once an
        // endpoint is serving (Ready), and FFmpeg's RTP keeps its entry alive, so a replaced
        // egress pod that waited for RTP to become ready would never get any — the old entry
        // keeps sending FFmpeg's packets to the old pod's address (seen on a real node).
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 2, failureThreshold: 1 },
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
        resources: {
          ...(Object.keys(config.egress.resources.requests).length > 0 ? { requests: { ...config.egress.resources.requests } } : {}),
          ...(Object.keys(config.egress.resources.limits).length > 0 ? { limits: { ...config.egress.resources.limits } } : {}),
        } as Record<string, Record<string, string>>,
        securityContext: restrictedContainerSecurity(),
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: [TMP_MOUNT, RTP_SOURCE_MOUNT],
      },
    ],
    volumes: [TMP_VOLUME, RTP_SOURCE_VOLUME],
    // Replicas on different nodes where the scheduler can, so one node's loss or load does not take them all.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: podSelector(p, 'egress') },
      },
    ],
  };
  const metadata = childMeta(p, egressPodName(p.name, replica.index), 'egress', {
    labels: { [REPLICA_LABEL]: String(replica.index) },
    ...(exposure.addresses ? { annotations: { [MEDIA_ADDRESSES_ANNOTATION]: exposure.addresses.join(',') } } : {}),
  });
  const hash = contentHash({ spec, labels: metadata.labels, annotations: metadata.annotations, owner: p.uid });
  // The pin and the replica's annotations are added after hashing: a new FFmpeg pod, a sibling
  // coming or going, or a drain changes them, and the egress pod stays.
  metadata.annotations = {
    ...metadata.annotations,
    [POD_ANNOTATIONS.specHash]: hash,
    [RTP_SOURCE_ANNOTATION]: rtpSourceAddresses,
    ...(replica.index === 0 ? { [RELAY_TARGETS_ANNOTATION]: replica.relayTargets ?? '' } : { [DRAIN_ANNOTATION]: replica.drain ?? '' }),
  };
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}
