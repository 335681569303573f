/** The egress Service, the route (Ingress or HTTPRoute) and the NetworkPolicy of a WebRTC-enabled Process. */
import { PORTS, whepPath } from '@corecast/api';
import type { OperatorConfig } from '../config.ts';
import type { HTTPRoute, Ingress, NetworkPolicy, Service } from '../kube/types.ts';
import { childMeta, childNames, type ProcessView, podSelector } from './common.ts';
import { REPLICA_LABEL } from './egress-pod.ts';
import { type EgressPorts, egressPorts } from './media-ports.ts';

/**
 * Service `<name>-egress`: the RTP legs (UDP) and HTTP. publishNotReadyAddresses, so RTP is
 * sent to a new egress pod from its first moment, before its readiness probe has passed. The
 * Service's ports are fixed (FFmpeg sends to them); the targets are the container's named ports,
 * which with host networking are the pod's own slot of host ports. It selects replica 0 only:
 * FFmpeg's RTP and every WHEP request enter there (replica 0 relays the RTP and places or
 * forwards the requests; docs/scale-out.md).
 */
export function buildService(p: ProcessView): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(p, childNames(p.name).service, 'egress'),
    spec: {
      type: 'ClusterIP',
      selector: { ...podSelector(p, 'egress'), [REPLICA_LABEL]: '0' },
      publishNotReadyAddresses: true,
      ports: [
        { name: 'rtp-video', protocol: 'UDP', port: PORTS.videoRtp, targetPort: 'rtp-video' },
        { name: 'rtp-audio', protocol: 'UDP', port: PORTS.audioRtp, targetPort: 'rtp-audio' },
        { name: 'http', protocol: 'TCP', port: PORTS.http, targetPort: 'http' },
      ],
    },
  };
}

/**
 * Ingress `<name>`: one Prefix path, /api/v3/process/<name>/whep, so WHEP session URLs and the
 * player below it route too. One Ingress per Process (a Service can only be the backend of an
 * Ingress in its own namespace); they share the host and class from the operator's config, and
 * the ingress controller merges them into one virtual host.
 */
export function buildIngress(p: ProcessView, config: OperatorConfig): Ingress {
  const { className, host, tlsSecretName, annotations } = config.ingress;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: childMeta(p, childNames(p.name).ingress, 'egress', { annotations }),
    spec: {
      ...(className ? { ingressClassName: className } : {}),
      ...(tlsSecretName ? { tls: [{ ...(host ? { hosts: [host] } : {}), secretName: tlsSecretName }] } : {}),
      rules: [
        {
          ...(host ? { host } : {}),
          http: {
            paths: [
              {
                path: whepPath(p.name),
                pathType: 'Prefix',
                backend: { service: { name: childNames(p.name).service, port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    },
  };
}

/** The Gateway API group: parent references name Gateways of it. */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/**
 * HTTPRoute `<name>` (gateway.enabled): the same route as the Ingress, in Gateway API terms — one
 * PathPrefix match on /api/v3/process/<name>/whep to the egress Service's HTTP port, attached to
 * the configured Gateways, with ingress.host as its hostname. One per Process, like the Ingress
 * (a route's backends are in its own namespace unless a ReferenceGrant says otherwise).
 */
export function buildHttpRoute(p: ProcessView, config: OperatorConfig): HTTPRoute {
  const { parentRefs, annotations } = config.gateway;
  const host = config.ingress.host;
  return {
    apiVersion: `${GATEWAY_API_GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: childMeta(p, childNames(p.name).httpRoute, 'egress', { annotations }),
    spec: {
      parentRefs: parentRefs.map((r) => ({
        group: GATEWAY_API_GROUP,
        kind: 'Gateway',
        name: r.name,
        ...(r.namespace ? { namespace: r.namespace } : {}),
        ...(r.sectionName ? { sectionName: r.sectionName } : {}),
        ...(r.port ? { port: r.port } : {}),
      })),
      ...(host ? { hostnames: [host] } : {}),
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: whepPath(p.name) } }],
          backendRefs: [{ group: '', kind: 'Service', name: childNames(p.name).service, port: PORTS.http }],
        },
      ],
    },
  };
}

/** The ports a browser's media reaches the egress pod on: its one ICE port (UDP, and TCP with ICE-TCP). */
export function icePorts(ports: EgressPorts): { protocol: string; port: number }[] {
  return [{ protocol: 'UDP', port: ports.iceUdp }, ...(ports.iceTcp !== undefined ? [{ protocol: 'TCP', port: ports.iceTcp }] : [])];
}

/**
 * NetworkPolicy `<name>-egress`: RTP only from this Process's FFmpeg pod and its egress pods
 * (replica 0 relays to the others), so nobody else can inject a stream; HTTP (WHEP, player,
 * metrics) and ICE media from anywhere. `ports`: the
 * egress pod's (media-ports.ts egressPorts).
 */
export function buildNetworkPolicy(p: ProcessView, config: OperatorConfig, ports: EgressPorts = egressPorts(config)): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(p, childNames(p.name).networkPolicy, 'egress'),
    spec: {
      podSelector: { matchLabels: podSelector(p, 'egress') },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: podSelector(p, 'ffmpeg') } }, { podSelector: { matchLabels: podSelector(p, 'egress') } }],
          ports: [
            { protocol: 'UDP', port: ports.videoRtp },
            { protocol: 'UDP', port: ports.audioRtp },
          ],
        },
        { ports: [{ protocol: 'TCP', port: ports.http }] },
        // Metrics: from any pod (Prometheus lives in a namespace the operator does not know);
        // no Service port and no route lead to it from outside.
        { ports: [{ protocol: 'TCP', port: ports.metrics }] },
        { ports: icePorts(ports) },
      ],
    },
  };
}
