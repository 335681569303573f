/**
 * werift, configured for a WHEP egress in Kubernetes: the PeerConfig built from our ICE
 * settings, and two guards around werift defaults that a server cannot live with. Read with
 * node_modules/werift/lib/ice/src/ice.js (Connection) and common/src/transport.js at hand.
 */

import type { EgressIce } from '@corecast/api';
import { type PeerConfig, type RTCPeerConnection, useH264, useOPUS } from 'werift';
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
  return {
    codecs: {
      video: [useH264({ parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profile}` })],
      audio: [useOPUS()],
    },
    iceServers: settings.iceServers.map((s) => ({ ...s })),
    iceLite: ice.lite,
    iceUseIpv4: true,
    iceUseIpv6: ice.ipv6,
    iceUseTcp: ice.tcp,
    iceTransportPolicy: ice.relayOnly ? 'relay' : 'all',
    // A STUN/TURN server that does not answer must not cost the whole gathering budget (504):
    // after 60 % of it werift gives up on that server and answers with what it has.
    iceStunGatherTimeout: ice.gatherTimeoutSeconds * 0.6,
    iceTurnConnectTimeout: ice.gatherTimeoutSeconds * 0.6,
    ...(ice.portRange ? { icePortRange: [ice.portRange.min, ice.portRange.max] as [number, number] } : {}),
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

/** werift's built-in fallback STUN server (ice.js DEFAULT_STUN_SERVER). */
const WERIFT_DEFAULT_STUN = 'stun.l.google.com';

/**
 * werift falls back to Google's public STUN server whenever no STUN server is configured
 * (`validateAddress(stunServer) ?? DEFAULT_STUN_SERVER`), even with `iceServers: []`: a DNS
 * lookup and a query to the internet per viewer (werift note 1 in egress-pod/README.md). A pod must never do
 * that, and werift has no option to say "no STUN". So, between the moment a description
 * creates the ICE transports and the moment gathering starts, the fallback is removed. When
 * werift's internals no longer look as expected this throws instead of gathering: failing a
 * viewer is better than contacting an outside address.
 */
export function removeDefaultStun(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    const connection = (transport as unknown as { connection?: { stunServer?: unknown } }).connection;
    if (!connection || !('stunServer' in connection)) {
      throw new Error('werift ICE transport has no connection.stunServer; refusing to gather (it may contact a public STUN server)');
    }
    const server = connection.stunServer;
    if (Array.isArray(server) && server[0] === WERIFT_DEFAULT_STUN) connection.stunServer = undefined;
  }
}

/** True when the peer's ICE agents will query no STUN server at all. */
export function usesNoStun(pc: RTCPeerConnection): boolean {
  return pc.iceTransports.every((t) => (t as unknown as { connection: { stunServer?: unknown } }).connection.stunServer === undefined);
}

const guarded = new WeakSet<object>();

/**
 * werift sends on its UDP sockets without a callback and adds no 'error' listener, so one
 * failed send (an unreachable or forbidden address) would be an uncaught 'error' event and end
 * the process. Every socket of the peer gets a listener that reports the error instead.
 */
export function guardSockets(pc: RTCPeerConnection, onError: (err: Error) => void): void {
  for (const transport of pc.iceTransports) {
    const protocols = (transport as unknown as { connection?: { protocols?: unknown[] } }).connection?.protocols ?? [];
    for (const protocol of protocols) {
      const socket = (protocol as { transport?: { socket?: NodeJS.EventEmitter } }).transport?.socket;
      if (socket && typeof socket.on === 'function' && !guarded.has(socket)) {
        guarded.add(socket);
        socket.on('error', onError);
      }
    }
  }
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
