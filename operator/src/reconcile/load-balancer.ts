/**
 * The address of a Process's media Service, for its egress pod to advertise: the IPs in the
 * Service's status, or — for load balancers that report only a host name (AWS NLB) — that name
 * resolved here. Names are looked up on every reconcile of the Process, and a Process whose
 * address came from a name is looked at again every NAME_RECHECK_MS, so a changed answer
 * replaces the egress pod.
 */
import { lookup } from 'node:dns/promises';
import { loadBalancerIngress, type MediaAddress, usableAddresses } from '../children/media-service.ts';
import type { DeepReadonly, Service } from '../kube/types.ts';

/** Resolves a host name to its addresses (dns.lookup: the resolver the operator's pod uses). */
export type Resolve = (hostname: string) => Promise<string[]>;

/** How often an address that came from a host name is looked up again. */
export const NAME_RECHECK_MS = 5 * 60_000;

/** dns.lookup with every address of both families. */
export const systemResolve: Resolve = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The media address of a load-balanced Process, from its Service (undefined: no Service yet). */
export async function mediaAddress(service: DeepReadonly<Service> | undefined, ipv6: boolean, resolve: Resolve): Promise<MediaAddress> {
  const ingress = loadBalancerIngress(service);
  if (ingress.kind === 'none') return { state: 'pending' };
  const family = ipv6 ? 'IPv4 or IPv6 address' : 'IPv4 address (set media.ipv6 to use IPv6)';
  if (ingress.kind === 'ips') {
    const addresses = usableAddresses(ingress.addresses, ipv6);
    if (addresses.length > 0) return { state: 'ready', addresses };
    return { state: 'unresolved', from: ingress.addresses.join(', '), error: `the load balancer has no ${family}` };
  }
  let found: string[];
  try {
    found = await resolve(ingress.hostname);
  } catch (err) {
    return { state: 'unresolved', from: ingress.hostname, error: (err as Error).message };
  }
  const addresses = usableAddresses(found, ipv6);
  if (addresses.length === 0) return { state: 'unresolved', from: ingress.hostname, error: `the name has no ${family}` };
  return { state: 'ready', addresses, hostname: ingress.hostname };
}
