/**
 * What holds a Process's egress pod back while how viewers reach it is not known yet — its media
 * Service has no usable address (loadBalancer) or no node port (nodePort), or every slot of host
 * ports is taken (hostNetwork) — as the Ready condition says it, and when to look again.
 */
import { childNames } from '../children/common.ts';
import { mediaMode } from '../children/media-ports.ts';
import type { OperatorConfig } from '../config.ts';
import { exposureOf } from './decide-children.ts';
import { NAME_RECHECK_MS } from './load-balancer.ts';
import type { ConditionSpec } from './status.ts';
import type { Observed } from './types.ts';

/** How soon a host name that did not resolve is looked up again. */
export const UNRESOLVED_RETRY_MS = 30_000;

/** How soon a Process waiting for a free slot of host ports looks again (a freed slot wakes nobody). */
export const SLOT_RETRY_MS = 30_000;

/** The Ready condition while no egress pod can be built for want of an address, node port or slot; undefined otherwise. */
export function mediaWait(o: Observed, config: OperatorConfig): ConditionSpec | undefined {
  if (!o.process.spec.webrtc.enabled || o.egressPod || exposureOf(o, config)) return undefined;
  const names = childNames(o.process.name);
  const ns = o.process.namespace;
  switch (mediaMode(config)) {
    case 'loadBalancer': {
      const a = o.mediaAddress;
      if (a?.state === 'unresolved') {
        return {
          status: 'False',
          reason: 'LoadBalancerAddressUnresolved',
          message: `Service ${names.mediaService} reports the load balancer address ${a.from}, which gives no address the egress can advertise: ${a.error}. Pod ${names.egressPod} is created once it does; it is looked up again every ${UNRESOLVED_RETRY_MS / 1000} s.`,
        };
      }
      return {
        status: 'False',
        reason: 'WaitingForLoadBalancer',
        message: `Waiting for Service ${names.mediaService} (type LoadBalancer) to get an external address; pod ${names.egressPod} is created once it has one, advertising it to viewers. Check \`kubectl -n ${ns} describe service ${names.mediaService}\`: a cluster without a load-balancer controller (bare metal without MetalLB, kind without cloud-provider-kind) never assigns one, so choose another media.mode there.`,
      };
    }
    case 'nodePort':
      return {
        status: 'False',
        reason: 'WaitingForNodePort',
        message: `Waiting for Service ${names.mediaService} (type NodePort) to be given its node port; pod ${names.egressPod} is created once it has one, advertising its node's address and that port.`,
      };
    case 'hostNetwork': {
      const taken = o.hostSlot && 'exhausted' in o.hostSlot ? o.hostSlot.exhausted : 0;
      return {
        status: 'False',
        reason: 'NoHostPorts',
        message: `Every slot of host ports (${taken}: one ICE port and four internal ports each, egress.hostPorts) is held by another Process's egress pod; pod ${names.egressPod} is created once one is free (looked at again every ${SLOT_RETRY_MS / 1000} s). Widen the ranges.`,
      };
    }
    default:
      return undefined;
  }
}

/** When to reconcile again for the media: names are re-resolved, failed lookups and full slots retried. */
export function mediaRecheckMs(o: Observed): number | undefined {
  const a = o.mediaAddress;
  if (a?.state === 'unresolved') return UNRESOLVED_RETRY_MS;
  if (a?.state === 'ready' && a.hostname) return NAME_RECHECK_MS;
  if (o.hostSlot && 'exhausted' in o.hostSlot && !o.egressPod) return SLOT_RETRY_MS;
  return undefined;
}
