/** @corecast/egress-pod: the WHEP egress (RTP ingest, werift fan-out, koa routes, auth, player). */

export { signEmbedToken } from './auth/embed.ts';
export { type Env, ephemeralTurnCredential, loadConfig, type ResolvedConfig, resolveConfig } from './config.ts';
export { type Egress, type StartOptions, startEgress } from './egress.ts';
export { createLogger, type Logger } from './log.ts';
export type { CloseReason } from './whep/session-types.ts';
export { startRestartedIce } from './whep/peer.ts';
