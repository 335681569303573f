/**
 * One WHEP session: a viewer's werift peer connection, its two send-only tracks in one
 * MediaStream, and the watchdogs that notice when it dies. The session reports its end once,
 * with a reason; the store removes it from every index and counter.
 */
import { randomBytes } from 'node:crypto';
import { withTimeout } from '@corecast/api/timing';
import { MediaStream, RTCPeerConnection, type RTCRtpSender, type RtpPacket } from 'werift';
import type { Logger } from '../log.ts';
import {
  answerAsDtlsServer,
  guardSockets,
  onKeyframeRequest,
  removeDefaultStun,
  sendCloseNotify,
  ViewerSender,
} from '@corecast/rtc-fastpath';
import { attachMux, detachMux } from '@corecast/rtc-fastpath';
import { WhepError } from './errors.ts';
import { advertisedOnly, advertisePorts, peerConfig, startRestartedIce } from './peer.ts';
import {
  answerFragment,
  type CandidatePolicy,
  candidateUsable,
  countCandidates,
  dropUnusableCandidates,
  filterAnswerCandidates,
  iceCredentials,
  type OfferChoice,
  parseCandidate,
  restartOffer,
  type SdpFrag,
} from './sdp.ts';
import {
  type CloseReason,
  candidatePolicy,
  newSessionId,
  type SessionHooks,
  type SessionSettings,
  type WhepSession,
} from './session-types.ts';

const ignore = (): void => {};

/** A strong ETag for the current ICE session (RFC 9725 §4.3.1). */
function newEtag(): string {
  return `"${randomBytes(12).toString('base64url')}"`;
}

/** A viewer's WHEP session. */
export class Session implements WhepSession {
  /** Unguessable session id (128 bits from the CSPRNG, after the replica's prefix), the last segment of the Location URL. */
  readonly id: string;
  /** Current ETag of the ICE session. */
  etag = newEtag();
  readonly #settings: SessionSettings;
  readonly #hooks: SessionHooks;
  /** The remote candidates this session uses. */
  readonly #candidates: CandidatePolicy;
  readonly #log: Logger;
  readonly #pc: RTCPeerConnection;
  readonly #video: RTCRtpSender;
  readonly #audio: RTCRtpSender;
  readonly #media: { readonly video: ViewerSender; readonly audio: ViewerSender };
  #connected = false;
  #closed = false;
  #disposed: Promise<void> | undefined;
  #lastHeard = performance.now();
  /** Remote candidates the current ICE session uses (offer and trickle), at most candidates.maxCandidates. */
  #remoteCandidates = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;

  private constructor(settings: SessionSettings, hooks: SessionHooks, choice: OfferChoice) {
    this.id = newSessionId(settings.idPrefix);
    this.#settings = settings;
    this.#hooks = hooks;
    this.#candidates = candidatePolicy(settings.peer.ice);
    this.#log = hooks.log.child({ session: this.id });
    this.#pc = new RTCPeerConnection(peerConfig(settings.peer, choice.h264ProfileLevelId, () => this.#heard()));
    // One MediaStream for both tracks: the browser plays them in sync (same msid; egress-pod/README.md, "WHEP behaviour").
    // A kind instead of a MediaStreamTrack: ViewerSender sends past werift's tracks, and the
    // answer's msid is the same (stream id and the sender's track id), without two track objects
    // and their event subscriptions per viewer.
    const stream = new MediaStream({ id: `corecast-${settings.processId}` });
    this.#video = this.#pc.addTransceiver('video', { direction: 'sendonly', streams: [stream] }).sender;
    this.#audio = this.#pc.addTransceiver('audio', { direction: 'sendonly', streams: [stream] }).sender;
    this.#media = { video: new ViewerSender(this.#video), audio: new ViewerSender(this.#audio) };
  }

