/**
 * werift's RTP packet classes (`RtpPacket`, `RtpHeader`: RFC 3550 parsing and serializing) without
 * the rest of werift. werift's ES module entry is one bundle of everything (peer connection, DTLS,
 * certificates, SCTP …): importing it costs a thread ~20 MiB of heap and code. A pod's main thread
 * only parses the source's RTP and hands it on, so it takes the classes from werift's CommonJS
 * build, whose rtp module (`lib/rtp/src/rtp/rtp.js`, found beside the package's CommonJS entry,
 * which werift's `exports` do not name) needs only werift's small common helpers.
 *
 * They are the same code as werift's own, in another module instance: packets made here are
 * werift packets to every werift function (werift checks no RTP class with `instanceof`), which
 * test/rtp-packet.test.ts holds to, byte for byte.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as werift from 'werift';
import { rtpParser } from './rtp-parse.ts';

const require = createRequire(import.meta.url);
// Resolving does not load: the CommonJS entry is lib/webrtc/src/index.js.
const rtpModule = join(dirname(require.resolve('werift')), '..', '..', 'rtp', 'src', 'rtp', 'rtp.js');
const classes = require(rtpModule) as { RtpPacket: typeof werift.RtpPacket; RtpHeader: typeof werift.RtpHeader };
if (typeof classes.RtpPacket?.deSerialize !== 'function' || typeof classes.RtpHeader !== 'function') {
  throw new Error(`werift's RTP classes are not where ${rtpModule} says (werift changed: see rtc-fastpath/README.md)`);
}

/** werift's RtpPacket class. */
export const RtpPacket = classes.RtpPacket;
export type RtpPacket = werift.RtpPacket;
/** werift's RtpHeader class. */
export const RtpHeader = classes.RtpHeader;
export type RtpHeader = werift.RtpHeader;
/** A packet of these classes parsed from its bytes, as `RtpPacket.deSerialize` would, at a fraction of the cost (rtp-parse.ts). */
export const parseRtp = rtpParser(classes);
