/**
 * How many UDP ports of `ice.portRange` one viewer takes, and so how many viewers the range can
 * carry. werift binds one UDP socket from the range for every host address it gathers
 * (node_modules/werift/lib/ice/src/ice.js, gatherCandidates → getCandidatePromises: one
 * StunProtocol per address, each bound to a port of the range on every interface):
 *
 * - every address of the machine's network interfaces, as werift selects them
 *   (lib/ice/src/internal/selectAddresses.js): IPv4, and IPv6 with `ice.ipv6`; not internal
 *   (loopback), not link-local, not on interfaces named ipsec*, tun*, utun*, tap*, vmnet* or veth*;
 * - every advertised address (`ice.advertise`) not among them — `advertise.only` keeps the
 *   others out of the answer and the checks, but their sockets are still bound;
 * - one more for the TURN client when a TURN server is configured (not with ICE-lite); with
 *   relay-only media that is the only one.
 *
 * A viewer whose offer does not bundle audio and video takes twice as many (browsers bundle).
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { EgressIce } from '@corecast/api';

/** Interface name prefixes werift gathers no address from. */
const SKIPPED_INTERFACES = ['ipsec', 'tun', 'utun', 'tap', 'vmnet', 'veth'];

/** The host addresses werift gathers on this machine. */
export function gatheredAddresses(ipv6: boolean, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  const out: string[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    if (SKIPPED_INTERFACES.some((p) => name.startsWith(p))) continue;
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv4' && !info.address.startsWith('169.254.')) out.push(info.address);
      else if (ipv6 && info.family === 'IPv6' && !info.address.toLowerCase().startsWith('fe80:')) out.push(info.address);
    }
  }
  return out;
}

/** What the port range allows. */
export interface PortCapacity {
  /** Ports in the range. */
  readonly ports: number;
  /** Ports one viewer takes. */
  readonly perViewer: number;
  /** The addresses a viewer's sockets are bound for (gathered and advertised). */
  readonly addresses: readonly string[];
  /** Viewers the range carries at once: ports / perViewer, rounded down. */
  readonly viewers: number;
}

/** The capacity of `ice.portRange`, or undefined without a range (ephemeral ports). */
export function portCapacity(
  ice: EgressIce,
  advertised: readonly string[],
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): PortCapacity | undefined {
  const range = ice.portRange;
  if (!range) return undefined;
  const ports = range.max - range.min + 1;
  const turn = !ice.lite && ice.servers.some((s) => s.auth && s.urls.some((u) => u.startsWith('turn')));
  const addresses = ice.relayOnly ? [] : [...new Set([...advertised, ...gatheredAddresses(ice.ipv6, interfaces)])];
  const perViewer = Math.max(1, addresses.length + (turn ? 1 : 0));
  return { ports, perViewer, addresses, viewers: Math.floor(ports / perViewer) };
}
