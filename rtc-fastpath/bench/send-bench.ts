/**
 * CPU per datagram of the two send paths of the fast path, in one run: Node's dgram send (with
 * the synchronous IP-literal lookup `ViewerSender` gives its sockets) and the sendmmsg batches
 * (src/batch-send.ts), alternating, each sending 1200-byte datagrams round-robin to `--viewers`
 * receiving sockets on loopback, in slices like a fan-out worker's. The receivers live in a child
 * process that reads and drops everything, so this process's CPU time (user + system; on
 * loopback the kernel delivers each datagram inside the send) is the sending alone.
 *
 *   node rtc-fastpath/bench/send-bench.ts [--datagrams 60000] [--viewers 100] [--rounds 3]
 *
 * Prints JSON lines {name, value, unit}: µs of CPU per datagram for each path, best of the rounds.
 */
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { flushSends, sendBatched, sendPath } from '../src/batch-send.ts';
import { sendDirectly } from '../src/direct-send.ts';

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
  const child = fork(new URL(import.meta.url).pathname, ['--receiver', '--viewers', values.viewers], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < SLICE && sent < total; i++, sent++) send(ports[sent % ports.length]!);
      flush();
      await new Promise((r) => setImmediate(r));
    }
    // Let dgram's queue (if the socket buffer filled) drain before the clock stops.
    while (socket.getSendQueueCount() > 0) await new Promise((r) => setTimeout(r, 1));
    const cpu = process.cpuUsage(start);
    return (cpu.user + cpu.system) / total;
  };

  const best = { dgram: Infinity, sendmmsg: Infinity };
  for (let round = 0; round < Number(values.rounds); round++) {
    best.dgram = Math.min(best.dgram, await run((port) => socket.send(payload, port, '127.0.0.1'), () => {}));
    if (sendPath().path === 'sendmmsg') {
      best.sendmmsg = Math.min(best.sendmmsg, await run((port) => sendBatched(socket, payload, port, '127.0.0.1'), flushSends));
    }
  }
  const out = (name: string, value: number, extra: Record<string, unknown> = {}) =>
    console.log(JSON.stringify({ name, value: Math.round(value * 100) / 100, unit: 'µs/datagram', ...extra }));
  out('send.dgram', best.dgram);
  if (sendPath().path === 'sendmmsg') out('send.sendmmsg', best.sendmmsg, { ratio: Math.round((best.dgram / best.sendmmsg) * 100) / 100 });
  else console.log(JSON.stringify({ name: 'send.sendmmsg', skipped: sendPath().why }));
  socket.close();
  child.send('done');
}
