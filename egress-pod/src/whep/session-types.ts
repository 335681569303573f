/**
 * The shapes a WHEP session is made of, shared by the session store (main thread), the session
 * itself and the fan-out workers that host peers: the settings it is built with, and the hooks
 * through which it reports to whoever hosts it.
 */
import type { EgressConfig, EgressIce } from '@corecast/api';
import type { Logger } from '../log.ts';
import type { CloseReason } from '../metrics.ts';
import type { PeerSettings } from './peer.ts';
import type { CandidatePolicy } from './sdp.ts';
import type { WhepSession } from './session.ts';

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
  return { ipv6: ice.ipv6, tcp: ice.tcp, allowLoopback: ice.allowLoopbackCandidates, maxCandidates: ice.maxRemoteCandidates };
}
