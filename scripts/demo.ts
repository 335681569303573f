/**
 * `npm run demo [-- path/to/process.yaml] [--port 8080] [--listen 127.0.0.1] [--verbose]`
 *
 * Runs one Process locally, no cluster: FFmpeg with the argv the operator would give its pod
 * (the same builder), sending RTP to an egress pod running in this process, and prints the
 * player URL to open in a browser. Default manifest: examples/test-pattern.yaml.
 *
 * The egress advertises this machine's own network addresses (werift's normal gathering), so a
 * browser on the same machine reaches it without special flags; with no network at all it
 * falls back to 127.0.0.1, which Chrome accepts only with --allow-loopback-in-peer-connection.
 * No STUN server is used: nothing outside this machine is contacted.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import {
  buildFfmpegArgs,
  type EgressConfigInput,
  egressStreamFor,
  parseProcess,
  playerPath,
  type Process,
  ValidationError,
  whepPath,
} from '@corecast/api';
import { createLogger, type Egress, resolveConfig, startEgress } from '@corecast/egress-pod';

const DEFAULT_MANIFEST = new URL('../examples/test-pattern.yaml', import.meta.url);

/** Prints a message for a person and exits with `code`. */
function fail(message: string, code = 1): never {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

function options() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        port: { type: 'string', default: process.env.CORECAST_DEMO_PORT ?? '8080' },
        listen: { type: 'string', default: '127.0.0.1' },
        verbose: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\nusage: npm run demo [-- path/to/process.yaml] [--port 8080] [--listen 127.0.0.1] [--verbose]`, 2);
  }
}

/** Reads and validates the manifest; every problem is named by its field path. */
function readProcess(path: string | URL): Process {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`cannot read ${String(path)}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    fail(`${String(path)} is not YAML: ${(err as Error).message}`);
  }
  try {
    const p = parseProcess(doc);
    if (!p.spec.webrtc.enabled) fail(`${String(path)}: spec.webrtc.enabled is false; set it to true to play the process in a browser`);
    return p;
  } catch (err) {
    if (err instanceof ValidationError) fail(`${String(path)}: ${err.message}`);
    throw err;
  }
}

/** Says exactly what is missing and how to get it. */
function checkFfmpeg(): string {
  const found = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' });
  if (found.status === 0) return found.stdout.trim();
  fail(
    'ffmpeg is not installed (not found on PATH).\n' +
      '  Debian/Ubuntu: sudo apt-get install ffmpeg   (or: bash scripts/setup.sh demo)\n' +
      '  Fedora: sudo dnf install ffmpeg   macOS: brew install ffmpeg',
  );
}

/** This machine's non-loopback IPv4 addresses (what werift will advertise). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

/** Runs FFmpeg like the Process's pod would: restarts it after reconnectDelaySeconds when it exits. */
function superviseFfmpeg(bin: string, argv: string[], process_: Process, verbose: boolean): { stop(): Promise<void> } {
  let child: ChildProcess | undefined;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    const lines: string[] = [];
    child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (verbose) process.stderr.write(chunk);
      lines.push(...chunk.split('\n').filter(Boolean));
      lines.splice(0, Math.max(0, lines.length - 10));
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      const why = signal ? `was killed (${signal})` : `exited with code ${code}`;
      process.stderr.write(`demo: ffmpeg ${why}${lines.length ? `; its last lines:\n  ${lines.join('\n  ')}` : ''}\n`);
      if (!process_.spec.reconnect) return;
      const delay = process_.spec.reconnectDelaySeconds;
      process.stderr.write(`demo: starting ffmpeg again in ${delay} s (spec.reconnectDelaySeconds)\n`);
      timer = setTimeout(start, delay * 1000);
    });
  };
  start();
  return {
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

async function main(): Promise<void> {
  const { values, positionals } = options();
  const manifest = positionals[0] ?? DEFAULT_MANIFEST;
  const ffmpeg = checkFfmpeg();
  const proc = readProcess(manifest);
  const id = proc.metadata.name;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port must be a port number, not "${values.port}"`, 2);

  const addresses = hostAddresses();
  const config: EgressConfigInput = {
    http: { host: values.listen!, port },
    // Metrics and RTP on ports picked by the kernel: FFmpeg is told which, the metrics URL is printed.
    metrics: { port: 0 },
    streams: [{ ...egressStreamFor({ name: id, spec: proc.spec }, { videoPort: 0, audioPort: 0 }) }],
    // Without a network the browser's candidates are loopback ones too: taken only then.
    ice: addresses.length > 0 ? {} : { advertise: { addresses: ['127.0.0.1'] }, allowLoopbackCandidates: true },
    logLevel: values.verbose ? 'info' : 'warn',
  };
  let egress: Egress;
  try {
    egress = await startEgress(resolveConfig(config, process.env), { log: createLogger(config.logLevel!) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`port ${port} is in use; choose another with --port (or CORECAST_DEMO_PORT)`);
    throw err;
  }
  const rtp = egress.rtpPorts.get(id)!;
  let argv: string[];
  try {
    argv = buildFfmpegArgs({ name: id, spec: proc.spec }, { egress: { host: '127.0.0.1', videoPort: rtp.video, audioPort: rtp.audio } });
  } catch (err) {
    await egress.stop();
    fail(err instanceof ValidationError ? err.message : String(err));
  }
  const ff = superviseFfmpeg(ffmpeg, argv, proc, values.verbose!);

  const host = values.listen === '0.0.0.0' ? '127.0.0.1' : values.listen!;
  const base = `http://${host}:${egress.httpPort}`;
  console.log(`Corecast demo: process "${id}" from ${String(manifest instanceof URL ? 'examples/test-pattern.yaml' : manifest)}`);
  console.log(`  player: ${base}${playerPath(id)}`);
  console.log(`  WHEP:   ${base}${whepPath(id)}`);
  console.log(`  metrics: http://${host}:${egress.metricsPort}/metrics`);
  console.log(
    addresses.length > 0
      ? `  media:  UDP to this machine's ${addresses.join(', ')} (no STUN, nothing outside is contacted)`
      : '  media:  127.0.0.1 only (no network found): start Chrome with --allow-loopback-in-peer-connection',
  );
  console.log('  Ctrl-C stops it.');

  const stream = egress.streams.get(id)!;
  const announce = setInterval(() => {
    if (stream.source.state === 'up') {
      console.log('  source is up: open the player URL above');
      clearInterval(announce);
    }
  }, 200);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(announce);
    await ff.stop();
    await egress.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

await main();
