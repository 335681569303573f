/** Shared pieces of the egress benchmarks: free ports, child processes, metrics scraping, JSON lines. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** Prints one benchmark figure as a JSON line. */
export function emit(name: string, value: number, unit: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ name, value: Math.round(value * 1000) / 1000, unit, ...extra }));
}

/** A free TCP port on loopback. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** A free UDP port on loopback. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(r));
  return port;
}

/** Starts a child whose stderr is kept (the last lines explain a failure). */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { tail: () => string } {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stderr?.on('data', keep);
  return Object.assign(child, { tail: () => tail });
}

/** Stops a child and waits for it. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads Prometheus text metrics into name{labels} → value. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sums every series of a metric (any labels). */
export function total(metrics: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [key, value] of metrics) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

/** Largest value of any series of a metric (0 when absent). */
export function maximum(metrics: Map<string, number>, name: string): number {
  let max = 0;
  for (const [key, value] of metrics) if ((key === name || key.startsWith(`${name}{`)) && value > max) max = value;
  return max;
}

/** prom-client's event-loop monitor interval (its default `eventLoopMonitoringPrecision`, ms). */
const MAIN_LOOP_RESOLUTION_MS = 10;

/**
 * The egress's event-loop delay p99 (ms) from its metrics: the main thread's (HTTP, ingest) — how
 * late prom-client's 10 ms monitor timer ran; Node's histogram behind
 * `nodejs_eventloop_lag_p99_seconds` records the whole interval between the timer's runs (an idle
 * loop shows ~10 ms), so the interval is taken off, as the workers'
 * `corecast_egress_worker_eventloop_lag_*` gauges do themselves — the worst fan-out worker's (its
 * viewers' jitter), and the worst of all. A scrape resets the main thread's histogram, so the
 * figures cover the time since the one before.
 */
export function loopDelays(m: Map<string, number>): { main: number; worker: number; worst: number } {
  const main = Math.max(0, maximum(m, 'nodejs_eventloop_lag_p99_seconds') * 1000 - MAIN_LOOP_RESOLUTION_MS);
  const worker = maximum(m, 'corecast_egress_worker_eventloop_lag_p99_seconds') * 1000;
  return { main, worker, worst: Math.max(main, worker) };
}

/** Percentile of a sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The figures a load client printed for step `n` (one JSON line each), by name without the step prefix. */
export function stepFigures(out: string, n: number): Record<string, number> {
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name?: string; value?: number })
      .filter((f) => f.name !== undefined)
      .map((f) => [f.name!.replace(`step${n}.`, ''), f.value!]),
  );
}
