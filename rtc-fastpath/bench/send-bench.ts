/**
 * CPU per datagram of the send paths of the fast path, in one run: Node's dgram send (with
 * the synchronous IP-literal lookup `ViewerSender` gives its sockets) and the sendmmsg batches
 * (src/batch-send.ts) of ready datagrams; then with SRTP (AES_CM_128_HMAC_SHA1_80) per datagram:
 * protected in JavaScript (src/srtp.ts, into the arena) and sent in sendmmsg batches, against
 * protected and sent in one native call per batch (src/native-srtp.ts). Alternating, each sends
 * 1200-byte datagrams round-robin to `--viewers` receiving sockets on loopback (one SRTP context
 * per viewer, as `ViewerSender` has), in slices like a fan-out worker's. The receivers live in a child
 * process that reads and drops everything, so this process's CPU time (user + system; on
 * loopback the kernel delivers each datagram inside the send) is the sending alone.
 *
 *   node rtc-fastpath/bench/send-bench.ts [--datagrams 60000] [--viewers 100] [--rounds 3]
 *
 * Prints JSON lines {name, value, unit}: µs of CPU per datagram for each path, best of the rounds.
 * CORECAST_NATIVE_SRTP=off or a missing addon skips the paths that need it.
 */
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { RtpHeader, RtpPacket } from 'werift';
import { packetBuffer, recycleArena } from '../src/arena.ts';
import { flushSends, sendBatched, sendPath } from '../src/batch-send.ts';
import { sendDirectly } from '../src/direct-send.ts';
import { NativeSrtp, sendProtected, srtpPath } from '../src/native-srtp.ts';
import { writeRtpHeader } from '../src/rtp-header.ts';
import { createSrtpWriter, PROFILE } from '../src/srtp.ts';

const { values } = parseArgs({
  options: {
    datagrams: { type: 'string', default: '60000' },
    viewers: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    receiver: { type: 'boolean', default: false },
  },
});

if (values.receiver) {
  // The child: `viewers` sockets that read and drop; sends their ports, exits when told.
  const sockets: Socket[] = [];
  for (let i = 0; i < Number(values.viewers); i++) {
    const s = createSocket('udp4');
    s.on('message', () => {});
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.setRecvBufferSize(4 * 2 ** 20);
    sockets.push(s);
  }
  process.send!(sockets.map((s) => s.address().port));
  process.on('message', () => process.exit(0));
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--receiver', '--viewers', values.viewers], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((r) => child.once('message', (m) => r(m as number[])));
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  sendDirectly(socket);
  const payload = Buffer.alloc(1200, 7);
  const total = Number(values.datagrams);
  /** Datagrams per slice (a fan-out worker's 5 ms of work), then a turn of the event loop. */
  const SLICE = 1500;

  const run = async (send: (port: number) => void, flush: () => void): Promise<number> => {
    const start = process.cpuUsage();
    for (let sent = 0; sent < total;) {
      for (let i = 0; i < SLICE && sent < total; i++, sent++) send(ports[sent % ports.length]!);
      flush();
      await new Promise((r) => setImmediate(r));
    }
    // Let dgram's queue (if the socket buffer filled) drain before the clock stops.
    while (socket.getSendQueueCount() > 0) await new Promise((r) => setTimeout(r, 1));
    const cpu = process.cpuUsage(start);
    return (cpu.user + cpu.system) / total;
  };

  // SRTP: one context per viewer, the same keys for both paths; a 1188-byte payload (1210 bytes on the wire).
  const keys = {
    profile: PROFILE.AES_CM_128_HMAC_SHA1_80,
    srtpSessionKey: randomBytes(16),
    srtpSessionSalt: randomBytes(14),
    srtpSessionAuthTag: randomBytes(20),
  };
  // A writer per viewer, as each ViewerSender has (its keystream is made for its next packets).
  const writers = ports.map(() => createSrtpWriter(keys));
  const writer = writers[0]!;
  const packet = new RtpPacket(new RtpHeader({ payloadType: 96, marker: false }), randomBytes(1188));
  const index = new Map(ports.map((port, i) => [port, i]));
  const contexts = ports.map((port, i) => {
    const c = NativeSrtp.create(keys, 1000 + i);
    c?.target('127.0.0.1', port);
    return c;
  });
  const seqs = new Uint16Array(ports.length);
  const jsSrtp = (port: number): void => {
    const i = index.get(port)!;
    const seq = seqs[i]!;
    seqs[i] = seq + 1;
    const w = writers[i]!;
    const buf = packetBuffer(w.prefix + 12 + packet.payload.length + w.tagLength);
    writeRtpHeader(buf, w.prefix, packet.header, 96, seq, seq * 90, 1000 + i);
    sendBatched(socket, w.protect(buf, 12, packet.payload, 1000 + i, seq, 0), port, '127.0.0.1');
  };
  const nativeSrtp = (port: number): void => {
    const i = index.get(port)!;
    const seq = seqs[i]!;
    seqs[i] = seq + 1;
    sendProtected(socket, contexts[i]!, packet, 96, seq, seq * 90, 0, writer.tagLength);
  };

  const best = { dgram: Infinity, sendmmsg: Infinity, srtpJs: Infinity, srtpNative: Infinity };
  for (let round = 0; round < Number(values.rounds); round++) {
    best.dgram = Math.min(
      best.dgram,
      await run(
        (port) => socket.send(payload, port, '127.0.0.1'),
        () => {},
      ),
    );
    if (sendPath().path === 'sendmmsg') {
      best.sendmmsg = Math.min(best.sendmmsg, await run((port) => sendBatched(socket, payload, port, '127.0.0.1'), flushSends));
      best.srtpJs = Math.min(best.srtpJs, await run(jsSrtp, recycleArena));
    }
    if (srtpPath().path === 'native') best.srtpNative = Math.min(best.srtpNative, await run(nativeSrtp, flushSends));
  }
  const out = (name: string, value: number, extra: Record<string, unknown> = {}) =>
    console.log(JSON.stringify({ name, value: Math.round(value * 100) / 100, unit: 'µs/datagram', ...extra }));
  out('send.dgram', best.dgram);
  if (sendPath().path === 'sendmmsg') out('send.sendmmsg', best.sendmmsg, { ratio: Math.round((best.dgram / best.sendmmsg) * 100) / 100 });
  else console.log(JSON.stringify({ name: 'send.sendmmsg', skipped: sendPath().why }));
  if (sendPath().path === 'sendmmsg') out('send.srtp_js_sendmmsg', best.srtpJs, { what: 'SRTP in JavaScript, then sendmmsg batches' });
  if (srtpPath().path === 'native') {
    out('send.srtp_native', best.srtpNative, {
      what: 'SRTP and sendmmsg in one native call per batch',
      ratio: Math.round((best.srtpJs / best.srtpNative) * 100) / 100,
    });
  } else console.log(JSON.stringify({ name: 'send.srtp_native', skipped: srtpPath().why }));
  for (const c of contexts) c?.release();
  socket.close();
  child.send('done');
}
