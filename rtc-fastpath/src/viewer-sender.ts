/**
 * The last step of the fan-out for one viewer and one kind: a shared source packet goes out
 * with this viewer's SSRC, payload type, sequence number and timestamp.
 *
 * werift's `RTCRtpSender.sendRtp` clones every packet, rebuilds its header extensions, keeps
 * it for NACKs, serializes the header, encrypts through per-packet crypto objects, concatenates
 * the result and awaits three promises down to `dgram` — for every viewer. The fast path here
 * (a layer that belongs in werift, kept in this repo until it is upstream) writes the header
 * straight into the final buffer, protects it with `srtp.ts`, and sends it on the nominated
 * pair's UDP socket, allocating one buffer per packet and viewer. It keeps what werift's
 * sender would otherwise have done: the counters its RTCP sender reports use, retransmission
 * on a viewer's NACK (RFC 4585 §6.2.1), and RFC 7675 consent before sending. Anything it does
 * not cover (header extensions, RED, TURN or TCP pairs, an unknown SRTP profile) goes through
 * werift's own path. Where the addon protects SRTP (native-srtp.ts), the header, SRTP and send
 * of a packet to a viewer on the mux's UDP socket are one job in a native batch instead.
 */
import type { Socket } from 'node:dgram';
import type { RTCDtlsTransport, RTCRtpSender, RtcpPayloadSpecificFeedback, RtpPacket } from 'werift';
import { rtpHeaderLength, writeRtpHeader } from './rtp-header.ts';
import { packetBuffer, sendingOn } from './arena.ts';
import { keptIntact } from './kept.ts';
import { sendBatched } from './batch-send.ts';
import { sendDirectly } from './direct-send.ts';
import { endDtlsRetransmissions } from './dtls.ts';
import { ntpNow } from './ntp.ts';
import { NativeSrtp, sendProtected } from './native-srtp.ts';
import { createSrtpWriter, type SrtpKeys, type SrtpWriter, useKeyObjects } from './srtp.ts';

const ignore = (): void => {};

/** FIR's feedback message type in a PSFB packet (RFC 5104 §4.3.1). */
const FIR_FMT = 4;
/** RTCP payload-specific feedback (RFC 4585 §6.1). */
const PSFB = 206;

/** Packets kept per sender for retransmission (~0.8 s of 2.5 Mbps video). */
const HISTORY = 256;

/** The fields of werift's sender this layer reads or keeps up to date (private in its types). */
interface SenderInternals {
  stopped: boolean;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  packetCount: number;
  headerExtensions: unknown[];
  redRedundantPayloadType?: number;
  /** Set (synchronously) once `runRtcp` has started its sender-report loop. */
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
}

/** werift's ICE connection as used here (ice/src/ice.ts; `canSendApplicationData` is private there). */
interface ConnectionInternals {
  nominated?: {
    protocol: { type: string; transport?: { type: string; closed?: boolean; socket?: Socket } };
    /** Read field by field: the pair's `remoteAddr` getter makes a new array per call. */
    remoteCandidate: { host: string; port: number };
  };
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}

/** Sends packets of the fan-out on one werift sender. */
export class ViewerSender {
  readonly #sender: RTCRtpSender;
  readonly #internals: SenderInternals;
  #srtp: unknown;
  #writer: SrtpWriter | undefined;
  /** The same keys in the addon, where it protects SRTP. */
  #native: NativeSrtp | undefined;
  /** Rollover counter and highest sequence number sent (RFC 3711 §3.3.1). */
  #roc = 0;
  #highest = -1;
  readonly #history: (RtpPacket | undefined)[] = new Array(HISTORY);
  readonly #historySeq = new Int32Array(HISTORY).fill(-1);
  readonly #historyTs = new Uint32Array(HISTORY);
  readonly #unsubscribe: () => void;
  /** The last socket given sendDirectly. */
  #directSocket: Socket | undefined;

  constructor(sender: RTCRtpSender) {
    this.#sender = sender;
    // `unknown` first: werift declares these fields private.
    this.#internals = sender as unknown as SenderInternals;
    this.#unsubscribe = sender.onGenericNack.subscribe((nack) => this.#retransmit(nack.lost)).unSubscribe;
  }

