/**
 * Egress replicas for the benches (replica-bench.ts, forward-cost.ts): each replica its own
 * process with the image's Node flags, on loopback with free ports; replica 0 reads the relay
 * targets from a file written the way the kubelet writes a downward API file.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EgressConfigInput } from '@corecast/api';
import { freeTcpPort, freeUdpPort, start, waitFor } from './lib.ts';
import { imageSettings } from './rig.ts';

const root = new URL('../../', import.meta.url).pathname;
const settings = imageSettings();
/** USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s. */
const TICKS = 100;

/** One replica's process and where it listens. */
export interface Replica {
  readonly index: number;
  readonly child: ReturnType<typeof start>;
  /** http://127.0.0.1:<http port> */
  readonly base: string;
  readonly http: number;
  /** Its /metrics URL. */
  readonly metrics: string;
  readonly video: number;
  readonly audio: number;
}

/** Writes a file as the kubelet does (a whole new file renamed over the old). */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** A process's CPU so far (s), from /proc/<pid>/stat (utime + stime). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/**
 * Starts replica `index` (one fan-out worker, limits far above any bench's load); replica 0
 * reads `targetsFile`. `options`: the stream's viewer cap and session settings.
 */
export async function startReplica(
  index: number,
  targetsFile: string,
  options: { maxViewers?: number; session?: EgressConfigInput['session'] } = {},
): Promise<Replica> {
  const [http, metrics, video, audio] = [await freeTcpPort(), await freeTcpPort(), await freeUdpPort(), await freeUdpPort()];
  const config: EgressConfigInput = {
    http: { host: '127.0.0.1', port: http },
    metrics: { port: metrics },
    streams: [{ processId: 'bench', video: { port: video }, audio: { port: audio }, maxViewers: options.maxViewers ?? 10000 }],
    maxViewers: 100000,
    ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort: 0 },
    logLevel: 'warn',
    media: { workers: 1 },
    session: options.session ?? { maxPerClient: 10000 },
    replica: { index, ...(index === 0 ? { relayTargetsFile: targetsFile } : {}) },
  };
  const child = start(process.execPath, [...settings.nodeArgs, join(root, 'egress-pod/src/main.ts')], {
    CORECAST_EGRESS_CONFIG: JSON.stringify(config),
    ...settings.env,
  });
  child.stdout?.resume();
  const base = `http://127.0.0.1:${http}`;
  await waitFor(`replica ${index} /healthz`, async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), 60_000);
  return { index, child, base, http, metrics: `http://127.0.0.1:${metrics}/metrics`, video, audio };
}
