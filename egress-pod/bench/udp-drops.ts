/** The kernel's drop counts of UDP sockets, for the benchmarks' load client: per process, and per network namespace. */
import { readdir, readFile, readlink } from 'node:fs/promises';

/** The kernel's drop counts of a process's UDP sockets (the last column of /proc/<pid>/net/udp{,6}), summed. */
export async function udpDrops(pid: number): Promise<number> {
  const mine = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const inode = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''))?.[1];
    if (inode) mine.add(inode);
  }
  let drops = 0;
  for (const table of ['udp', 'udp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && mine.has(fields[9]!)) drops += Number(fields.at(-1));
    }
  }
  return drops;
}

/** A row of /proc/net/snmp by name (its header line names the fields). */
async function snmp(protocol: string): Promise<Record<string, number>> {
  const rows = (await readFile('/proc/net/snmp', 'utf8')).split('\n').filter((l) => l.startsWith(`${protocol}: `));
  const [names, values] = rows.map((l) => l.split(/\s+/).slice(1));
  return Object.fromEntries((names ?? []).map((name, i) => [name, Number(values?.[i])]));
}

/**
 * UDP receive errors of this network namespace (/proc/net/snmp): RcvbufErrors counts datagrams
 * dropped because a socket's receive buffer was full, InErrors every datagram not delivered. In
 * a benchmark's own namespace, the load client's drops show here (the server's too, if any).
 */
export async function namespaceUdpErrors(): Promise<{ rcvbufErrors: number; inErrors: number }> {
  const udp = await snmp('Udp');
  return { rcvbufErrors: udp.RcvbufErrors ?? 0, inErrors: udp.InErrors ?? 0 };
}

/** Packets this network namespace had no route for (Ip OutNoRoutes): in a loopback-only namespace, any try to reach an outside address. */
export async function namespaceNoRoutes(): Promise<number> {
  return (await snmp('Ip')).OutNoRoutes ?? 0;
}
