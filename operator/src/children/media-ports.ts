/**
 * How viewers reach an egress pod's media (the exposure mode), and which ports the pod uses.
 *
 * Every viewer of an egress pod shares one UDP port (`ice.udpPort`) and, with ICE-TCP, one TCP
 * port (`ice.tcpPort`), so each mode exposes one port per protocol per pod:
 * - pod: the pod's own address and ports (routed pod networks, or TURN as a fallback);
 * - loadBalancer: Service `<name>-media` of type LoadBalancer, its address advertised;
 * - nodePort: Service `<name>-media` of type NodePort, the node's address and node port advertised;
 * - hostNetwork: the node's network, every port of the pod taken from the operator's host-port
 *   ranges (one slot per Process), so two egress pods on a node never want the same port.
 */
import { PORTS } from '@corecast/api';
import type { OperatorConfig } from '../config.ts';

/** The exposure modes. */
export type MediaMode = 'pod' | 'hostNetwork' | 'loadBalancer' | 'nodePort';

/** The configuration's exposure mode (the configuration allows at most one of them). */
export function mediaMode(config: OperatorConfig): MediaMode {
  const e = config.egress;
  if (e.hostNetwork) return 'hostNetwork';
  if (e.loadBalancer.enabled) return 'loadBalancer';
  if (e.nodePort.enabled) return 'nodePort';
  return 'pod';
}

/** The configured ICE ports: `ice.udpPort` (default 8189) and, with ICE-TCP, `ice.tcpPort`. */
export function iceListenPorts(config: OperatorConfig): { udp: number; tcp?: number } {
  const ice = config.egress.ice;
  return { udp: ice.udpPort, ...(ice.tcpPort !== undefined ? { tcp: ice.tcpPort } : {}) };
}

/** Every port of one egress pod. */
export interface EgressPorts {
  readonly iceUdp: number;
  /** Present with ICE-TCP. */
  readonly iceTcp?: number;
  readonly videoRtp: number;
  readonly audioRtp: number;
  readonly http: number;
  readonly metrics: number;
}

/** Ports of the internal range one host-network slot takes: RTP video, RTP audio, HTTP, metrics. */
export const INTERNAL_PORTS_PER_SLOT = 4;

/** How many egress pods the host-port ranges hold: one ICE port and four internal ports each. */
export function hostSlotCapacity(config: OperatorConfig): number {
  const { ice, internal } = config.egress.hostPorts;
  return Math.min(ice.max - ice.min + 1, Math.floor((internal.max - internal.min + 1) / INTERNAL_PORTS_PER_SLOT));
}

/**
 * The ports of an egress pod. On the pod network (every mode but hostNetwork) the fixed ones
 * and the configured ICE ports; with host networking those of `slot`: ICE on `ice.min + slot`
 * (UDP, and TCP on the same number with ICE-TCP), the rest on four ports of the internal range.
 */
export function egressPorts(config: OperatorConfig, slot?: number): EgressPorts {
  const ice = iceListenPorts(config);
  if (mediaMode(config) !== 'hostNetwork' || slot === undefined) {
    const { videoRtp, audioRtp, http, metrics } = PORTS;
    return { iceUdp: ice.udp, ...(ice.tcp !== undefined ? { iceTcp: ice.tcp } : {}), videoRtp, audioRtp, http, metrics };
  }
  const { ice: iceRange, internal } = config.egress.hostPorts;
  const icePort = iceRange.min + slot;
  const base = internal.min + slot * INTERNAL_PORTS_PER_SLOT;
  return {
    iceUdp: icePort,
    ...(ice.tcp !== undefined ? { iceTcp: icePort } : {}),
    videoRtp: base,
    audioRtp: base + 1,
    http: base + 2,
    metrics: base + 3,
  };
}

/** The slot whose ICE port is `port`, when it is one of the range's. */
export function slotOfIcePort(config: OperatorConfig, port: number | undefined): number | undefined {
  if (port === undefined) return undefined;
  const slot = port - config.egress.hostPorts.ice.min;
  return Number.isInteger(slot) && slot >= 0 && slot < hostSlotCapacity(config) ? slot : undefined;
}

/** A named container port. */
export interface ContainerPort {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: 'UDP' | 'TCP';
  readonly hostPort?: number;
}

/**
 * The egress container's named ports. The Service, probes, NetworkPolicy and PodMonitor refer
 * to them by name, so they follow the pod wherever its numbers are. With host networking every
 * one is also a host port: the scheduler then never places two pods wanting one port on a node.
 */
export function egressContainerPorts(ports: EgressPorts, hostNetwork: boolean): ContainerPort[] {
  const list: ContainerPort[] = [
    { name: 'rtp-video', containerPort: ports.videoRtp, protocol: 'UDP' },
    { name: 'rtp-audio', containerPort: ports.audioRtp, protocol: 'UDP' },
    { name: 'http', containerPort: ports.http, protocol: 'TCP' },
    { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
    { name: 'ice-udp', containerPort: ports.iceUdp, protocol: 'UDP' },
    ...(ports.iceTcp !== undefined ? [{ name: 'ice-tcp', containerPort: ports.iceTcp, protocol: 'TCP' as const }] : []),
  ];
  return hostNetwork ? list.map((p) => ({ ...p, hostPort: p.containerPort })) : list;
}

/** The host ICE port an egress pod holds (its `ice-udp` host port), if any. */
export function heldIcePort(
  pod: { spec?: { containers?: readonly { ports?: readonly { name?: string; hostPort?: number }[] }[] } } | undefined,
) {
  return pod?.spec?.containers?.[0]?.ports?.find((p) => p.name === 'ice-udp')?.hostPort;
}
