/**
 * What every egress benchmark runs against: the egress in its own process (as in production,
 * `node egress-pod/src/main.ts` with the image's Node flags and malloc settings) and FFmpeg
 * sending it RTP with the production command. The source is either a pre-encoded 720p30 ~2.5 Mbps clip played in a loop
 * (video copied: FFmpeg costs next to nothing, for load runs) or a live encode whose pictures
 * carry the wall-clock time (for glass-to-glass latency, see `clockVideo`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildFfmpegArgs, type EgressConfigInput, parseProcess } from '@corecast/api';
import { freeTcpPort, freeUdpPort, start, stop, waitFor } from './lib.ts';

/** How the egress process runs: its Node flags and environment variables. */
export interface RuntimeSettings {
  readonly nodeArgs: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The egress image's runtime settings, read from egress-pod/Dockerfile: the Node flags of its
 * NODE_OPTIONS (less --conditions, which `compiled` adds) and its malloc variables (MALLOC_*).
 * Every benchmark runs the egress with them unless told otherwise.
 */
export function imageSettings(): RuntimeSettings {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  const env: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^ENV (\w+)=("[^"]*"|\S+)/gm)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  if (env.NODE_OPTIONS === undefined) throw new Error('egress-pod/Dockerfile sets no NODE_OPTIONS');
  const nodeArgs = env.NODE_OPTIONS.split(/\s+/).filter((f) => f !== '' && !f.startsWith('--conditions'));
  return { nodeArgs, env: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('MALLOC_'))) };
}

/** Bits of the wall-clock millisecond count drawn into each picture. */
export const CLOCK_BITS = 24;
/** Width and height of one bit's block, in pixels. */
export const CLOCK_BLOCK = 32;

/** A running egress and its source. */
export interface Rig {
  /** http://127.0.0.1:port */
  readonly base: string;
  /** The egress's metrics URL (its own port). */
  readonly metrics: string;
  /** The WHEP endpoint of the stream. */
  readonly whep: string;
  /** The egress process. */
  readonly egress: ReturnType<typeof start>;
  /** The FFmpeg process. */
  readonly ffmpeg: ReturnType<typeof start>;
  /** Stops both. */
  stop(): Promise<void>;
}

/** How a rig is set up. */
export interface RigOptions {
  /** Keyframe interval of the source (s). */
  readonly gopSeconds: number;
  /** media.workers of the egress. */
  readonly workers: 'auto' | number;
  /** Extra Node flags of the egress process (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Live encode with the wall clock in the picture (and a tone, unless 'video-only'), instead of the looped clip. */
  readonly clock?: boolean | 'video-only';
  /** Extra egress configuration (merged over the defaults). */
  readonly config?: Partial<EgressConfigInput>;
  /** Extra environment of the egress process. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run the JavaScript the image runs (each workspace's dist/, built here first) instead of the TypeScript sources. */
  readonly compiled?: boolean;
  /** Node flags and environment of the egress process (default: the image's, `imageSettings()`). */
  readonly settings?: RuntimeSettings;
  /** The looped clip's playlist, made once by `makeClip` and shared (made in the rig's directory otherwise). */
  readonly clip?: string;
}

/** Builds dist/ of the workspaces the egress runs (their tsconfig.build.json, as the image's build stage does). */
export async function buildEgressJs(root: string): Promise<void> {
  for (const ws of ['api', 'rtc-fastpath', 'egress-pod']) {
    const tsc = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, ws, 'tsconfig.build.json')], {
      stdio: 'inherit',
    });
    const code = await new Promise((r) => tsc.on('exit', r));
    if (code !== 0) throw new Error(`tsc -p ${ws}/tsconfig.build.json failed (exit ${code})`);
  }
}

