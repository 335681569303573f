/**
 * werift, configured for a WHEP egress in Kubernetes: the PeerConfig built from our ICE
 * settings, and the ICE restart werift does not run by itself. The guards around werift's ICE
 * internals (no public STUN server, socket errors) are in @corecast/rtc-fastpath.
 */

import type { EgressIce } from '@corecast/api';
import { type PeerConfig, type RTCPeerConnection, useH264, useOPUS } from 'werift';
import { currentMux } from '@corecast/rtc-fastpath';
import type { IceServerEntry } from '../config.ts';
import { type Candidate, PREFERRED_PROFILE } from './sdp.ts';

/** What a viewer's peer connection is built from. */
export interface PeerSettings {
  /** Validated ICE settings. */
  readonly ice: EgressIce;
  /** Addresses to advertise besides (or, with advertise.only, instead of) the gathered ones. */
  readonly advertised: readonly string[];
  /** STUN/TURN servers with current credentials. */
  readonly iceServers: readonly IceServerEntry[];
}

/**
 * The werift configuration of one viewer. `profileLevelId` pins the H.264 entry to the one
 * chosen from the offer (werift answers the first matching entry and compares it as a string,
 * werift note 3 in egress-pod/README.md). `onStun` sees every STUN request from the viewer (liveness).
 */
export function peerConfig(settings: PeerSettings, profileLevelId: string | undefined, onStun: () => void): Partial<PeerConfig> {
  const { ice } = settings;
  const profile = profileLevelId ?? PREFERRED_PROFILE;
  const keep = advertisedOnly(settings);
  // On the pod's one media port (ice-mux.ts) every gathered address is the same socket: with
  // advertise.only, werift gathers the advertised addresses alone (no interface address to filter).
  const mux = currentMux() !== undefined;
  const gather = !(mux && ice.advertise.only);
  return {
    codecs: {
      video: [useH264({ parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profile}` })],
      audio: [useOPUS()],
    },
    iceServers: settings.iceServers.map((s) => ({ ...s })),
    iceLite: ice.lite,
    iceUseIpv4: gather,
    iceUseIpv6: gather && ice.ipv6,
    // ice.tcpPort: passive ICE-TCP on the pod's one TCP port (ice-mux.ts).
    iceUseTcp: ice.tcp || ice.tcpPort !== undefined,
    iceTransportPolicy: ice.relayOnly ? 'relay' : 'all',
    // A STUN/TURN server that does not answer must not cost the whole gathering budget (504):
    // after 60 % of it werift gives up on that server and answers with what it has.
    iceStunGatherTimeout: ice.gatherTimeoutSeconds * 0.6,
    iceTurnConnectTimeout: ice.gatherTimeoutSeconds * 0.6,
    ...(ice.portRange && !mux ? { icePortRange: [ice.portRange.min, ice.portRange.max] as [number, number] } : {}),
    ...(settings.advertised.length > 0 ? { iceAdditionalHostAddresses: [...settings.advertised] } : {}),
    // Only advertised addresses take part in checks, so no packet leaves from another one.
    ...(keep ? { iceFilterCandidatePair: (pair) => keep({ type: pair.localCandidate.type, address: pair.localCandidate.host }) } : {}),
    iceFilterStunResponse: () => {
      onStun();
      return true;
    },
  };
}

/** With advertise.only: the candidates that may be advertised and used (listed hosts, relays). */
export function advertisedOnly(settings: PeerSettings): ((c: Pick<Candidate, 'type' | 'address'>) => boolean) | undefined {
  if (!settings.ice.advertise.only) return undefined;
  const allowed = new Set(settings.advertised);
  return (c) => c.type === 'relay' || allowed.has(c.address);
}

/**
 * Writes `ice.advertisedPort` (and `ice.advertisedTcpPort`) into the answer's host candidates
 * in place of the port the pod binds. A NodePort Service reaches the pod's ICE port through the
 * node's port: kube-proxy rewrites nodeIP:nodePort to podIP:udpPort, so the viewer must be told
 * the node port while werift keeps its bound one. Candidates of other types (srflx, relay) keep
 * theirs: a STUN or TURN server saw the real mapping.
 */
export function advertisePorts(sdp: string, ice: Pick<EgressIce, 'advertisedPort' | 'advertisedTcpPort'>): string {
  if (ice.advertisedPort === undefined && ice.advertisedTcpPort === undefined) return sdp;
  // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  return sdp.replace(/^(a=candidate:\S+ \S+ )(\S+)( \S+ \S+ )(\d+)( typ host\b)/gim, (line, head, transport, mid, port, tail) => {
    const advertised = String(transport).toLowerCase() === 'tcp' ? ice.advertisedTcpPort : ice.advertisedPort;
    return advertised === undefined ? line : `${head}${transport}${mid}${advertised}${tail}`;
  });
}

/**
 * After an ICE restart werift does not run ICE again when DTLS is already up (its `connect()`
 * returns early on a connected DTLS transport), so the restarted agent never checks or
 * nominates a pair and media stops. Call this once the restart's offer and answer are both
 * applied: it starts ICE on every transport (with BUNDLE, the one), as a first connect would.
 */
export function startRestartedIce(pc: RTCPeerConnection, onError: (err: Error) => void): void {
  for (const transport of pc.iceTransports) {
    if (transport.state !== 'closed') transport.start().catch(onError);
  }
}