  /** Sends `packet` as (`seq`, `timestamp`); the packet is shared and is not modified. */
  send(packet: RtpPacket, seq: number, timestamp: number): void {
    const sender = this.#sender;
    const dtls = sender.dtlsTransport;
    const codec = sender.codec;
    if (this.#internals.stopped || !codec || dtls?.state !== 'connected') return;
    const writer = this.#writerFor(dtls);
    const internals = this.#internals;
    if (!writer || packet.header.extension || internals.headerExtensions.length > 0 || internals.redRedundantPayloadType !== undefined) {
      this.#slow(packet, seq, timestamp);
      return;
    }
    this.#transmit(dtls, writer, packet, seq, timestamp, codec.payloadType);
    const slot = seq % HISTORY;
    this.#history[slot] = packet;
    this.#historySeq[slot] = seq;
    this.#historyTs[slot] = timestamp;
    // What werift's RTCP sender reports (RFC 3550 §6.4.1): NTP and RTP time of the last packet.
    internals.ntpTimestamp = ntpNow();
    internals.rtpTimestamp = timestamp;
    internals.octetCount += packet.payload.length;
    internals.packetCount = (internals.packetCount + 1) >>> 0;
    // runRtcp is async: calling it makes a promise even when its loop already runs (per packet and viewer).
    if (!internals.rtcpRunning) internals.runRtcp().catch(ignore);
  }

  /** Stops answering NACKs and forgets the history (idempotent). */
  close(): void {
    this.#unsubscribe();
    this.#history.fill(undefined);
    this.#native?.release();
    this.#native = undefined;
    const dtls = this.#sender.dtlsTransport;
    if (dtls) endDtlsRetransmissions(dtls);
  }

  #transmit(dtls: RTCDtlsTransport, writer: SrtpWriter, packet: RtpPacket, seq: number, timestamp: number, payloadType: number): void {
    const connection = dtls.iceTransport.connection as unknown as ConnectionInternals;
    // RFC 7675 §5.1: no media without consent (werift's own send checks the same).
    if (!connection.canSendApplicationData()) return;
    const pair = connection.nominated!;
    const transport = pair.protocol.transport;
    const socket = pair.protocol.type === 'stun' && transport?.type === 'udp' && !transport.closed ? transport.socket : undefined;
    const roc = this.#rocOf(seq);
    if (socket) {
      if (socket !== this.#directSocket) {
        // Later packets go out before `send` returns, inside the worker's time slice
        // (direct-send.ts) — but not before what werift has under way on this socket (its last
        // DTLS flight goes through promises first) has gone out: SRTP must not overtake it.
        this.#directSocket = socket;
        setImmediate(() => sendDirectly(socket));
      }
      const native = this.#nativeFor();
      if (native) {
        // Header, SRTP and sendmmsg in the addon, with the slice's other jobs on this socket.
        const remote = pair.remoteCandidate;
        native.target(remote.host, remote.port);
        dtls.bytesSent += sendProtected(socket, native, packet, payloadType, seq, timestamp, roc, writer.tagLength);
        dtls.packetsSent++;
        return;
      }
    }
    const header = packet.header;
    const headerLength = rtpHeaderLength(header);
    const size = writer.prefix + headerLength + packet.payload.length + writer.tagLength;
    // Straight to the socket: a buffer of the recycled arena; werift's path (TURN, TCP) keeps
    // the buffer for a while: one of its own.
    const buf = socket ? packetBuffer(size) : Buffer.alloc(size);
    writeRtpHeader(buf, writer.prefix, header, payloadType, seq, timestamp, this.#sender.ssrc);
    const out = writer.protect(buf, headerLength, packet.payload, this.#sender.ssrc, seq, roc);
    if (socket) {
      sendingOn(socket);
      // With the addon, in one sendmmsg with the slice's other packets on this socket (batch-send.ts).
      const remote = pair.remoteCandidate;
      sendBatched(socket, out, remote.port, remote.host);
    } else {
      connection.send(out).catch(ignore);
    }
    dtls.bytesSent += out.length;
    dtls.packetsSent++;
  }

  /** The SRTP writer for the transport's current keys (werift makes them when DTLS connects). */
  #writerFor(dtls: RTCDtlsTransport): SrtpWriter | undefined {
    const srtp = dtls.srtp;
    if (srtp !== this.#srtp) {
      this.#srtp = srtp;
      this.#roc = 0;
      this.#highest = -1;
      // werift's own SRTP/SRTCP (RTCP both ways, its fallback RTP path) gets cheap keys too.
      for (const session of [srtp, dtls.srtcp]) {
        useKeyObjects(session?.localContext);
        useKeyObjects(session?.remoteContext);
      }
      try {
        this.#writer = createSrtpWriter(srtp.localContext as unknown as SrtpKeys);
      } catch {
        this.#writer = undefined;
      }
      this.#native?.release();
      this.#native = this.#writer ? this.#createNative() : undefined;
    }
    return this.#writer;
  }

  /** The current keys in the addon (undefined where it does not protect them). */
  #createNative(): NativeSrtp | undefined {
    const keys = (this.#srtp as { localContext?: SrtpKeys } | undefined)?.localContext;
    if (!keys) return undefined;
    try {
      return NativeSrtp.create(keys, this.#sender.ssrc);
    } catch {
      // Keys the addon refuses: the JavaScript writer protects them.
      return undefined;
    }
  }

  /** The addon's context for the current keys and this sender's SSRC (undefined: protect in JavaScript). */
  #nativeFor(): NativeSrtp | undefined {
    const native = this.#native;
    if (native && native.ssrc !== this.#sender.ssrc) {
      native.release();
      this.#native = this.#createNative();
    }
    return this.#native;
  }

  /** The rollover counter of `seq`, advancing it when the sequence wraps (RFC 3711 §3.3.1). */
  #rocOf(seq: number): number {
    if (this.#highest < 0) {
      this.#highest = seq;
      return this.#roc;
    }
    const delta = (seq - this.#highest) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < this.#highest) this.#roc = (this.#roc + 1) >>> 0;
      this.#highest = seq;
      return this.#roc;
    }
    // Not newer: a retransmission, from before the last wrap when its number is higher.
    return seq > this.#highest && this.#roc > 0 ? this.#roc - 1 : this.#roc;
  }

