/**
 * A headless WHEP viewer built on werift, for load and soak runs against any WHEP URL.
 *
 * Load viewers count RTP at the ICE transport and go no further: the RTP header is not
 * encrypted (RFC 3711 §3.1), so sequence numbers — all a loss count needs — are read without
 * werift's receive path (decryption, parsing, jitter and NACK bookkeeping), which would make the
 * load generator, not the server, the bottleneck. `verify` viewers decrypt for real, proving the
 * media itself is intact.
 *
 * Only loopback is used: the peer advertises 127.0.0.1 (or the local address it is given), and
 * candidates and pairs on any other address are dropped, so no packet leaves the machine. werift's default STUN server
 * (a public address) is replaced by a loopback address with a short gather time-out.
 */
import { interceptIceData, LOOPBACK, offerOnlySrtpProfile, setIceReceiveBuffer, srtpProfileOf } from '@corecast/rtc-fastpath';
import { type MediaStreamTrack, RTCPeerConnection, type RtpPacket, useH264, useOPUS } from 'werift';

/** What one viewer saw. */
export interface ViewerStats {
  /** RTP packets received per kind. */
  packets: { video: number; audio: number };
  /** Packets missing from the sequence (gaps), per kind. */
  lost: { video: number; audio: number };
  /** Milliseconds from POST to the first RTP packet. */
  firstPacketMs: number | null;
  /**
   * Milliseconds from POST to the first video packet that starts a keyframe (an IDR slice or the
   * SPS before one): when a player can show its first frame. Verify viewers only (the others
   * never decrypt a payload); null otherwise.
   */
  firstKeyframeMs: number | null;
}

/** Options of one viewer. */
export interface ViewerOptions {
  /** The WHEP endpoint. */
  url: string;
  /** Bearer token, if the server wants one. */
  token?: string;
  /** Decrypt SRTP for real (slower) instead of reading headers only. */
  verify?: boolean;
  /**
   * SRTP protection profile the viewer accepts (it is the DTLS server, so it picks): 'ctr'
   * (AES_CM_128_HMAC_SHA1_80, what Chromium negotiates with werift) or 'gcm' (AEAD_AES_128_GCM).
   */
  srtp?: 'ctr' | 'gcm';
  /** Kernel receive buffer of the viewer's UDP sockets (bytes; the system default when unset). */
  receiveBuffer?: number;
  /**
   * The server makes the offer (Janus's streaming plugin does): POST with no body answers 201
   * with the server's offer, the viewer PATCHes its answer to the Location. Otherwise the viewer
   * offers, as WHEP has it.
   */
  serverOffer?: boolean;
  /**
   * The one address ICE uses, on both sides (127.0.0.1 by default): candidates and pairs on any
   * other are dropped. Another local address serves a server that will not gather on loopback
   * (Janus), in a network namespace of its own.
   */
  address?: string;
}

/** Counts a sequence-number stream: packets and gaps (16-bit wrap aware, RFC 3550 §A.1 in spirit). */
class SequenceCounter {
  packets = 0;
  lost = 0;
  private last = -1;
  add(seq: number): void {
    this.packets++;
    if (this.last >= 0) {
      const delta = (seq - this.last + 0x10000) & 0xffff;
      if (delta === 0 || delta > 0x8000) return; // duplicate or late (reordered) packet
      this.lost += delta - 1;
    }
    this.last = seq;
  }
}

/**
 * True when an H.264 RTP payload (RFC 6184) starts a keyframe: a single NAL unit, the first
 * fragment of an FU-A, or a STAP-A aggregate whose first NAL unit is an IDR slice (5) or an SPS (7).
 */
export function startsKeyframe(payload: Buffer): boolean {
  if (payload.length < 2) return false;
  let type = payload[0]! & 0x1f;
  if (type === 24 && payload.length > 3)
    type = payload[3]! & 0x1f; // STAP-A: 2-byte size, then the NAL header
  else if (type === 28) {
    if (!(payload[1]! & 0x80)) return false; // FU-A: only the fragment with the start bit
    type = payload[1]! & 0x1f;
  }
  return type === 5 || type === 7;
}

/** A connected viewer. */
export class WhepViewer {
  /** The receive buffer the viewer's sockets got (bytes; 0 when left at the default). */
  receiveBuffer = 0;
  readonly stats: ViewerStats = {
    packets: { video: 0, audio: 0 },
    lost: { video: 0, audio: 0 },
    firstPacketMs: null,
    firstKeyframeMs: null,
  };
  private readonly pc: RTCPeerConnection;
  private readonly counters = { video: new SequenceCounter(), audio: new SequenceCounter() };
  private location: string | null = null;
  private started = 0;
  private readonly options: ViewerOptions;
  /** The one address of ICE candidates (ViewerOptions.address). */
  private readonly address: string;

