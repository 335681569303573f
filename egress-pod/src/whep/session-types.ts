/**
 * The shapes a WHEP session is made of, shared by the session store (main thread), the session
 * itself and the fan-out workers that host peers: what the rest of the pod sees of a session,
 * why it ended, the settings it is built with, the hooks through which it reports to whoever
 * hosts it, and the function that opens one.
 */
import { randomBytes } from 'node:crypto';
import type { EgressConfig, EgressIce } from '@corecast/api';
import type { Viewer } from '../fanout.ts';
import type { Logger } from '../log.ts';
import type { PeerSettings } from './peer.ts';
import type { CandidatePolicy, OfferChoice, SdpFrag } from './sdp.ts';

/**
 * What the session store, the routes and the fan-out use of a session: a Session, or its
 * proxy on the main thread when a fan-out worker hosts the peer (workers/remote-session.ts).
 */
export interface WhepSession extends Viewer {
  /** Unguessable session id, the last segment of the Location URL. */
  readonly id: string;
  /** Current ETag of the ICE session. */
  readonly etag: string;
  /** True once ICE and DTLS have connected. */
  readonly connected: boolean;
  /** The ICE ufrag the viewer uses now. */
  readonly remoteUfrag: string;
  /** Adds trickled remote candidates. */
  addCandidates(frag: SdpFrag): Promise<void>;
  /** ICE restart: returns our answer fragment. */
  restartIce(frag: SdpFrag): Promise<string>;
  /** Ends the session (idempotent); resolves when its sockets are closed. */
  close(reason: CloseReason): Promise<void>;
}

/** Every reason a session ends (the `reason` label of sessions closed). */
export const CLOSE_REASONS = [
  'delete',
  'ice-failed',
  'dtls-closed',
  'connect-timeout',
  'liveness-timeout',
  'source-gone',
  'shutdown',
  'restart-failed',
  'worker-exit',
  'client-gone',
  'drain',
] as const;

/** Why a session ended. */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The timeouts of the configuration's `session` section that a session keeps (seconds). */
export type SessionTimeouts = Pick<EgressConfig['session'], 'connectTimeoutSeconds' | 'livenessTimeoutSeconds'>;

/**
 * How one session is built and timed. Made once per session from the validated configuration
 * (egress.ts) and handed on as it is — to Session.open, or across postMessage to the fan-out
 * worker that hosts the peer — so it is plain data.
 */
export interface SessionSettings {
  /** The process the session views. */
  readonly processId: string;
  /**
   * The peer: the configuration's `ice` section (which also holds the gathering timeout and
   * the remote-candidate rules), the advertised addresses, and the ICE servers with
   * credentials minted for this session.
   */
  readonly peer: PeerSettings;
  /** Connect and liveness timeouts. */
  readonly timeouts: SessionTimeouts;
  /** Put in front of every session id: `r<i>-` on replica i >= 1, so replica 0 knows where to forward (replica/forward.ts). */
  readonly idPrefix?: string;
}

/**
 * A new session id: 128 bits from the CSPRNG in base64url after `prefix`. Without a prefix (one
 * pod, or replica 0) an id that would look like another replica's (`r<digit>…`) is drawn again.
 */
export function newSessionId(prefix = ''): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (prefix !== '' || !/^r\d/.test(id)) return `${prefix}${id}`;
  }
}

/** What a session borrows from, and reports to, the thread that hosts it. */
export interface SessionHooks {
  /** Serializes gathering (a port range is scanned, then bound: two at once could collide). */
  readonly gatherLock: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The process's logger (the session adds its id). */
  readonly log: Logger;
  /** ICE and DTLS are up: start sending. */
  onConnected(session: WhepSession): void;
  /** The session ended (called once). */
  onClosed(session: WhepSession, reason: CloseReason): void;
  /** The viewer asked for a keyframe (PLI or FIR). */
  onPli(session: WhepSession): void;
}

/** The remote candidates a session uses, by the configuration's `ice` section. */
export function candidatePolicy(ice: EgressIce): CandidatePolicy {
  return {
    ipv6: ice.ipv6,
    tcp: ice.tcp || ice.tcpPort !== undefined,
    allowLoopback: ice.allowLoopbackCandidates,
    maxCandidates: ice.maxRemoteCandidates,
  };
}

/** Answers an offer with a new session: in this thread (Session.open) or in a fan-out worker. */
export type SessionOpener = (
  settings: SessionSettings,
  hooks: SessionHooks,
  offer: string,
  choice: OfferChoice,
) => Promise<{ session: WhepSession; answer: string }>;
