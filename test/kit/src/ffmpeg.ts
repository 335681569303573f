/**
 * Real FFmpeg for tests: a test-pattern Process (lavfi testsrc2 + sine) turned into argv by
 * the same builder the operator uses, started as a child that a test can kill and restart.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { buildFfmpegArgs, type ProcessRef, parseProcess } from '@corecast/api';

/** Path of the ffmpeg binary, or undefined when it is not installed. */
export function ffmpegPath(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** A test pattern's shape. */
export interface PatternOptions {
  /** Process id (default "demo"). */
  readonly name?: string;
  /** Picture size (default 640x360: light on a loaded machine). */
  readonly size?: string;
  /** Frame rate (default 30). */
  readonly rate?: number;
  /** Seconds between keyframes (default 1, the builder's; longer GOPs exercise late joiners). */
  readonly gopSeconds?: number;
  /** Include the sine audio (default true). */
  readonly audio?: boolean;
}

/** A WebRTC-enabled test-pattern Process, parsed with every default. */
export function testPatternProcess(options: PatternOptions = {}): ProcessRef {
  const size = options.size ?? '640x360';
  const rate = options.rate ?? 30;
  const graph =
    options.audio === false
      ? `testsrc2=size=${size}:rate=${rate},format=yuv420p[out0]`
      : `testsrc2=size=${size}:rate=${rate},format=yuv420p[out0];sine=frequency=440:sample_rate=48000[out1]`;
  const p = parseProcess({
    apiVersion: 'corecast.dev/v1alpha1',
    kind: 'Process',
    metadata: { name: options.name ?? 'demo' },
    spec: {
      input: [{ id: 'pattern', address: graph, options: ['-re', '-f', 'lavfi'] }],
      output: [{ id: 'discard', address: '-', options: ['-map', '0:v:0', '-c', 'copy', '-f', 'null'] }],
      options: ['-loglevel', 'error'],
      webrtc: { enabled: true, forceTranscode: true },
    },
  });
  return { name: p.metadata.name, spec: p.spec };
}

/** FFmpeg argv of a test pattern sending RTP to `host` on the given ports. */
export function testPatternArgs(target: { host: string; videoPort: number; audioPort: number }, options: PatternOptions = {}): string[] {
  const gop = options.gopSeconds;
  return buildFfmpegArgs(testPatternProcess(options), { egress: target }).map((a) => {
    // The builder forces a keyframe every second; a test asking for another GOP rewrites it.
    if (gop !== undefined && a.startsWith('expr:gte(t,n_forced*')) return `expr:gte(t,n_forced*${gop})`;
    return a;
  });
}

/** A running FFmpeg. */
export interface FfmpegRun {
  /** The child process. */
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) when it ends. */
  readonly exited: Promise<number | string>;
  /** Last lines FFmpeg wrote to stderr (for failure messages). */
  stderr(): string;
  /** Stops it (SIGKILL by default: as abrupt as a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts FFmpeg with `args` (no program name). Its progress output on stdout is discarded. */
export function startFfmpeg(args: readonly string[], prefix: readonly string[] = []): FfmpegRun {
  const bin = ffmpegPath();
  if (!bin) throw new Error('ffmpeg is not installed (Debian: apt-get install ffmpeg)');
  const argv = [...prefix, bin, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    exited,
    stderr: () => lines.join('\n'),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Starts a test pattern towards an egress. */
export function startTestPattern(target: { host: string; videoPort: number; audioPort: number }, options: PatternOptions = {}): FfmpegRun {
  return startFfmpeg(testPatternArgs(target, options));
}
