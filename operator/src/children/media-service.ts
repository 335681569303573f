/**
 * media.mode loadBalancer: Service `<name>-media` of type LoadBalancer, one UDP port for each
 * port of ice.portRange (port = targetPort, so the address and port the egress pod advertises
 * are the ones the load balancer listens on), and what its status says about its address.
 */
import { isIP } from 'node:net';
import type { OperatorConfig } from '../config.ts';
import type { DeepReadonly, Service } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, podSelector } from './common.ts';

/** True when the operator runs a media Service for each WebRTC-enabled Process. */
export function usesMediaService(config: OperatorConfig): boolean {
  return config.egress.loadBalancer.enabled;
}

/** The Service's port entries: `ice-<port>`, UDP, port = targetPort. */
export function mediaServicePorts(config: OperatorConfig): { name: string; protocol: string; port: number; targetPort: number }[] {
  const range = config.egress.ice.portRange;
  if (!range) return [];
  return Array.from({ length: range.max - range.min + 1 }, (_, i) => {
    const port = range.min + i;
    return { name: `ice-${port}`, protocol: 'UDP', port, targetPort: port };
  });
}

/** Builds Service `<name>-media`. */
export function buildMediaService(p: ProcessView, config: OperatorConfig): Service {
  const lb = config.egress.loadBalancer;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(p, childNames(p.name).mediaService, 'egress', { annotations: lb.annotations }),
    spec: {
      type: 'LoadBalancer',
      selector: podSelector(p, 'egress'),
      // The egress pod is ready while RTP flows; viewers stay connected through a source restart
      // (it is not ready then), so the load balancer must keep sending their media to it.
      publishNotReadyAddresses: true,
      externalTrafficPolicy: lb.externalTrafficPolicy,
      allocateLoadBalancerNodePorts: lb.allocateNodePorts,
      ...(lb.loadBalancerClass ? { loadBalancerClass: lb.loadBalancerClass } : {}),
      ports: mediaServicePorts(config),
    },
  };
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
