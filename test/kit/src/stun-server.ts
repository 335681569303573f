/**
 * A minimal STUN server (RFC 8489 Binding only) on loopback, so tests can configure a STUN
 * server that exists without any packet leaving the machine. It counts the requests it answers.
 */
import { createSocket, type Socket } from 'node:dgram';

const MAGIC = 0x2112a442;

/** A running STUN server. */
export interface StunServer {
  /** Its UDP port on 127.0.0.1. */
  readonly port: number;
  /** Binding requests answered so far. */
  readonly requests: () => number;
  /** Stops it. */
  close(): Promise<void>;
}

/** Starts a STUN Binding responder on 127.0.0.1. */
export async function startStunServer(): Promise<StunServer> {
  const socket: Socket = createSocket('udp4');
  let requests = 0;
  socket.on('message', (msg, rinfo) => {
    // Binding request (RFC 8489 §5): type 0x0001, magic cookie, 12-byte transaction id.
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001 || msg.readUInt32BE(4) !== MAGIC) return;
    requests++;
    const attr = Buffer.alloc(12);
    attr.writeUInt16BE(0x0020, 0); // XOR-MAPPED-ADDRESS (§14.2)
    attr.writeUInt16BE(8, 2);
    attr.writeUInt8(0x01, 5); // IPv4
    attr.writeUInt16BE(rinfo.port ^ (MAGIC >>> 16), 6);
    const ip = rinfo.address.split('.').map(Number);
    attr.writeUInt32BE((((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) ^ MAGIC) >>> 0, 8);
    const head = Buffer.alloc(20);
    head.writeUInt16BE(0x0101, 0); // Binding success response
    head.writeUInt16BE(attr.length, 2);
    msg.copy(head, 4, 4, 20);
    socket.send(Buffer.concat([head, attr]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    port: socket.address().port,
    requests: () => requests,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
