/**
 * werift peers that talk over loopback only: no STUN server, 127.0.0.1 advertised, and only
 * loopback candidate pairs checked, so no packet leaves the machine. A fan-out worker warms
 * werift up with such a pair; load viewers and tests use them too.
 */
import type { PeerConfig } from 'werift';

export const LOOPBACK = '127.0.0.1';

/**
 * The configuration of a loopback-only peer with `codecs` (werift's useH264() and useOPUS(),
 * given by the caller: this module is loaded where werift's values are not), one bundled transport.
 */
export function loopbackPeerConfig(codecs: PeerConfig['codecs']): Partial<PeerConfig> {
  return {
    codecs,
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [LOOPBACK],
    iceFilterCandidatePair: (pair) => pair.localCandidate.host === LOOPBACK && pair.remoteCandidate.host === LOOPBACK,
    bundlePolicy: 'max-bundle',
  };
}

/** An SDP with every ICE candidate but the loopback ones left out. */
export function loopbackOnly(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || line.split(' ')[4] === LOOPBACK)
    .join('\r\n');
}
