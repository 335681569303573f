/** The kernel's drop counts of a process's UDP sockets, for the benchmarks' load client. */
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
