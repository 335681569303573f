/**
 * NetworkPolicy `<name>-ffmpeg`: where the FFmpeg pod of a Process may connect. The access rules
 * judge what the command names; this holds whatever FFmpeg ends up connecting to (a playlist's
 * segments, a redirect, a name that resolves to a cluster address) to the outside world.
 */
import type { OperatorConfig } from '../config.ts';
import type { NetworkPolicy } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, podSelector } from './common.ts';
import { type EgressPorts, egressPorts } from './media-ports.ts';

/** DNS, over UDP and TCP, to any resolver (cluster DNS, node-local caches). */
const DNS_PORTS = [
  { protocol: 'UDP', port: 53 },
  { protocol: 'TCP', port: 53 },
];

/** The RTP ports of an egress pod. */
const rtpPorts = (ports: Pick<EgressPorts, 'videoRtp' | 'audioRtp'>) => [
  { protocol: 'UDP', port: ports.videoRtp },
  { protocol: 'UDP', port: ports.audioRtp },
];

/** `cidr` except the denied ranges of its family; nothing when a denied range is the whole family. */
function ipBlock(cidr: '0.0.0.0/0' | '::/0', denied: readonly string[]): object[] {
  const v6 = cidr === '::/0';
  const except = denied.filter((d) => d.includes(':') === v6);
  if (except.some((d) => d.endsWith('/0'))) return [];
  return [{ ipBlock: { cidr, ...(except.length > 0 ? { except } : {}) } }];
}

/** True when the operator gives FFmpeg pods a NetworkPolicy. */
export function usesFfmpegNetworkPolicy(config: OperatorConfig): boolean {
  return config.ffmpeg.networkPolicy.enabled;
}

/**
 * The wrapper's progress reports to the operator's pods (progress.endpoint is their Service; a
 * policy sees the pod behind it, on progress.port). None without an endpoint or the pods' labels.
 */
function progressRule(config: OperatorConfig): object | undefined {
  const { endpoint, operatorPodLabels, operatorNamespace, port } = config.progress;
  if (!endpoint || Object.keys(operatorPodLabels).length === 0) return undefined;
  const namespaceSelector = operatorNamespace ? { matchLabels: { 'kubernetes.io/metadata.name': operatorNamespace } } : {};
  return { to: [{ namespaceSelector, podSelector: { matchLabels: { ...operatorPodLabels } } }], ports: [{ protocol: 'TCP', port }] };
}

/**
 * Builds NetworkPolicy `<name>-ffmpeg` (policyTypes Egress only: nothing connects to FFmpeg).
 * `ports`: the egress pod's (media-ports.ts egressPorts), which with host networking are its slot's.
 */
export function buildFfmpegNetworkPolicy(p: ProcessView, config: OperatorConfig, ports: EgressPorts = egressPorts(config)): NetworkPolicy {
  const np = config.ffmpeg.networkPolicy;
  const egress: object[] = [
    { ports: DNS_PORTS },
    // The egress pod, through its Service (policies see the pod after the Service's translation).
    { to: [{ podSelector: { matchLabels: podSelector(p, 'egress') } }], ports: rtpPorts(ports) },
  ];
  // On the node network an egress pod has the node's address, which no pod selector matches:
  // its own RTP ports, at any address.
  if (config.egress.hostNetwork) egress.push({ ports: rtpPorts(ports) });
  const world = [...ipBlock('0.0.0.0/0', np.deniedCidrs), ...ipBlock('::/0', np.deniedCidrs)];
  if (world.length > 0) egress.push({ to: world });
  const progress = progressRule(config);
  if (progress) egress.push(progress);
  egress.push(...np.egress);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(p, childNames(p.name).ffmpegNetworkPolicy, 'ffmpeg'),
    spec: {
      podSelector: { matchLabels: podSelector(p, 'ffmpeg') },
      policyTypes: ['Egress'],
      egress: egress as NonNullable<NonNullable<NetworkPolicy['spec']>['egress']>,
    },
  };
}
