/**
 * The egress pod as a child process, exactly as its container runs it (`node
 * egress-pod/src/main.ts` with CORECAST_EGRESS_CONFIG), so a test can kill and restart it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EGRESS_CONFIG_ENV, type EgressConfigInput, PORTS } from '@corecast/api';
import { waitUntil } from '@corecast/testkit/whep-client';

const MAIN = fileURLToPath(new URL('../../egress-pod/src/main.ts', import.meta.url));

/** A free TCP port on loopback (bound and released; fine for tests that start at once). */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A free UDP port. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '0.0.0.0', () => r()));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/**
 * An egress pod that headless Chromium plays from on loopback: stream "demo" taking RTP on the
 * ports of `rtp`, HTTP and metrics on free ports, and loopback candidates only (Chromium is
 * started with --allow-loopback-in-peer-connection, and a pod's default drops them).
 */
export async function loopbackEgressConfig(rtp: { videoPort: number; audioPort: number }): Promise<EgressConfigInput> {
  return {
    http: { host: '127.0.0.1', port: await freeTcpPort() },
    metrics: { port: await freeTcpPort() },
    streams: [{ processId: 'demo', video: { port: rtp.videoPort }, audio: { port: rtp.audioPort } }],
    ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort: 0 },
  };
}

/** An egress pod running as a child process. */
export class EgressChild {
  /** Base URL. */
  readonly url: string;
  /** Base URL of the metrics port (`config.metrics.port`, default 8081). */
  readonly metricsUrl: string;
  readonly #config: EgressConfigInput;
  readonly #env: Record<string, string>;
  readonly #prefix: readonly string[];
  readonly #logFile: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();

  /**
   * `config.http.port` must be fixed (a restart keeps the URL), and so must `config.metrics.port`
   * when `metric()` is used; in a namespace, logLevel must show info.
   */
  constructor(config: EgressConfigInput, options: { env?: Record<string, string>; prefix?: readonly string[]; logFile?: string } = {}) {
    this.#config = config;
    this.#env = options.env ?? {};
    this.#prefix = options.prefix ?? [];
    this.#logFile = options.logFile;
    this.url = `http://127.0.0.1:${config.http?.port}`;
    this.metricsUrl = `http://127.0.0.1:${config.metrics?.port ?? PORTS.metrics}`;
  }

  /**
   * Starts the process and waits until it serves: /healthz, or — inside a network namespace,
   * which this process cannot reach — its "egress listening" log line.
   */
  async start(): Promise<void> {
    const argv = [...this.#prefix, process.execPath, MAIN];
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, ...this.#env, [EGRESS_CONFIG_ENV]: JSON.stringify(this.#config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((r) => child.once('exit', r));
    let listening = false;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('"egress listening"')) listening = true;
    });
    if (this.#logFile) {
      const log = createWriteStream(this.#logFile, { flags: 'a' });
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
    } else {
      child.stderr?.resume();
    }
    const inNamespace = this.#prefix.length > 0;
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`egress exited with ${child.exitCode}`);
        if (inNamespace) return listening;
        return (await fetch(`${this.url}/healthz`).catch(() => undefined))?.status === 200;
      },
      30000,
      'egress serving',
    );
  }

  /** Kills the process (SIGKILL: no goodbye to anyone) and waits for it. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    await this.#exited;
  }

  /** Sum of a metric's series whose labels include `labels` (Prometheus text format). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`${this.metricsUrl}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }
}
