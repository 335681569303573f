/**
 * The last step of the fan-out for one viewer and one kind: a shared source packet goes out
 * with this viewer's sequence number and timestamp, on its werift sender. Keyframe requests
 * (PLI and FIR) from the viewer are reported here too.
 */
import { type RTCRtpSender, RtcpPayloadSpecificFeedback, type RtpPacket } from 'werift';

const ignore = (): void => {};

/** FIR's feedback message type in a PSFB packet (RFC 5104 §4.3.1). */
const FIR_FMT = 4;

/** Sends packets of the fan-out on one werift sender. */
export class ViewerSender {
  readonly #sender: RTCRtpSender;

  constructor(sender: RTCRtpSender) {
    this.#sender = sender;
  }

  /** Sends `packet` as (`seq`, `timestamp`); the packet is shared and is not modified. */
  send(packet: RtpPacket, seq: number, timestamp: number): void {
    const out = packet.clone();
    out.header.sequenceNumber = seq;
    out.header.timestamp = timestamp;
    this.#sender.sendRtp(out).catch(ignore);
  }

  /** Stops sending (idempotent). */
  close(): void {}
}

/**
 * Calls `onRequest` for every PLI (RFC 4585 §6.3.1) and FIR (RFC 5104 §4.3.1) the viewer sends
 * on this sender; werift reports PLI itself but passes FIR only as a raw RTCP packet.
 */
export function onKeyframeRequest(sender: RTCRtpSender, onRequest: () => void): () => void {
  const pli = sender.onPictureLossIndication.subscribe(onRequest);
  const fir = sender.onRtcp.subscribe((rtcp) => {
    if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback.count === FIR_FMT) onRequest();
  });
  return () => {
    pli.unSubscribe();
    fir.unSubscribe();
  };
}
