/**
 * Reaches into a werift peer on the viewer's side, for load generators (egress-pod/bench): a
 * load viewer must cost far less than the server it measures, and must be able to pick the
 * SRTP profile the server will use. werift offers neither, so both go through its internals.
 */
import type { RTCPeerConnection } from 'werift';

/**
 * The DTLS-SRTP protection profile ids werift uses (SRTP_AES128_CM_HMAC_SHA1_80, RFC 5764 §4.1.2;
 * SRTP_AEAD_AES_128_GCM, RFC 7714 §14.2), as numbers: this module is loaded where werift's
 * values are not. test/rtp-packet.test.ts holds them to werift's constants.
 */
export const SRTP_PROFILE_IDS = { ctr: 0x0001, gcm: 0x0007 } as const;

/** The two DTLS-SRTP profiles werift implements: AES-CM with HMAC-SHA1-80, and AES-GCM. */
export type SrtpProfileName = 'ctr' | 'gcm';

/** The parts of werift's DTLS transport read or written here (private in its types). */
interface DtlsInternals {
  srtpProfiles?: number[];
  srtp?: { localContext?: { profile?: number } };
  iceTransport?: {
    connection?: {
      onData?: { execute: (data: Buffer, ...rest: unknown[]) => void };
      protocols?: { transport?: { socket?: { setRecvBufferSize(bytes: number): void; getRecvBufferSize(): number } } }[];
    };
  };
}

function internalsOf(pc: RTCPeerConnection): DtlsInternals[] {
  // `unknown` first: werift declares these fields private.
  return pc.dtlsTransports as unknown as DtlsInternals[];
}

/** The SRTP profile the peer's (first) DTLS transport negotiated; undefined before DTLS is up. */
export function srtpProfileOf(pc: RTCPeerConnection): SrtpProfileName | undefined {
  const profile = internalsOf(pc)[0]?.srtp?.localContext?.profile;
  return profile === SRTP_PROFILE_IDS.ctr ? 'ctr' : profile === SRTP_PROFILE_IDS.gcm ? 'gcm' : undefined;
}

/**
 * Offers only `profile` in the DTLS handshake (werift reads the list when DTLS starts), so the
 * server has to use it. Call once the transports exist (after createOffer) and before DTLS starts.
 */
export function offerOnlySrtpProfile(pc: RTCPeerConnection, profile: SrtpProfileName): void {
  const id = SRTP_PROFILE_IDS[profile];
  for (const dtls of internalsOf(pc)) dtls.srtpProfiles = [id];
}

/**
 * Shows every datagram the peer's ICE transport receives to `take` before werift sees it; what
 * `take` returns true for goes no further (werift never parses, decrypts or buffers it). False
 * when werift's transport no longer looks as expected (nothing is intercepted then).
 */
export function interceptIceData(pc: RTCPeerConnection, take: (data: Buffer) => boolean): boolean {
  const onData = internalsOf(pc)[0]?.iceTransport?.connection?.onData;
  if (!onData || typeof onData.execute !== 'function') return false;
  const execute = onData.execute;
  onData.execute = (data: Buffer, ...rest: unknown[]) => {
    if (!take(data)) execute(data, ...rest);
  };
  return true;
}

/**
 * Asks for `bytes` of kernel receive buffer on every UDP socket of the peer's ICE agent (bound
 * once gathering ran, after setLocalDescription): a load viewer must never be the one dropping
 * when the server sends a burst. The kernel caps the request at net.core.rmem_max and doubles
 * it; returns the smallest size a socket got (0 when there was no socket).
 */
export function setIceReceiveBuffer(pc: RTCPeerConnection, bytes: number): number {
  let smallest = 0;
  for (const dtls of internalsOf(pc)) {
    for (const protocol of dtls.iceTransport?.connection?.protocols ?? []) {
      const socket = protocol.transport?.socket;
      if (!socket) continue;
      socket.setRecvBufferSize(bytes);
      const got = socket.getRecvBufferSize();
      smallest = smallest === 0 ? got : Math.min(smallest, got);
    }
  }
  return smallest;
}
