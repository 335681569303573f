/**
 * Buffers for outgoing packets, carved from slabs of their own. Node's shared Buffer pool
 * (`Buffer.allocUnsafe` below 4 KiB) hands out slices of 64 KiB slabs; the fan-out churns
 * through them at tens of thousands of packets a second, and any long-lived small buffer that
 * lands in the same slab meanwhile (a werift key, a handshake fragment) pins all 64 KiB. Packet
 * buffers live microseconds (until `dgram` has sent them), so a slab here is freed as soon as
 * its last packet is gone, and long-lived allocations keep Node's pool to themselves.
 */

/** Bytes per slab. */
const SLAB = 256 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB);
let used = 0;

/** A buffer of `size` bytes, starting 8-byte aligned (callers view it as 32-bit words). */
export function packetBuffer(size: number): Buffer {
  const rounded = (size + 7) & ~7;
  if (used + rounded > slab.length) {
    slab = Buffer.allocUnsafeSlow(Math.max(SLAB, rounded));
    used = 0;
  }
  const out = slab.subarray(used, used + size);
  used += rounded;
  return out;
}
