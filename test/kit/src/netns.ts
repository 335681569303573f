/**
 * A network namespace made and removed by a test (`ip netns`), to run programs where every
 * packet that tries to leave the machine is counted. Inside: loopback, and one veth end (cc0)
 * with a private address and a default route through a gateway that does not exist (its
 * neighbour entry is static, so packets really go out cc0 and are counted instead of waiting
 * for ARP). IPv6 is off so the kernel itself sends nothing. A program that contacts any
 * address outside the namespace's own shows up in cc0's transmit counters.
 *
 * The interface names avoid the "veth" prefix: werift skips such interfaces when gathering.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A network namespace with a counted way out. */
export interface Netns {
  /** Its name (for `ip netns exec`). */
  readonly name: string;
  /** Its own address on cc0 (not loopback; packets to it stay inside). */
  readonly address: string;
  /** Prefix that runs a command inside: `ip netns exec <name>`. */
  readonly exec: readonly string[];
  /** Packets cc0 sent so far: anything that tried to reach an outside address. */
  txPackets(): Promise<number>;
  /** Removes the namespace (and its interfaces). */
  remove(): Promise<void>;
}

/** True when this process may create network namespaces (root with iproute2). */
export async function netnsAvailable(): Promise<boolean> {
  try {
    await run('ip', ['netns', 'list']);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/** Creates a namespace as described in the file comment. */
export async function createNetns(): Promise<Netns> {
  const name = `cc-${randomBytes(4).toString('hex')}`;
  const subnet = `10.${100 + (randomBytes(1)[0]! % 100)}.${randomBytes(1)[0]!}`;
  const address = `${subnet}.1`;
  const ip = (...args: string[]) => run('ip', ['-n', name, ...args]);
  const inside = (...args: string[]) => run('ip', ['netns', 'exec', name, ...args]);
  await run('ip', ['netns', 'add', name]);
  try {
    await inside('sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
    await inside('sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
    await ip('link', 'set', 'lo', 'up');
    await ip('link', 'add', 'cc0', 'type', 'veth', 'peer', 'name', 'cc1');
    await inside('sysctl', '-q', '-w', 'net.ipv6.conf.cc0.disable_ipv6=1');
    await inside('sysctl', '-q', '-w', 'net.ipv6.conf.cc1.disable_ipv6=1');
    await ip('addr', 'add', `${address}/24`, 'dev', 'cc0');
    await ip('link', 'set', 'cc1', 'up');
    await ip('link', 'set', 'cc0', 'up');
    await ip('neigh', 'add', `${subnet}.254`, 'lladdr', '02:00:00:00:00:fe', 'dev', 'cc0', 'nud', 'permanent');
    await ip('route', 'add', 'default', 'via', `${subnet}.254`, 'dev', 'cc0');
  } catch (err) {
    await run('ip', ['netns', 'delete', name]).catch(() => {});
    throw err;
  }
  return {
    name,
    address,
    exec: ['ip', 'netns', 'exec', name],
    txPackets: async () => Number((await inside('cat', '/sys/class/net/cc0/statistics/tx_packets')).stdout.trim()),
    remove: async () => {
      await run('ip', ['netns', 'delete', name]).catch(() => {});
    },
  };
}
