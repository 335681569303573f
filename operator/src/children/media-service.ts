/**
 * The media Service `<name>-media` (media.mode loadBalancer or nodePort): one UDP port, plus
 * one TCP port with ICE-TCP, in front of the egress pod's ICE ports; and what its status says
 * about the address (loadBalancer) or which node ports it was given (nodePort).
 */
import { isIP } from 'node:net';
import type { OperatorConfig } from '../config.ts';
import type { DeepReadonly, Service } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, podSelector } from './common.ts';
import { iceListenPorts, mediaMode } from './media-ports.ts';

/** True when the operator runs a media Service for each WebRTC-enabled Process. */
export function usesMediaService(config: OperatorConfig): boolean {
  const mode = mediaMode(config);
  return mode === 'loadBalancer' || mode === 'nodePort';
}

/** A port of the media Service. */
export interface MediaServicePort {
  name: 'ice-udp' | 'ice-tcp';
  protocol: 'UDP' | 'TCP';
  port: number;
  targetPort: number;
}

/**
 * The Service's ports. LoadBalancer: port = targetPort, so the load balancer listens on the port
 * the egress pod advertises. NodePort: both protocols under one port number, so the API server
 * gives them one node port (it reuses a node port for ports of the same number), and the
 * candidates of both carry the same port.
 */
export function mediaServicePorts(config: OperatorConfig): MediaServicePort[] {
  const ice = iceListenPorts(config);
  const nodePort = mediaMode(config) === 'nodePort';
  const ports: MediaServicePort[] = [{ name: 'ice-udp', protocol: 'UDP', port: ice.udp, targetPort: ice.udp }];
  if (ice.tcp !== undefined) ports.push({ name: 'ice-tcp', protocol: 'TCP', port: nodePort ? ice.udp : ice.tcp, targetPort: ice.tcp });
  return ports;
}

/** Builds Service `<name>-media`. */
export function buildMediaService(p: ProcessView, config: OperatorConfig): Service {
  const meta = (annotations: Record<string, string>) => childMeta(p, childNames(p.name).mediaService, 'egress', { annotations });
  const common = {
    selector: podSelector(p, 'egress'),
    // The egress pod is ready while its server listens; viewers stay connected through a source
    // restart, so media keeps going to it whatever its readiness says.
    publishNotReadyAddresses: true,
    ports: mediaServicePorts(config),
  };
  if (mediaMode(config) === 'nodePort') {
    // Local: only the node running the egress pod answers on the node port — the node whose
    // address the pod advertises — and the pod sees each viewer's own address.
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(config.egress.nodePort.annotations),
      spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ...common },
    };
  }
  const lb = config.egress.loadBalancer;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(lb.annotations),
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: lb.externalTrafficPolicy,
      allocateLoadBalancerNodePorts: lb.allocateNodePorts,
      ...(lb.loadBalancerClass ? { loadBalancerClass: lb.loadBalancerClass } : {}),
      ...common,
    },
  };
}

/**
 * The node ports the API server gave a NodePort media Service, or undefined while it has none
 * for the UDP port (not created yet, or of another type). TCP only with ICE-TCP.
 */
export function nodePortsOf(service: DeepReadonly<Service> | undefined): { udp: number; tcp?: number } | undefined {
  if (service?.spec?.type !== 'NodePort') return undefined;
  const ports = service.spec.ports ?? [];
  const udp = ports.find((p) => p.name === 'ice-udp')?.nodePort;
  const tcp = ports.find((p) => p.name === 'ice-tcp')?.nodePort;
  return udp ? { udp, ...(tcp ? { tcp } : {}) } : undefined;
}

/** The address a media Service's status gives, before any name is resolved. */
export type LoadBalancerIngress =
  | { readonly kind: 'none' }
  | { readonly kind: 'ips'; readonly addresses: readonly string[] }
  | { readonly kind: 'hostname'; readonly hostname: string };

/**
 * Reads status.loadBalancer.ingress: every entry's IP (a dual-stack load balancer lists one per
 * family); without any IP, the first entry's host name (AWS NLBs report only a name).
 */
export function loadBalancerIngress(service: DeepReadonly<Service> | undefined): LoadBalancerIngress {
  const entries = service?.status?.loadBalancer?.ingress ?? [];
  const ips = [...new Set(entries.map((e) => e.ip ?? '').filter((ip) => isIP(ip) !== 0))];
  if (ips.length > 0) return { kind: 'ips', addresses: ips };
  const hostname = entries.find((e) => e.hostname)?.hostname;
  return hostname ? { kind: 'hostname', hostname } : { kind: 'none' };
}

/**
 * What the egress pod of a load-balanced Process may advertise: the addresses (sorted, so the
 * same set builds the same pod), or why there are none yet.
 */
export type MediaAddress =
  | { readonly state: 'ready'; readonly addresses: readonly string[]; readonly hostname?: string }
  | { readonly state: 'pending' }
  | { readonly state: 'unresolved'; readonly from: string; readonly error: string };

/** Keeps the addresses the egress can use (IPv6 only when it gathers IPv6), sorted. */
export function usableAddresses(addresses: readonly string[], ipv6: boolean): string[] {
  return [...new Set(addresses)].filter((a) => isIP(a) === 4 || (ipv6 && isIP(a) === 6)).sort();
}
