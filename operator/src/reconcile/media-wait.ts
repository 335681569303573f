/**
 * media.mode loadBalancer: what holds a Process's egress pod back while its media Service has
 * no usable address, as the Ready condition says it, and when to look at the address again.
 */
import { childNames } from '../children/common.ts';
import { usesMediaService } from '../children/media-service.ts';
import type { OperatorConfig } from '../config.ts';
import { NAME_RECHECK_MS } from './load-balancer.ts';
import type { ConditionSpec } from './status.ts';
import type { Observed } from './types.ts';

/** How soon a host name that did not resolve is looked up again. */
export const UNRESOLVED_RETRY_MS = 30_000;

/** The Ready condition while no egress pod can be built for want of an address; undefined otherwise. */
export function mediaWait(o: Observed, config: OperatorConfig): ConditionSpec | undefined {
  if (!usesMediaService(config) || !o.process.spec.webrtc.enabled || o.egressPod) return undefined;
  const names = childNames(o.process.name);
  const ns = o.process.namespace;
  const a = o.mediaAddress;
  if (a?.state === 'ready') return undefined;
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

/** When to reconcile again for the address: names are re-resolved, failed lookups retried. */
export function mediaRecheckMs(o: Observed): number | undefined {
  const a = o.mediaAddress;
  if (a?.state === 'unresolved') return UNRESOLVED_RETRY_MS;
  if (a?.state === 'ready' && a.hostname) return NAME_RECHECK_MS;
  return undefined;
}