  /**
   * Answers an offer: builds the peer, gathers every candidate (no trickle from the server),
   * and returns the session with its answer. Throws a WhepError (400/406/503/504).
   */
  static async open(
    settings: SessionSettings,
    hooks: SessionHooks,
    offer: string,
    choice: OfferChoice,
  ): Promise<{ session: Session; answer: string }> {
    const session = new Session(settings, hooks, choice);
    try {
      const remote = dropUnusableCandidates(offer, session.#candidates);
      session.#remoteCandidates = remote.used;
      const answer = await session.#negotiate(remote.sdp);
      session.#watch();
      return { session, answer };
    } catch (err) {
      await session.#dispose();
      throw err;
    }
  }

  /** Sends a video packet as (`seq`, `timestamp`) of this viewer's timeline. */
  sendVideo(packet: RtpPacket, seq: number, timestamp: number): void {
    this.#media.video.send(packet, seq, timestamp);
  }

  /** Sends an audio packet as (`seq`, `timestamp`). */
  sendAudio(packet: RtpPacket, seq: number, timestamp: number): void {
    this.#media.audio.send(packet, seq, timestamp);
  }

  /** True once ICE and DTLS have connected. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The ICE ufrag the viewer uses now. */
  get remoteUfrag(): string {
    return iceCredentials(this.#pc.remoteDescription?.sdp ?? '').ufrag;
  }

  /**
   * Adds trickled remote candidates; ones we do not use are dropped silently (egress-pod/README.md, "WHEP behaviour"), and so
   * is every one past the session's cap (`ice.maxRemoteCandidates`, offer and trickle together):
   * each remote candidate makes werift send checks to an address the viewer chose.
   */
  async addCandidates(frag: SdpFrag): Promise<void> {
    const mid = this.#pc.getTransceivers()[0]?.mid ?? '0';
    const { maxCandidates } = this.#candidates;
    for (const c of frag.candidates) {
      if (this.#remoteCandidates >= maxCandidates) {
        this.#log.debug({ max: maxCandidates }, 'remote candidates past the cap dropped');
        return;
      }
      const parsed = parseCandidate(c.value);
      if (!parsed || !candidateUsable(parsed, this.#candidates)) continue;
      this.#remoteCandidates++;
      await this.#pc.addIceCandidate({ candidate: `candidate:${c.value}`, sdpMid: c.mid ?? mid }).catch(ignore);
    }
  }

  /**
   * ICE restart (RFC 9725 §4.3.2): the viewer's new credentials and candidates in, ours out as
   * an SDP fragment, with a new ETag.
   *
   * A restart refused before werift has taken the new offer (a bad fragment or an offer werift
   * rejects: 400) leaves the old ICE session, the ETag and the media as they were (egress-pod/README.md, "WHEP behaviour"). Once
   * werift has taken it, werift has already dropped the old ICE session (new local credentials,
   * no selected pair, no consent checks), so nothing is left to keep: a failure from there on
   * (gathering timeout 504, no candidate 503, ICE not reconnecting) ends the session.
   */
  async restartIce(frag: SdpFrag): Promise<string> {
    const previous = this.#pc.remoteDescription?.sdp;
    if (!previous) throw new WhepError('bad-request', 'the session has no remote description to restart');
    if (frag.ufrag === undefined || frag.pwd === undefined) {
      throw new WhepError('bad-request', 'an ICE restart needs both a=ice-ufrag and a=ice-pwd');
    }
    if (frag.pwd === iceCredentials(previous).pwd) {
      throw new WhepError(
        'bad-request',
        'an ICE restart changes both a=ice-ufrag and a=ice-pwd (RFC 8839 §4.4.1.1.1); a=ice-pwd is unchanged',
      );
    }
    const before = this.#iceSnapshot();
    try {
      const remote = dropUnusableCandidates(restartOffer(previous, frag), this.#candidates);
      const answer = await this.#negotiate(remote.sdp);
      // A new ICE session: its own remote candidates from here on.
      this.#remoteCandidates = remote.used;
      startRestartedIce(this.#pc, (err) => {
        this.#log.warn({ err: err.message }, 'ICE restart failed');
        void this.close('restart-failed');
      });
      this.etag = newEtag();
      return answerFragment(answer);
    } catch (err) {
      if (this.#iceSnapshot() === before) {
        this.#log.info({ err: (err as Error).message }, 'ICE restart refused; the ICE session is unchanged');
      } else {
        this.#log.warn({ err: (err as Error).message }, 'ICE restart failed after the new offer was applied');
        void this.close('restart-failed');
      }
      throw err;
    }
  }

  /**
   * What werift changes as soon as it takes a new offer: the signaling state, the remote
   * description, and on each ICE transport its restart count and remote credentials. Equal
   * snapshots before and after a refused restart mean werift never took it.
   */
  #iceSnapshot(): string {
    const pc = this.#pc;
    const transports = pc.iceTransports.map((t) => {
      const params = t.getRemoteParameters();
      return `${t.iceRestarts}:${t.state}:${params?.usernameFragment ?? ''}:${params?.password ?? ''}`;
    });
    return JSON.stringify([pc.signalingState, pc.remoteDescription?.sdp ?? '', transports]);
  }

  /**
   * Ends the session (idempotent): leaves the fan-out and indexes first, then closes the peer;
   * resolves when its sockets are closed.
   */
  close(reason: CloseReason): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#log.info({ reason }, 'session closed');
      this.#hooks.onClosed(this, reason);
      // The viewer hears it at once (a drain, a DELETE, the source gone): its player can come
      // back now rather than when its consent checks fail.
      for (const dtls of this.#pc.dtlsTransports) sendCloseNotify(dtls);
    }
    return this.#dispose();
  }

  async #negotiate(offer: string): Promise<string> {
    const pc = this.#pc;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    } catch (err) {
      throw new WhepError('bad-request', `the offer was refused: ${(err as Error).message}`);
    }
    removeDefaultStun(pc);
    // Every viewer on the pod's one media port (ice-mux.ts), when this thread has it.
    attachMux(pc);
    answerAsDtlsServer(pc);
    const answer = await pc.createAnswer();
    const gatherMs = this.#settings.peer.ice.gatherTimeoutSeconds * 1000;
    await this.#hooks.gatherLock(() =>
      withTimeout(pc.setLocalDescription(answer), gatherMs, () => {
        throw new WhepError('gather-timeout', `ICE gathering did not finish within ${gatherMs} ms`);
      }),
    );
    guardSockets(pc, (err) => this.#log.warn({ err: err.message }, 'media socket error'));
    const keep = advertisedOnly(this.#settings.peer);
    const local = keep ? filterAnswerCandidates(pc.localDescription!.sdp, keep) : pc.localDescription!.sdp;
    const sdp = advertisePorts(local, this.#settings.peer.ice);
    if (/^m=(video|audio) 0 /m.test(sdp)) {
      throw new WhepError('not-acceptable', 'no common codec for the offered m-lines');
    }
    if (countCandidates(sdp) === 0) {
      // A full icePortRange fails silently in werift (werift note 7 in egress-pod/README.md).
      throw new WhepError('no-candidates', 'no ICE candidate could be gathered (media port range exhausted)', { 'Retry-After': '10' });
    }
    return sdp;
  }

  #watch(): void {
    const pc = this.#pc;
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && !this.#connected) {
        this.#connected = true;
        clearTimeout(this.#connectTimer);
        this.#lastHeard = performance.now();
        this.#livenessTimer = setInterval(() => this.#checkLiveness(), Math.min(1000, this.#livenessMs / 4));
        this.#log.info('session connected');
        this.#hooks.onConnected(this);
      } else if (state === 'failed') this.close('ice-failed');
      else if (state === 'closed') this.close('dtls-closed');
    });
    for (const dtls of pc.dtlsTransports) {
      // A DTLS close_notify from the viewer (RFC 6347 §4.2.7 alert) ends the session at once.
      dtls.onStateChange.subscribe((state) => {
        if (state === 'closed') this.close('dtls-closed');
        else if (state === 'failed') this.close('ice-failed');
      });
    }
    for (const sender of [this.#video, this.#audio]) {
      sender.onRtcp.subscribe(() => this.#heard());
    }
    onKeyframeRequest(this.#video, () => this.#hooks.onPli(this));
    this.#connectTimer = setTimeout(() => void this.close('connect-timeout'), this.#settings.timeouts.connectTimeoutSeconds * 1000);
  }

  get #livenessMs(): number {
    return this.#settings.timeouts.livenessTimeoutSeconds * 1000;
  }

  #heard(): void {
    this.#lastHeard = performance.now();
  }

  /**
   * A viewer that vanished without DELETE (killed tab) sends no DTLS alert, and consent expiry
   * (RFC 7675 §5.1) takes 30 s; its RTCP reports and consent checks stop at once, so silence
   * for a few seconds ends it (werift note 6 in egress-pod/README.md).
   */
  #checkLiveness(): void {
    if (performance.now() - this.#lastHeard > this.#livenessMs) void this.close('liveness-timeout');
  }

  #dispose(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#livenessTimer);
    this.#media.video.close();
    this.#media.audio.close();
    // The mux entries go at once: nothing reaches this peer from here on.
    detachMux(this.#pc);
    this.#disposed ??= this.#pc.close().catch(ignore);
    return this.#disposed;
  }
}
