/**
 * @corecast/rtc-fastpath: the one place that knows werift's and Node's private internals.
 * Everything here is reached through this index — but for werift's RTP classes from its CommonJS
 * build (`@corecast/rtc-fastpath/rtp-packet`), which only a thread without werift's whole bundle
 * wants: a fan-out thread takes them from the bundle it loads anyway, not a second copy. The files
 * behind it may change with werift.
 * The private fields each one touches, and what upstream change would retire it: README.md.
 */

// Sending a shared RTP packet to one viewer: header, SRTP and the UDP send without werift's sender.
export { onKeyframeRequest, ViewerSender } from './viewer-sender.ts';
// The packet buffers' slab, recycled by a fan-out worker between its slices of work.
export { recycleArena } from './arena.ts';
// Received packets a thread keeps, in chunks written over once nothing reads them.
export { type KeptCounts, keptCopy, keptCounts, keptReaders } from './kept.ts';
// Batched UDP sends (sendmmsg through a small N-API addon, dgram where it cannot load).
export { type BatchCounts, batchCounts, flushSends, type SendPath, sendBatched, sendPath, trimNativeHeap } from './batch-send.ts';
// SRTP protected in the addon with Node's OpenSSL, in the same call as the batched send (JavaScript where it cannot).
export { type SrtpPath, srtpPath } from './native-srtp.ts';
// RTP parsed into werift's classes without werift's parser (its bit reading allocates strings).
export { type RtpClasses, rtpParser } from './rtp-parse.ts';
// The RTP fixed header written straight into an outgoing buffer.
export { rtpHeaderLength, writeRtpHeader } from './rtp-header.ts';
// The DTLS role of a viewer's peer, and the close_notify werift does not send.
export { answerAsDtlsServer, sendCloseNotify } from './dtls.ts';
// A thread's werift on node:crypto: its DTLS certificate and key exchanges, werift's JavaScript crypto libraries kept out.
export { type CertificateOptions, type DtlsKeys, makeDtlsCertificate } from './certificate.ts';
export { KEPT_OUT_MODULES, keepCryptoLibrariesOut, ON_DEMAND_MODULES, STAND_IN_PACKAGES, useOwnDtlsCertificate } from './thread-crypto.ts';
export { leanWeriftSource } from './werift-source.ts';
// No public STUN server, no process-ending socket error: werift's ICE agent made fit for a server.
export { guardSockets, removeDefaultStun, usesNoStun } from './ice-guards.ts';
// werift peers that only ever use loopback (a worker's warm-up, load viewers, tests).
export { LOOPBACK, loopbackOnly, loopbackPeerConfig } from './loopback.ts';
// For load generators: a werift viewer that costs little and picks the server's SRTP profile.
export {
  interceptIceData,
  offerOnlySrtpProfile,
  setIceReceiveBuffer,
  SRTP_PROFILE_IDS,
  type SrtpProfileName,
  srtpProfileOf,
} from './load-client.ts';
// The werift version the private reaches were checked against.
export { VERIFIED_WERIFT } from './verified.ts';
// The ICE UDP mux: every viewer of the pod on one UDP port per address family (src/mux/).
export { attachMux, currentMux, detachMux, muxCounts, useThreadMux } from './mux/werift-hook.ts';
export { bindMuxSocket, type MuxOptions, type MuxStats, UdpMux } from './mux/udp-mux.ts';
export { TcpMux } from './mux/tcp-mux.ts';
export { DROP_REASONS as MUX_DROP_REASONS, type DropReason as MuxDropReason } from './mux/demux.ts';
// A signed connectivity check (tests and tools).
export { bindingRequest } from './mux/stun.ts';
