/**
 * A real WHEP viewer on werift for integration tests: offers recvonly H.264 + Opus, keeps
 * every received packet's header (and the first video payloads), and can trickle, restart ICE
 * and DELETE. Only loopback is used: it advertises and pairs 127.0.0.1 only, and werift's
 * fallback to a public STUN server is removed before it gathers.
 */

import { startRestartedIce } from '@corecast/egress-pod';
import { removeDefaultStun, setIceReceiveBuffer } from '@corecast/rtc-fastpath';
import { RTCPeerConnection, type RtpPacket, useH264, useOPUS } from 'werift';

const LOOPBACK = '127.0.0.1';

/** What one received RTP packet looked like. */
export interface Received {
  /** Sequence number as received. */
  readonly seq: number;
  /** Timestamp as received. */
  readonly timestamp: number;
  /** SSRC as received. */
  readonly ssrc: number;
  /** First byte(s) of the payload (the H.264 NAL or FU headers). */
  readonly head: Buffer;
}

/** Keeps loopback candidates only (and every other line). */
export function loopbackCandidates(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((l) => l !== '' && (!l.startsWith('a=candidate:') || l.split(' ')[4] === LOOPBACK))
    .map((l) => `${l}\r\n`)
    .join('');
}

/** A werift viewer. */
export class WhepTestClient {
  /** The peer connection (tests may inspect it). */
  readonly pc: RTCPeerConnection;
  /** Received packets by kind (headers; payload heads). */
  readonly received: { video: Received[]; audio: Received[] } = { video: [], audio: [] };
  /** Session URL after a 201. */
  location: string | undefined;
  /** ETag after a 201 or a restart. */
  etag: string | undefined;
  #headers: Record<string, string>;

  constructor(options: { token?: string; profileLevelId?: string } = {}) {
    this.#headers = options.token ? { Authorization: `Bearer ${options.token}` } : {};
    this.pc = new RTCPeerConnection({
      codecs: {
        video: [
          useH264({ parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${options.profileLevelId ?? '42e01f'}` }),
        ],
        audio: [useOPUS()],
      },
      iceServers: [],
      // One transport for both m-lines (an unbundled second transport's sockets outlive close()).
      bundlePolicy: 'max-bundle',
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [LOOPBACK],
      iceFilterCandidatePair: (pair) => pair.localCandidate.host === LOOPBACK,
    });
    for (const kind of ['video', 'audio'] as const) {
      const t = this.pc.addTransceiver(kind, { direction: 'recvonly' });
      t.onTrack.subscribe((track) =>
        track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
          const h = rtp.header;
          this.received[kind].push({
            seq: h.sequenceNumber,
            timestamp: h.timestamp,
            ssrc: h.ssrc,
            head: Buffer.from(rtp.payload.subarray(0, 2)),
          });
        }),
      );
    }
  }

  /** A complete (non-trickle) offer with loopback candidates only. */
  async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    removeDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    // A keyframe replayed from the egress's cache arrives as one burst of a few hundred
    // datagrams, faster than werift decrypts them on this thread: the kernel's default receive
    // buffer (~208 KiB) would drop its tail. 4 MiB (capped by net.core.rmem_max).
    setIceReceiveBuffer(this.pc, 4 * 2 ** 20);
    return loopbackCandidates(this.pc.localDescription!.sdp);
  }

  /** POSTs an offer; on 201 applies the answer and keeps Location and ETag. */
  async post(url: string, init: { headers?: Record<string, string>; sdp?: string } = {}): Promise<Response> {
    const sdp = init.sdp ?? (await this.offer());
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...this.#headers, ...init.headers },
      body: sdp,
    });
    if (res.status === 201) {
      this.location = new URL(res.headers.get('location')!, url).toString();
      this.etag = res.headers.get('etag') ?? undefined;
      const answer = await res.clone().text();
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    }
    return res;
  }

  /** Resolves once the peer is connected (ICE + DTLS). */
  async connected(timeoutMs = 20000): Promise<void> {
    if (this.pc.connectionState === 'connected') return;
    await waitUntil(() => this.pc.connectionState === 'connected', timeoutMs, 'peer connected');
  }

  /** ICE restart through PATCH (RFC 9725 §4.3.2); applies the answer fragment on 200. */
  async restartIce(ifMatch = '*'): Promise<Response> {
    this.pc.restartIce();
    const offer = await this.pc.createOffer({ iceRestart: true });
    removeDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    const local = loopbackCandidates(this.pc.localDescription!.sdp);
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(local)![1];
    const pwd = /^a=ice-pwd:(\S+)/m.exec(local)![1];
    const candidates = local.split('\r\n').filter((l) => l.startsWith('a=candidate:') && / 1 udp /.test(l));
    const frag = [
      `a=ice-ufrag:${ufrag}`,
      `a=ice-pwd:${pwd}`,
      'm=audio 9 UDP/TLS/RTP/SAVPF 0',
      'a=mid:0',
      ...candidates,
      'a=end-of-candidates',
      '',
    ].join('\r\n');
    const res = await this.patch(frag, ifMatch);
    if (res.status === 200) {
      this.etag = res.headers.get('etag') ?? undefined;
      const answerFrag = await res.clone().text();
      const previous = this.pc.remoteDescription!.sdp;
      await this.pc.setRemoteDescription({ type: 'answer', sdp: withIce(previous, answerFrag) });
      startRestartedIce(this.pc, () => {});
    }
    return res;
  }

  /** PATCHes a fragment to the session. */
  patch(body: string, ifMatch: string | undefined, contentType = 'application/trickle-ice-sdpfrag'): Promise<Response> {
    const headers: Record<string, string> = { 'Content-Type': contentType, ...this.#headers };
    if (ifMatch !== undefined) headers['If-Match'] = ifMatch;
    return fetch(this.location!, { method: 'PATCH', headers, body });
  }

  /** DELETEs the session. */
  delete(): Promise<Response> {
    return fetch(this.location!, { method: 'DELETE', headers: this.#headers });
  }

  /** Closes the peer (without DELETE). */
  close(): Promise<void> {
    return this.pc.close();
  }
}

/** The previous answer with the credentials and candidates of an answer fragment. */
function withIce(previous: string, frag: string): string {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(frag)![1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(frag)![1];
  const candidates = frag.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
  const out: string[] = [];
  for (const line of previous.split(/\r?\n/).filter(Boolean)) {
    if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') continue;
    if (line.startsWith('a=ice-ufrag:')) out.push(`a=ice-ufrag:${ufrag}`);
    else if (line.startsWith('a=ice-pwd:')) out.push(`a=ice-pwd:${pwd}`);
    else out.push(line);
    if (line.startsWith('m=')) out.push(...candidates, 'a=end-of-candidates');
  }
  return `${out.join('\r\n')}\r\n`;
}

/** Polls `check` every 50 ms until it is true; throws after `timeoutMs` naming `what`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
