/**
 * `npm run bench:egress -- --side-by-side`: the egress beside Janus on this machine, like for like.
 *
 * Each server runs alone, one after the other, in its own network namespace (`unshare -n`:
 * loopback and a veth end with one local address, no route out), with beside it in that
 * namespace the same FFmpeg feed (one clip made here,
 * 720p30 ~2.5 Mbps H.264 + Opus, the production FFmpeg command) and the same load client (real
 * werift viewers in their own process, 8 MiB receive buffers, its sockets' and the namespace's
 * drop counters read). The server's CPU comes from /proc/<pid>/stat over the same window for all.
 * Servers: Corecast with workers auto and with 1 worker, and Janus (Debian's package, installed
 * here with apt when missing; skipped, and said so, when it cannot be) behind bench/janus-whep.ts.
 *
 *   node egress-pod/bench/side-by-side.ts [--steps 50,100,150,200] [--seconds 20] [--servers corecast-auto,corecast-1,janus (or corecast-2)] [--runs 20] [--client-nice=-10]
 *
 * Prints every figure as a JSON line while it runs, then one Markdown table. The machine may be
 * shared: the load average at the start and end of each server's run is printed with it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureJanus } from './janus.ts';
import { emit } from './lib.ts';
import { makeClip } from './rig.ts';
import { sideBySideTable } from './side-by-side-table.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50,100,150,200' },
    seconds: { type: 'string', default: '20' },
    gop: { type: 'string', default: '4' },
    servers: { type: 'string', default: 'corecast-auto,corecast-1,janus' },
    runs: { type: 'string', default: '20' },
    // The load client's niceness (side-by-side-server.ts): 0 measures it as it was before.
    'client-nice': { type: 'string', default: '-10' },
  },
  strict: false,
});
const steps = String(values.steps);
const SERVERS: Record<string, { title: string; args: string[] }> = {
  'corecast-auto': { title: 'Corecast (workers auto)', args: ['--server', 'corecast', '--workers', 'auto'] },
  'corecast-1': { title: 'Corecast (1 worker)', args: ['--server', 'corecast', '--workers', '1'] },
  // Two threads from the start, whatever the load (auto starts its second one on demand).
  'corecast-2': { title: 'Corecast (2 workers)', args: ['--server', 'corecast', '--workers', '2'] },
  janus: { title: 'Janus', args: ['--server', 'janus'] },
};
const chosen = String(values.servers).split(',');
const unknown = chosen.filter((s) => !SERVERS[s]);
if (unknown.length > 0) {
  console.error(`unknown server ${unknown.join(', ')}: choose from ${Object.keys(SERVERS).join(', ')}`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('the side-by-side benchmark makes network namespaces (unshare -n): run it as root');
  process.exit(2);
}

const notes: string[] = [`${availableParallelism()} cores, shared: other work may run beside the benchmark (see the load averages)`];
if (chosen.includes('janus')) {
  const janus = await ensureJanus();
  emit('janus.available', janus.installed ? 1 : 0, 'bool', { version: janus.version, note: janus.note });
  notes.push(`Janus: ${janus.note}${janus.version ? ` (${janus.version})` : ''}`);
  if (!janus.installed) chosen.splice(chosen.indexOf('janus'), 1);
  else SERVERS.janus!.title = `Janus ${janus.version}`;
}

const dir = await mkdtemp(join(tmpdir(), 'corecast-side-by-side-'));
const lines: string[] = [];
let interrupted = false;
try {
  const clip = await makeClip(dir, Number(values.gop));
  for (const name of chosen) {
    const child = spawn(
      'unshare',
      [
        '-n',
        '--',
        process.execPath,
        new URL('./side-by-side-server.ts', import.meta.url).pathname,
        ...SERVERS[name]!.args,
        ...['--clip', clip, '--steps', steps, '--seconds', String(values.seconds), '--gop', String(values.gop), '--label', name, '--runs', String(values.runs)],
        `--client-nice=${String(values['client-nice'])}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    // Interrupted: the run inside the namespace stops its server, feed and load client.
    const forward = () => {
      interrupted = true;
      child.kill('SIGTERM');
    };
    process.once('SIGINT', forward).once('SIGTERM', forward);
    let rest = '';
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      const text = rest + d.toString();
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l.startsWith('{')).map((l) => l.replace(/"name":"(machine\.)/, `"name":"${name}.$1`)));
    });
    const code = await new Promise((r) => child.on('exit', r));
    process.off('SIGINT', forward).off('SIGTERM', forward);
    if (code !== 0) notes.push(`${SERVERS[name]!.title}: its run failed (exit ${code}), see above`);
    if (interrupted) break;
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(
  `\n${sideBySideTable(
    lines,
    chosen.map((name) => ({ name, title: SERVERS[name]!.title })),
    steps.split(',').map(Number),
    notes,
  )}`,
);
