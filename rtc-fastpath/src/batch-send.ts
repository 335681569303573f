/**
 * Batched UDP sends. With the ICE mux every viewer of a thread is sent to from one socket, so
 * the packets a fan-out slice makes for all its viewers can leave in a few `sendmmsg(2)` calls
 * instead of one `dgram` send (JavaScript checks, a send request, libuv, `sendmsg`) each. Node
 * has no such call: a small N-API addon does it (native/batch_send.c, built at install by
 * native/build.mjs), reaching the socket's file descriptor through Node's private UDP handle.
 *
 * `sendBatched` queues a datagram on its socket's batch; the batch goes out when it is full (64),
 * when `flushSends()` is called (`recycleArena` does, before a slab is written over) or on the
 * next turn of the event loop (setImmediate), whichever comes first. Whatever the kernel does
 * not take at once (a full socket buffer) goes through `dgram`, which queues it in libuv.
 * Without the addon (not Linux, not built, CORECAST_BATCH_SEND=off) every send is a plain
 * `dgram` send, and `sendPath()` says so and why. The addon also trims malloc's arenas
 * (`trimNativeHeap`) once viewers have gone.
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { stateOf } from './direct-send.ts';

/** The addon (native/batch_send.c; its SRTP functions, native/srtp_send.c, are used by native-srtp.ts). */
export interface Native {
  send(fd: number, buffers: readonly Buffer[], hosts: readonly string[], ports: Int32Array, count: number): number;
  trim(): boolean;
  readonly maxBatch: number;
  srtpCreate?(profile: number, key: Buffer, salt: Buffer, authKey: Buffer | undefined, ssrc: number): number;
  srtpTarget?(id: number, host: string, port: number): void;
  srtpRelease?(id: number): void;
  srtpSend?(
    fd: number,
    count: number,
    jobs: Int32Array,
    sources: readonly Buffer[],
    sourceCount: number,
    csrcs: Int32Array,
    out: Buffer,
    results: Int32Array,
  ): number;
  readonly srtpJobFields?: number;
}

/** Which path sends the fast path's datagrams, and why. */
export interface SendPath {
  readonly path: 'sendmmsg' | 'dgram';
  readonly why: string;
}

/** Counts since the thread started (for a gauge or a benchmark). */
export interface BatchCounts {
  /** sendmmsg calls made. */
  calls: number;
  /** Datagrams the kernel took through them. */
  datagrams: number;
  /** Datagrams that went through dgram after all (socket buffer full, a failed call). */
  fallbacks: number;
  /** Datagrams dropped because their socket closed before the batch went out. */
  dropped: number;
}

function load(): { native: Native | undefined; path: SendPath } {
  if (process.platform !== 'linux') return { native: undefined, path: { path: 'dgram', why: 'sendmmsg is Linux only' } };
  if (process.env.CORECAST_BATCH_SEND === 'off')
    return { native: undefined, path: { path: 'dgram', why: 'turned off (CORECAST_BATCH_SEND=off)' } };
  const file = new URL('../build/Release/batch_send.node', import.meta.url).pathname;
  try {
    const native = createRequire(import.meta.url)(file) as Native;
    if (typeof native.send !== 'function') throw new Error('no send function');
    return { native, path: { path: 'sendmmsg', why: `addon ${file}` } };
  } catch (err) {
    return { native: undefined, path: { path: 'dgram', why: `the addon did not load (${(err as Error).message.split('\n')[0]})` } };
  }
}

const loaded = load();
const native = loaded.native;

/** The loaded addon, or undefined (for native-srtp.ts). */
export function addon(): Native | undefined {
  return native;
}
/**
 * Datagrams per call. On loopback (and for a busy NIC queue) the kernel does each datagram's
 * work inside the call, a few µs each: a batch of hundreds would run past the fan-out worker's
 * time slice (its budget is measured around the sends). 64 keeps that inside the slice and still
 * saves all but one call's overhead in 64.
 */
const MAX = Math.min(native?.maxBatch ?? 1, 64);

/** The path this thread sends on. */
export function sendPath(): SendPath {
  return loaded.path;
}

const counts: BatchCounts = { calls: 0, datagrams: 0, fallbacks: 0, dropped: 0 };

/** Adds to this thread's counts (native-srtp.ts sends its own batches). */
export function countSends(calls: number, datagrams: number, fallbacks: number, dropped: number): void {
  counts.calls += calls;
  counts.datagrams += datagrams;
  counts.fallbacks += fallbacks;
  counts.dropped += dropped;
}

/** Other queues `flushSends` empties too (native-srtp.ts's). */
const flushHooks: (() => void)[] = [];

/** `hook` runs at every `flushSends`. */
export function onFlushSends(hook: () => void): void {
  flushHooks.push(hook);
}

/** This thread's counts so far. */
export function batchCounts(): Readonly<BatchCounts> {
  return counts;
}

/**
 * Gives free native heap pages back to the kernel (glibc's malloc_trim, through the addon; process
 * wide): after viewers have gone, their OpenSSL and DTLS state is freed but stays resident in
 * malloc's arenas. False when nothing was released or the addon is not loaded.
 */
export function trimNativeHeap(): boolean {
  return native?.trim() ?? false;
}

/** The socket's file descriptor, from Node's UDP handle (private; -1 when closed or not there). */
export function fdOf(socket: Socket): number {
  const fd = (stateOf(socket)?.handle as { fd?: unknown } | null | undefined)?.fd;
  return typeof fd === 'number' ? fd : -1;
}

class Batch {
  readonly buffers: Buffer[] = [];
  readonly hosts: string[] = [];
  readonly ports = new Int32Array(MAX);
  count = 0;
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
  }
}

const batches = new Map<Socket, Batch>();
let scheduled = false;

/** Sends `buf` to host:port on `socket` (an IP literal), batched with the thread's other sends. */
export function sendBatched(socket: Socket, buf: Buffer, port: number, host: string): void {
  if (!native) {
    socket.send(buf, port, host);
    return;
  }
  let batch = batches.get(socket);
  if (!batch) {
    batch = new Batch(socket);
    batches.set(socket, batch);
  }
  batch.buffers.push(buf);
  batch.hosts.push(host);
  batch.ports[batch.count++] = port;
  if (batch.count === MAX) flush(batch);
  else if (!scheduled) {
    scheduled = true;
    setImmediate(flushSends);
  }
}

/** Sends every queued datagram now. */
export function flushSends(): void {
  scheduled = false;
  for (const batch of batches.values()) if (batch.count > 0) flush(batch);
  batches.clear();
  for (const hook of flushHooks) hook();
}

function flush(batch: Batch): void {
  const { socket, buffers, hosts, ports, count } = batch;
  batch.count = 0;
  // Read again at every flush: a socket closed meanwhile has no handle, and its number may
  // already belong to another socket.
  const fd = fdOf(socket);
  if (fd < 0) {
    counts.dropped += count;
  } else {
    const sent = native!.send(fd, buffers, hosts, ports, count);
    const taken = Math.max(0, sent);
    counts.calls++;
    counts.datagrams += taken;
    // A copy: dgram may hold it past the arena's next recycle (libuv's queue, or a lookup tick).
    for (let i = taken; i < count; i++) {
      counts.fallbacks++;
      socket.send(Buffer.from(buffers[i]!), ports[i]!, hosts[i]!);
    }
  }
  buffers.length = 0;
  hosts.length = 0;
}
