/**
 * Two changes to how werift runs the DTLS handshake of a viewer's peer (webrtc/src/transport/dtls.ts).
 */
import type { RTCDtlsTransport, RTCPeerConnection } from 'werift';

/**
 * Answers `a=setup:passive` (the viewer's DTLS client starts the handshake), instead of werift's
 * `active`. As a DTLS client werift sleeps 100 ms after ICE connects before its first flight
 * (`start`: `await setTimeout(100)`), which is 100 ms of every viewer's time to first frame;
 * as a server it answers the viewer's ClientHello at once. RFC 5763 §5 lets the answerer take
 * either role; its reason to prefer `active` (the offerer cannot start before it has the
 * answer) does not apply to WHEP, where the viewer holds the answer before ICE even starts.
 * Call between setRemoteDescription(offer) and createAnswer(): werift copies the role into the
 * answer's a=setup (sdpManager.ts) and keeps it when the answer is applied.
 */
export function answerAsDtlsServer(pc: RTCPeerConnection): void {
  for (const dtls of pc.dtlsTransports) {
    if (dtls.state === 'new') dtls.role = 'server';
  }
}

/**
 * werift's DTLS handshake retransmits each flight on a timer for up to ~33 s (11 tries) and
 * nothing cancels it when the transport stops, so a session closed mid-handshake would keep its
 * objects and a timer alive that long. Marking the handshake as past every flight ends the loop
 * at its next wake-up (dtls/src/flight/flight.ts `transmit`); a client that has not sent its
 * first flight yet (werift waits 100 ms before `connect`) is kept from starting, since that
 * first flight would reset the mark. Harmless once connected.
 */
export function endDtlsRetransmissions(dtls: RTCDtlsTransport): void {
  const socket = (dtls as unknown as { dtls?: { dtls?: { flight?: unknown }; connect?: unknown } }).dtls;
  if (!socket) return;
  if (typeof socket.connect === 'function') socket.connect = async () => {};
  if (socket.dtls && typeof socket.dtls.flight === 'number') socket.dtls.flight = Number.MAX_SAFE_INTEGER;
}
