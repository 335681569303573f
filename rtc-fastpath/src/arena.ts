/**
 * Buffers for outgoing packets, carved from slabs of their own (received packets a thread keeps
 * have their own store, kept.ts). Node's shared Buffer pool
 * (`Buffer.allocUnsafe` below 4 KiB) hands out slices of 64 KiB slabs; the fan-out churns
 * through them at tens of thousands of packets a second, and any long-lived small buffer that
 * lands in the same slab meanwhile (a werift key, a handshake fragment) pins all 64 KiB.
 *
 * A packet buffer is needed only until `dgram` has handed it to the kernel, which happens
 * before `send` returns on a socket given `sendDirectly` (direct-send.ts), on the next tick
 * otherwise, and later only when the socket's send buffer is full. So a fan-out worker calls
 * `recycleArena()` between its slices of work (every earlier send has run by then): when no
 * socket that was sent on still has a send queued in libuv, the slab is written over from its
 * start instead of being dropped. That keeps tens of MiB per second of ArrayBuffer churn — and
 * the old-generation collections V8 starts for external memory — out of the hot path.
 */
import type { Socket } from 'node:dgram';
import { flushSends } from './batch-send.ts';

/** Bytes per slab of outgoing packets. */
const SLAB = 512 * 1024;

/** No slab yet: the first take makes one (a thread that never sends or keeps a packet has none). */
const NONE = Buffer.alloc(0);

/** Buffers carved one after another from slabs of `size` bytes, each starting 8-byte aligned. */
class Slabs {
  readonly #size: number;
  #slab = NONE;
  #used = 0;

  constructor(size: number) {
    this.#size = size;
  }

  /** The next `size` bytes (a new slab when the current one is full; the old one stays with its buffers). */
  take(size: number): Buffer {
    const rounded = (size + 7) & ~7;
    if (this.#used + rounded > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(this.#size, rounded));
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + size);
    this.#used += rounded;
    return out;
  }

  /** Writes over the current slab from its start: nothing reads the buffers taken from it any more. */
  reuse(): void {
    this.#used = 0;
  }

  /** Leaves the current slab to the buffers taken from it (freed with the last of them); the next take starts another. */
  leave(): void {
    this.#slab = NONE;
    this.#used = 0;
  }
}

const outgoing = new Slabs(SLAB);
/** Sockets sent on since the last recycle (their send queues say whether the slab is free). */
const sentOn = new Set<Socket>();

/** A buffer of `size` bytes, starting 8-byte aligned (callers view it as 32-bit words). */
export function packetBuffer(size: number): Buffer {
  return outgoing.take(size);
}

/** A packet buffer from `packetBuffer` goes out on `socket` (with `socket.send`, no callback). */
export function sendingOn(socket: Socket): void {
  sentOn.add(socket);
}

/**
 * Call when every send made so far has run (between event-loop turns): the current slab is
 * reused from its start unless a send is still queued, in which case later packets get a new
 * slab and the old one is freed with its last packet.
 */
export function recycleArena(): void {
  // Batched sends still hold slab buffers: out with them first.
  flushSends();
  let queued = false;
  for (const socket of sentOn) {
    try {
      if (socket.getSendQueueCount() > 0) queued = true;
    } catch {
      // A closed socket has nothing queued.
    }
  }
  sentOn.clear();
  if (queued) outgoing.leave();
  else outgoing.reuse();
}