/** Encodes the load clip once (720p30, ~2.5 Mbps constrained-baseline H.264, Opus); returns a looping playlist of it. */
export async function makeClip(dir: string, gopSeconds: number): Promise<string> {
  const file = join(dir, 'clip.mkv');
  // prettier-ignore
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '24',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k', '-g', String(30 * gopSeconds), '-bf', '0',
    '-c:a', 'libopus', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    file,
  ];
  const child = spawn('ffmpeg', args, { stdio: 'inherit' });
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`ffmpeg could not encode the clip (exit ${code})`);
  // Played in a loop through the concat demuxer: `-stream_loop` with stream copy stops at the
  // first loop in FFmpeg 5.1 (the builder's dump_extra filter gets a packet after its EOF).
  const list = join(dir, 'loop.txt');
  await writeFile(list, "file 'clip.mkv'\n".repeat(500));
  return list;
}

/**
 * A live 720p30 test pattern whose top-left strip carries the wall-clock time: frames are
 * released in real time (realtime), then stamped with the wall clock (setpts with RTCTIME, µs
 * since the epoch), and geq draws bit k of (milliseconds mod 2^24) as block k, white for 1,
 * black for 0, least significant bit first. A page reads it back from each decoded frame.
 * Paced by the filter, so no `-re`.
 */
function clockVideo(): string {
  const bit = `floor(mod(floor(T*1000)/pow(2,floor(X/${CLOCK_BLOCK})),2))`;
  return [
    'testsrc2=size=1280x720:rate=30,format=yuv420p,realtime,setpts=RTCTIME/(TB*1000000),split[bg][s]',
    `[s]crop=${CLOCK_BITS * CLOCK_BLOCK}:${CLOCK_BLOCK}:0:0,geq=lum='255*${bit}':cb=128:cr=128[clock]`,
    '[bg][clock]overlay=0:0',
  ].join(';');
}

/**
 * Its audio: a sine in 20 ms frames (Opus's), stamped the same way. A second input, not a
 * second output of the video's graph: the realtime filters of one graph sleep in one thread
 * and starve each other (audio came out at 30 of its 50 packets a second).
 */
const CLOCK_AUDIO = 'sine=frequency=440:sample_rate=48000:samples_per_frame=960,arealtime,asetpts=RTCTIME/(TB*1000000)';

/**
 * FFmpeg's production command for the stream `bench` (what the operator runs in the FFmpeg pod),
 * sending RTP to 127.0.0.1 `ports` (H.264 payload type 102, Opus 111), its source the rig's: the
 * looped clip (made in `dir` unless `options.clip` names one) or the live clock.
 */
export async function feedArgs(
  dir: string,
  options: Pick<RigOptions, 'gopSeconds' | 'clock' | 'clip'>,
  ports: { videoPort: number; audioPort: number },
): Promise<string[]> {
  const { videoPort, audioPort } = ports;
  const inputs = options.clock
    ? [
        { id: 'clock', address: clockVideo(), options: ['-f', 'lavfi'] },
        ...(options.clock === 'video-only' ? [] : [{ id: 'tone', address: CLOCK_AUDIO, options: ['-f', 'lavfi'] }]),
      ]
    : [{ id: 'clip', address: options.clip ?? (await makeClip(dir, options.gopSeconds)), options: ['-re', '-f', 'concat', '-safe', '0'] }];
  const spec = parseProcess({
    apiVersion: 'corecast.dev/v1alpha1',
    kind: 'Process',
    metadata: { name: 'bench' },
    spec: {
      input: inputs,
      output: [{ id: 'discard', address: '-', options: ['-map', '0:v:0', '-c', 'copy', '-f', 'null'] }],
      options: ['-loglevel', 'error'],
      webrtc: { enabled: true, forceTranscode: options.clock !== undefined && options.clock !== false },
    },
  }).spec;
  let args = buildFfmpegArgs({ name: 'bench', spec }, { egress: { host: '127.0.0.1', videoPort, audioPort } });
  // The builder forces a keyframe every second; the benchmark asks for its own GOP (counted
  // from the previous keyframe: the clock source's timestamps are the wall clock, not from 0).
  const gop = `expr:if(isnan(prev_forced_t),1,gte(t-prev_forced_t,${options.gopSeconds}))`;
  args = args.map((a) => (a.startsWith('expr:gte(t,n_forced*') ? gop : a));
  // The live encode at the load clip's rate (the builder leaves x264 at its default quality).
  // The clock's audio is the second input (the builder takes audio from the first).
  if (options.clock === true) args = args.map((a) => (a === '0:a:0?' ? '1:a:0' : a));
  const x264 = args.indexOf('libx264');
  if (x264 > 0) args.splice(x264 + 1, 0, '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k');
  return args;
}

