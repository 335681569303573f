/**
 * Receiving sockets for the send-path tests: bound on a loopback address, closed after the file,
 * with a receive buffer large enough that a whole batch arrives (a dropped datagram would read as
 * a byte-for-byte mismatch).
 */
import { createSocket, type Socket, type SocketType } from 'node:dgram';
import { after } from 'node:test';

const open: Socket[] = [];
after(() => {
  for (const s of open) {
    try {
      s.close();
    } catch {
      // Closed by its test already (a socket closed before its batch went out).
    }
  }
});

/** A socket of `type` bound to a free port on `address`, with a `recvBufferBytes` receive buffer. */
export async function bound(type: SocketType, address: string, recvBufferBytes: number): Promise<Socket> {
  const socket = createSocket(type);
  open.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => resolve());
  });
  socket.setRecvBufferSize(recvBufferBytes);
  return socket;
}

/** Collects what `socket` receives until `count` datagrams arrived. */
export function receive(socket: Socket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve) => {
    if (count === 0) resolve(got);
    socket.on('message', (m) => {
      got.push(m);
      if (got.length === count) resolve(got);
    });
  });
}
