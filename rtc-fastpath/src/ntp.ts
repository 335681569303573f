/**
 * The wall clock as a 64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in the high 32
 * bits, the fraction of a second in the low 32), for RTCP sender reports. Computed at most
 * once per millisecond: it is read for every packet sent.
 */

/** Milliseconds from 1900-01-01 to 1970-01-01. */
const NTP_EPOCH_OFFSET_MS = 2_208_988_800_000;

/** Read once: `performance.timeOrigin` is a getter that makes a new number each time. */
const TIME_ORIGIN = performance.timeOrigin;

let cachedAt = Number.NaN;
let cached = 0n;

/** NTP time from a Unix time in milliseconds. */
export function ntpFromUnixMs(ms: number): bigint {
  const ntpMs = ms + NTP_EPOCH_OFFSET_MS;
  const seconds = Math.floor(ntpMs / 1000);
  const fraction = Math.floor(((ntpMs - seconds * 1000) / 1000) * 0x100000000);
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

/** NTP time now (to the millisecond). */
export function ntpNow(): bigint {
  const now = Math.floor(TIME_ORIGIN + performance.now());
  if (now !== cachedAt) {
    cachedAt = now;
    cached = ntpFromUnixMs(now);
  }
  return cached;
}