  /** Resends packets a viewer reported lost, if still in the history. */
  #retransmit(lost: readonly number[]): void {
    const sender = this.#sender;
    const dtls = sender.dtlsTransport;
    const codec = sender.codec;
    if (!codec || dtls?.state !== 'connected') return;
    const writer = this.#writerFor(dtls);
    if (!writer) return;
    for (const seq of lost) {
      const slot = seq % HISTORY;
      const packet = this.#history[slot];
      if (!packet || this.#historySeq[slot] !== seq) continue;
      // A kept packet's bytes may have been written over since (kept.ts): then it is not resent.
      const h = packet.header;
      if (!keptIntact(packet.payload, h.payloadOffset, h.sequenceNumber, h.timestamp, h.ssrc)) continue;
      this.#transmit(dtls, writer, packet, seq, this.#historyTs[slot]!, codec.payloadType);
    }
  }

  /** werift's own path, for what the fast path does not cover. */
  #slow(packet: RtpPacket, seq: number, timestamp: number): void {
    // werift keeps the packet for its own NACK answers: with a payload of its own, since a kept
    // packet's bytes are written over once the fan-out no longer needs them (kept.ts).
    const out = packet.clone();
    out.payload = Buffer.from(packet.payload);
    out.header.extensions = packet.header.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload) }));
    out.header.sequenceNumber = seq;
    out.header.timestamp = timestamp;
    this.#sender.sendRtp(out).catch(ignore);
  }
}

/**
 * Calls `onRequest` for every PLI (RFC 4585 §6.3.1) and FIR (RFC 5104 §4.3.1) the viewer sends
 * about this sender's stream. werift reports PLI on the sender, but routes a FIR by its (unused,
 * zero) media SSRC and so never delivers it: FIRs are read off the DTLS transport instead, by
 * the SSRC in their FCI, and a repeated FIR (same sequence number, §4.3.1.2) counts once.
 */
export function onKeyframeRequest(sender: RTCRtpSender, onRequest: () => void): () => void {
  const pli = sender.onPictureLossIndication.subscribe(onRequest);
  let lastFir = -1;
  const fir = sender.dtlsTransport.onRtcp.subscribe((rtcp) => {
    // Payload-specific feedback (RFC 4585 §6.1: packet type 206) by its type, not werift's class:
    // this module is loaded where werift's values are not (a pod's main thread).
    if (rtcp.type !== PSFB || (rtcp as RtcpPayloadSpecificFeedback).feedback.count !== FIR_FMT) return;
    const entries =
      ((rtcp as RtcpPayloadSpecificFeedback).feedback as unknown as { fir?: { ssrc: number; sequenceNumber: number }[] }).fir ?? [];
    const entry = entries.find((e) => e.ssrc === sender.ssrc);
    if (!entry || entry.sequenceNumber === lastFir) return;
    lastFir = entry.sequenceNumber;
    onRequest();
  });
  return () => {
    pli.unSubscribe();
    fir.unSubscribe();
  };
}