/** Starts the egress and its source; resolves once the egress is ready (RTP flowing). */
export async function benchRig(dir: string, options: RigOptions): Promise<Rig> {
  const root = new URL('../../', import.meta.url).pathname;
  const httpPort = await freeTcpPort();
  const metricsPort = await freeTcpPort();
  const videoPort = await freeUdpPort();
  const audioPort = await freeUdpPort();
  const base = `http://127.0.0.1:${httpPort}`;
  const config: EgressConfigInput = {
    http: { host: '127.0.0.1', port: httpPort },
    metrics: { port: metricsPort },
    streams: [
      { processId: 'bench', video: { port: videoPort, payloadType: 102 }, audio: { port: audioPort, payloadType: 111 }, maxViewers: 10000 },
    ],
    maxViewers: 100000,
    // Load viewers are werift peers on loopback: their candidates are taken here.
    // udpPort 0: a media port of its own, whatever else runs on this machine.
    ice: { advertise: { addresses: ['127.0.0.1'], only: true }, allowLoopbackCandidates: true, udpPort: 0 },
    logLevel: 'warn',
    media: { workers: options.workers },
    // Load viewers (whep-viewer.ts) answer nothing but ICE consent checks (every ~5 s).
    // Every load viewer comes from 127.0.0.1: no per-address session limit.
    session: { livenessTimeoutSeconds: 15, maxPerClient: 10000 },
    ...options.config,
  };
  if (options.compiled) await buildEgressJs(root);
  const program = options.compiled
    ? ['--conditions=corecast-js', join(root, 'egress-pod/dist/main.js')]
    : [join(root, 'egress-pod/src/main.ts')];
  const settings = options.settings ?? imageSettings();
  const egress = start(process.execPath, [...settings.nodeArgs, ...(options.nodeArgs ?? []), ...program], {
    CORECAST_EGRESS_CONFIG: JSON.stringify(config),
    ...settings.env,
    ...options.env,
  });
  // The source starts once the egress listens: its first keyframe must not be lost.
  await waitFor('egress /healthz', async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), 60_000).catch(
    async (err: unknown) => {
      await stop(egress);
      throw new Error(`${(err as Error).message}\negress: ${egress.tail()}`, { cause: err });
    },
  );
  const ffmpeg = start('ffmpeg', await feedArgs(dir, options, { videoPort, audioPort }));
  // Nobody reads their stdout (FFmpeg's -progress, the egress's logs): drain it, or a full pipe
  // blocks the writer and the stream stalls minutes into the run.
  ffmpeg.stdout?.resume();
  egress.stdout?.resume();
  const stopAll = async () => {
    await stop(ffmpeg);
    await stop(egress);
  };
  try {
    await waitFor('egress /readyz', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined), 60_000);
  } catch (err) {
    await stopAll();
    throw new Error(`${(err as Error).message}\negress: ${egress.tail()}\nffmpeg: ${ffmpeg.tail()}`, { cause: err });
  }
  return {
    base,
    metrics: `http://127.0.0.1:${metricsPort}/metrics`,
    whep: `${base}/api/v3/process/bench/whep`,
    egress,
    ffmpeg,
    stop: stopAll,
  };
}
