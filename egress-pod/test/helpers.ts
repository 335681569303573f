/** Shared set-up of the egress tests: an egress on loopback with free ports, its source, its log. */
import { PassThrough } from 'node:stream';
import type { EgressConfigInput } from '@corecast/api';
import { type FfmpegRun, type PatternOptions, startTestPattern } from '@corecast/testkit/ffmpeg';
import { waitUntil } from '@corecast/testkit/whep-client';
import { type Egress, type Env, resolveConfig, startEgress } from '../src/index.ts';

/** The base configuration of test egresses: loopback only, every port picked by the kernel. */
export function testConfig(overrides: Partial<EgressConfigInput> = {}): EgressConfigInput {
  return {
    http: { host: '127.0.0.1', port: 0 },
    metrics: { port: 0 },
    streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 } }],
    logLevel: process.env.CORECAST_TEST_LOG ?? 'silent',
    ...overrides,
    // Viewers here are werift peers on loopback: their candidates are 127.0.0.1, which a pod
    // drops unless told otherwise.
    // udpPort 0: each test egress its own media port (the default 8189 would be shared between
    // test processes: the mux binds it with SO_REUSEPORT when there are workers).
    ice: { allowLoopbackCandidates: true, udpPort: 0, ...(overrides.ice ?? { advertise: { addresses: ['127.0.0.1'], only: true } }) },
    // Every test viewer comes from 127.0.0.1 too: the per-address session limit would cap them
    // all together (viewer-limits.int.test.ts tests it with its own value).
    session: { maxPerClient: 10000, ...overrides.session },
  } as EgressConfigInput;
}

/** Starts an egress in this process. */
export function startTestEgress(overrides: Partial<EgressConfigInput> = {}, env: Env = {}): Promise<Egress> {
  return startEgress(resolveConfig(testConfig(overrides), env), { defaultMetrics: false });
}

/** The WHEP endpoint URL of a process. */
export function whepUrl(egress: Egress, processId = 'demo'): string {
  return `${egress.url}/api/v3/process/${processId}/whep`;
}

/** Starts a test pattern into an egress stream and waits until the egress sees it. */
export async function feed(egress: Egress, processId = 'demo', options: PatternOptions = {}): Promise<FfmpegRun> {
  const ports = egress.rtpPorts.get(processId)!;
  const run = startTestPattern({ host: '127.0.0.1', videoPort: ports.video, audioPort: ports.audio }, options);
  const stream = egress.streams.get(processId)!;
  await waitUntil(() => stream.source.state === 'up' || run.child.exitCode !== null, 30000, `source of ${processId} up`).catch((err) => {
    throw new Error(`${(err as Error).message}; ffmpeg said: ${run.stderr()}`);
  });
  if (run.child.exitCode !== null) throw new Error(`ffmpeg exited ${run.child.exitCode}: ${run.stderr()}`);
  return run;
}

/** The value of one metric series from the egress registry (0 when absent). */
export async function metric(egress: Egress, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = egress.metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)) sum += v.value;
  }
  return sum;
}

/** A log destination that keeps what the egress writes: as text, and as parsed lines. */
export function logSink(): { stream: PassThrough; text: () => string; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const lines = (): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l): Record<string, unknown> => JSON.parse(l));
  return { stream, text: () => text, lines };
}
