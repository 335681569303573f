/**
 * What werift's `import mdns from "multicast-dns"` gets in a thread that keeps werift's crypto
 * libraries out (thread-crypto.ts): multicast-dns itself, loaded when werift first makes an mDNS
 * client — to resolve a `.local` candidate from a browser that hides its addresses — rather than
 * when werift loads (multicast-dns with dns-packet: ~0.4 MiB of heap per thread).
 */
import { createRequire } from 'node:module';

type Mdns = (...args: unknown[]) => unknown;

// Resolved from werift's own place, as its import would be.
const fromWerift = createRequire(createRequire(import.meta.url).resolve('werift'));
let real: Mdns | undefined;

/** Whether multicast-dns has been loaded through this module (for tests). */
export const mdnsLoaded = (): boolean => real !== undefined;

/** multicast-dns's factory, loaded on its first call. */
export default function mdns(...args: unknown[]): unknown {
  real ??= fromWerift('multicast-dns') as Mdns;
  return real(...args);
}
