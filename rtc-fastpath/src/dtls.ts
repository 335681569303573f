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

/** The DTLS socket's parts a record is sealed and sent with (werift's DtlsSocket, dtls/src/socket.ts). */
interface DtlsSocketParts {
  dtls?: { version?: { major: number; minor: number }; epoch?: number; recordSequenceNumber?: number };
  cipher?: { encryptPacket?: (pkt: SealedRecord) => SealedRecord };
  transport?: { send?: (buf: Buffer) => Promise<unknown> };
}

interface SealedRecord {
  recordLayerHeader: {
    contentType: number;
    protocolVersion: { major: number; minor: number };
    epoch: number;
    sequenceNumber: number;
    contentLen: number;
  };
  fragment: Buffer;
}

/**
 * Tells the viewer that the session is over: a DTLS close_notify alert (RFC 6347 §4.1, RFC 5246
 * §7.2.1), which werift does not send when it stops a transport ("todo impl send alert" in
 * `RTCDtlsTransport.stop`). Without it a viewer learns of a server-side close only when its ICE
 * consent checks go unanswered — seconds; with it the browser's DTLS transport closes at once
 * and a player reconnects straight away (the egress's drain relies on this). The record is
 * sealed as werift seals application data (`DtlsSocket.send`): the next record sequence number
 * of the current epoch, the session's cipher, sent on the transport. Best effort: a transport
 * that is not connected, or a werift that no longer looks like this, sends nothing.
 */
export function sendCloseNotify(dtls: RTCDtlsTransport): void {
  if (dtls.state !== 'connected') return;
  const socket = (dtls as unknown as { dtls?: DtlsSocketParts }).dtls;
  const context = socket?.dtls;
  const encrypt = socket?.cipher?.encryptPacket;
  const send = socket?.transport?.send;
  if (!context?.version || typeof context.epoch !== 'number' || typeof context.recordSequenceNumber !== 'number') return;
  if (typeof encrypt !== 'function' || typeof send !== 'function') return;
  context.recordSequenceNumber++;
  // Alert level 1 (warning), description 0 (close_notify); content type 21 (alert).
  const record: SealedRecord = {
    recordLayerHeader: {
      contentType: 21,
      protocolVersion: context.version,
      epoch: context.epoch,
      sequenceNumber: context.recordSequenceNumber,
      contentLen: 2,
    },
    fragment: Buffer.from([1, 0]),
  };
  const sealed = encrypt.call(socket!.cipher, record);
  const h = sealed.recordLayerHeader;
  const out = Buffer.alloc(13 + sealed.fragment.length);
  out.writeUInt8(h.contentType, 0);
  out.writeUInt8(h.protocolVersion.major, 1);
  out.writeUInt8(h.protocolVersion.minor, 2);
  out.writeUInt16BE(h.epoch, 3);
  out.writeUIntBE(h.sequenceNumber, 5, 6);
  out.writeUInt16BE(sealed.fragment.length, 11);
  sealed.fragment.copy(out, 13);
  send.call(socket!.transport, out).catch(() => {});
}
