/**
 * Two guards around werift's ICE agent (ice/src/ice.ts `Connection`, each ICE transport's
 * `connection`) that a server cannot do without: no query to a public STUN server, and no
 * process-ending 'error' event from a peer's UDP socket.
 */
import type { RTCIceTransport, RTCPeerConnection } from 'werift';
import { isMuxSocket } from './mux/udp-mux.ts';

/** The agent's protocols, one per gathered address (private in werift's types). */
function protocolsOf(transport: RTCIceTransport): unknown[] {
  // `unknown` first: werift declares `protocols` private.
  return (transport.connection as unknown as { protocols?: unknown[] } | undefined)?.protocols ?? [];
}

/** werift's built-in fallback STUN server (ice.ts `DEFAULT_STUN_SERVER`). */
const WERIFT_DEFAULT_STUN = 'stun.l.google.com';

/**
 * werift falls back to Google's public STUN server whenever no STUN server is configured
 * (`validateAddress(stunServer) ?? DEFAULT_STUN_SERVER`), even with `iceServers: []`: a DNS
 * lookup and a query to the internet per peer. A pod must never do that, and werift has no
 * option to say "no STUN". Call after a description has created the ICE transports and before
 * gathering starts. When werift's internals no longer look as expected this throws instead:
 * failing a viewer is better than contacting an outside address.
 */
export function removeDefaultStun(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    // `stunServer` is a public field, but werift sets it in the constructor: an agent without the
    // own property is one whose fallback may come from elsewhere.
    const connection = transport.connection as RTCIceTransport['connection'] | undefined;
    if (!connection || !('stunServer' in connection)) {
      throw new Error('werift ICE transport has no connection.stunServer; refusing to gather (it may contact a public STUN server)');
    }
    const server = connection.stunServer;
    if (Array.isArray(server) && server[0] === WERIFT_DEFAULT_STUN) connection.stunServer = undefined;
  }
}

/** True when the peer's ICE agents will query no STUN server at all. */
export function usesNoStun(pc: RTCPeerConnection): boolean {
  return pc.iceTransports.every((t) => t.connection !== undefined && t.connection.stunServer === undefined);
}

/** The STUN server each ICE agent of the peer will query (undefined: none), in transport order. */
export function stunServersOf(pc: RTCPeerConnection): unknown[] {
  return pc.iceTransports.map((t) => t.connection?.stunServer);
}

const guarded = new WeakSet<object>();

/**
 * werift sends on its UDP sockets without a callback and adds no 'error' listener, so one
 * failed send (an unreachable or forbidden address) would be an uncaught 'error' event and end
 * the process. Every socket the peer has bound so far gets a listener that reports the error
 * instead; call again after each gathering.
 */
export function guardSockets(pc: RTCPeerConnection, onError: (err: Error) => void): void {
  for (const transport of pc.iceTransports) {
    for (const protocol of protocolsOf(transport)) {
      const socket = (protocol as { transport?: { socket?: NodeJS.EventEmitter } }).transport?.socket;
      // The ICE mux's shared socket has its own listener; one of a peer's would keep the peer alive.
      if (socket && typeof socket.on === 'function' && !guarded.has(socket) && !isMuxSocket(socket)) {
        guarded.add(socket);
        socket.on('error', onError);
      }
    }
  }
}