  constructor(options: ViewerOptions) {
    this.options = options;
    this.address = options.address ?? LOOPBACK;
    this.pc = new RTCPeerConnection({
      codecs: {
        video: [useH264({ parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
        audio: [useOPUS()],
      },
      iceServers: [{ urls: `stun:${LOOPBACK}:9` }],
      iceStunGatherTimeout: 0.2,
      iceAdditionalHostAddresses: [this.address],
      iceUseIpv6: false,
      iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === this.address && pair.localCandidate.host === this.address,
    });
  }

  /** Connects (see `serverOffer`); resolves once both descriptions are applied. */
  async connect(): Promise<void> {
    if (this.options.serverOffer) return this.connectToOffer();
    const video = this.pc.addTransceiver('video', { direction: 'recvonly' });
    const audio = this.pc.addTransceiver('audio', { direction: 'recvonly' });
    for (const t of [video, audio]) t.onTrack.subscribe((track) => this.count(track));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.prepareTransport();
    this.started = performance.now();
    const res = await fetch(this.options.url, {
      method: 'POST',
      headers: this.sdpHeaders(),
      body: this.onlyOurAddress(this.pc.localDescription?.sdp ?? ''),
    });
    if (res.status !== 201) throw new Error(`POST ${this.options.url}: ${res.status} ${await res.text()}`);
    this.keepLocation(res);
    const answer = this.onlyOurAddress(await res.text());
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    if (!this.options.verify) this.countAtTheTransport(answer);
  }

  /**
   * The server-offer form: POST with no body, the server's offer in the 201, the viewer's answer
   * sent with PATCH to the session's Location (204 expected).
   */
  private async connectToOffer(): Promise<void> {
    this.started = performance.now();
    const res = await fetch(this.options.url, { method: 'POST', headers: this.sdpHeaders() });
    if (res.status !== 201) throw new Error(`POST ${this.options.url}: ${res.status} ${await res.text()}`);
    this.keepLocation(res);
    if (!this.location) throw new Error(`POST ${this.options.url}: no Location to send the answer to`);
    const offer = this.onlyOurAddress(await res.text());
    // The transceivers come with the offer, and their tracks as it is applied.
    this.pc.onTrack.subscribe((track) => this.count(track));
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    for (const t of this.pc.getTransceivers()) t.setDirection('recvonly');
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.prepareTransport();
    const patch = await fetch(this.location, {
      method: 'PATCH',
      headers: this.sdpHeaders(),
      body: this.onlyOurAddress(this.pc.localDescription?.sdp ?? ''),
    });
    if (patch.status !== 204) throw new Error(`PATCH ${this.location}: ${patch.status} ${await patch.text()}`);
    if (!this.options.verify) this.countAtTheTransport(offer);
  }

  /** Counts a track's RTP (verify viewers: werift's decrypted packets). */
  private count(track: MediaStreamTrack): void {
    const kind = track.kind === 'video' ? 'video' : 'audio';
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      this.onRtp(kind, rtp.header.sequenceNumber);
      if (kind === 'video' && this.stats.firstKeyframeMs === null && startsKeyframe(rtp.payload))
        this.stats.firstKeyframeMs = performance.now() - this.started;
    });
  }

  /** The chosen SRTP profile only, and the receive buffers; once the transports exist, before DTLS. */
  private prepareTransport(): void {
    // Only the chosen profile is offered in the DTLS handshake, so the server has to use it.
    offerOnlySrtpProfile(this.pc, this.options.srtp ?? 'ctr');
    if (this.options.receiveBuffer) this.receiveBuffer = setIceReceiveBuffer(this.pc, this.options.receiveBuffer);
  }

  /** The SDP without candidates on any address but ours. */
  private onlyOurAddress(sdp: string): string {
    return sdp
      .split('\r\n')
      .filter((line) => !line.startsWith('a=candidate:') || line.split(' ')[4] === this.address)
      .join('\r\n');
  }

  private sdpHeaders(): Record<string, string> {
    return { 'content-type': 'application/sdp', ...this.authHeaders() };
  }

  private keepLocation(res: Response): void {
    const location = res.headers.get('location');
    this.location = location ? new URL(location, this.options.url).toString() : null;
  }

  private onRtp(kind: 'video' | 'audio', seq: number): void {
    if (this.stats.firstPacketMs === null) this.stats.firstPacketMs = performance.now() - this.started;
    const c = this.counters[kind];
    c.add(seq);
    this.stats.packets[kind] = c.packets;
    this.stats.lost[kind] = c.lost;
  }

  /** The SRTP profile in use once connected ('ctr', 'gcm' or undefined). */
  get srtpProfile(): string | undefined {
    return srtpProfileOf(this.pc);
  }

  /**
   * Counts RTP straight off the ICE transport and drops it there (see the file comment): werift
   * then never parses, decrypts or buffers media, while DTLS, STUN and RTCP still reach it. Its
   * receiver sees no RTP, so it sends no receiver reports or NACKs; ICE consent checks (every
   * ~5 s) are what keep the session alive on the server.
   */
  private countAtTheTransport(answer: string): void {
    const pt = (codec: string) => Number(new RegExp(`^a=rtpmap:(\\d+) ${codec}/`, 'im').exec(answer)?.[1] ?? -1);
    const video = pt('H264');
    const audio = pt('opus');
    interceptIceData(this.pc, (data) => {
      // RFC 5764 §5.1.2: first byte 128–191 is RTP or RTCP; RTCP packet types are 192–223 (RFC 5761 §4).
      const first = data[0]!;
      const second = data[1]!;
      if (first < 128 || first > 191 || (second >= 192 && second <= 223)) return false;
      const type = second & 0x7f;
      if (type === video) this.onRtp('video', data.readUInt16BE(2));
      else if (type === audio) this.onRtp('audio', data.readUInt16BE(2));
      return true;
    });
  }

  /** Ends the session (DELETE, unless `vanish`: then the server must notice by itself) and closes the peer. */
  async close(options: { vanish?: boolean } = {}): Promise<void> {
    if (this.location && !options.vanish)
      await fetch(this.location, { method: 'DELETE', headers: this.authHeaders() }).catch(() => undefined);
    await this.pc.close();
  }

  /** Resolves once the first RTP packet arrived (or rejects after `timeoutMs`). */
  async firstPacket(timeoutMs = 20000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (this.stats.firstPacketMs === null) {
      if (performance.now() > until) throw new Error(`no RTP within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private authHeaders(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
  }
}
