/**
 * The FFmpeg command builder: Process spec (+ where the egress pod listens) → FFmpeg argv.
 * Pure; used by the operator for the FFmpeg pod and by the local demo.
 *
 * Order as in datarhei Core: global options, then each input's options and `-i address`,
 * then each output's options and address. With WebRTC on, one more output carries the two
 * RTP legs (README.md, "The FFmpeg command").
 */
import { type AccessRules, type ArgItem, judge, openedTokens } from './access.ts';
import type { ProcessSpec } from './process.ts';
import { ValidationError } from './validate.ts';

/** Where the egress pod receives the RTP legs. */
export interface EgressTarget {
  /** Host name or IP of the egress (its Service DNS name in a cluster). */
  readonly host: string;
  /** UDP port of the video leg. */
  readonly videoPort: number;
  /** UDP port of the audio leg. */
  readonly audioPort: number;
}

/** What the builder needs besides the spec. */
export interface BuildOptions {
  /** The egress to feed; required when `spec.webrtc.enabled`. */
  readonly egress?: EgressTarget;
  /**
   * Allow/block lists for everything the command makes FFmpeg open (addresses, option values,
   * files of filters, through wrapping protocols); none means everything is allowed.
   */
  readonly access?: AccessRules;
}

/** The process as the builder sees it. */
export interface ProcessRef {
  /** metadata.name: the process id. */
  readonly name: string;
  /** The defaulted spec. */
  readonly spec: ProcessSpec;
}

/** RTP packet size that leaves room for SRTP and IP/UDP headers below a 1500-byte MTU. */
export const RTP_PACKET_SIZE = 1200;

/** Seconds between forced keyframes when transcoding: short, so late joiners wait little. */
export const TRANSCODE_GOP_SECONDS = 1;

/** Replaces Core's placeholders; `{inputid}`/`{outputid}` only where an endpoint is in scope. */
export function resolvePlaceholders(
  text: string,
  vars: { processid: string; reference: string; inputid?: string; outputid?: string },
): string {
  return text.replace(/\{(processid|reference|inputid|outputid)\}/g, (whole, key: keyof typeof vars) => {
    const value = vars[key];
    return value === undefined ? whole : value;
  });
}

/**
 * Throws a ValidationError naming each field whose token FFmpeg would open against the rules
 * (see access.ts): addresses, `-i` and output names in options, option values that are files or
 * URLs, files of filters, each seen through FFmpeg's wrapping protocols.
 */
export function checkAccess(items: readonly ArgItem[], access: AccessRules | undefined): void {
  if (!access) return;
  const errors = judge(openedTokens(items), access);
  if (errors.length > 0) throw new ValidationError('Process', errors);
}

/** The FFmpeg options of the video RTP leg, copied or transcoded. */
export function videoLegOptions(spec: ProcessSpec): string[] {
  if (spec.webrtc.forceTranscode) {
    return [
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-tune',
      'zerolatency',
      '-profile:v',
      'baseline',
      '-pix_fmt',
      'yuv420p',
      '-bf',
      '0',
      '-force_key_frames',
      `expr:gte(t,n_forced*${TRANSCODE_GOP_SECONDS})`,
      // SPS/PPS in front of every keyframe, so a decoder can start at any of them.
      '-bsf:v',
      'dump_extra=freq=keyframe',
    ];
  }
  // Copied H.264 from RTMP/MP4 carries SPS/PPS only out of band (avcC): convert to Annex B
  // and repeat the parameter sets before every keyframe.
  return ['-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,dump_extra=freq=keyframe'];
}

/**
 * The RTP legs as one tee output: `-map 0:a:0?` may map nothing when the input has no
 * audio, and FFmpeg refuses an output with no stream; inside tee, the audio slave fails
 * alone (`onfail=ignore`) and video goes on.
 */
export function rtpLegs(spec: ProcessSpec, egress: EgressTarget): string[] {
  const url = (port: number) => `udp://${egress.host}:${port}?pkt_size=${RTP_PACKET_SIZE}`;
  const { videoPayloadType: vpt, audioPayloadType: apt } = spec.webrtc;
  return [
    '-map',
    '0:v:0',
    '-map',
    '0:a:0?',
    ...videoLegOptions(spec),
    '-c:a',
    'libopus',
    '-ar',
    '48000',
    '-ac',
    '2',
    '-b:a',
    '128k',
    '-f',
    'tee',
    // send_bye: a clean FFmpeg exit ends with RTCP BYE (RFC 3550 §6.6), so the egress marks the
    // source down at once instead of waiting for its RTP timeout.
    `[select=v:f=rtp:payload_type=${vpt}:rtpflags=send_bye:onfail=ignore]${url(egress.videoPort)}|` +
      `[select=a:f=rtp:payload_type=${apt}:rtpflags=send_bye:onfail=ignore]${url(egress.audioPort)}`,
  ];
}

/** Progress reporting the FFmpeg pod relies on for staleTimeoutSeconds (one line a second). */
export const PROGRESS_OPTIONS = ['-nostdin', '-stats_period', '1', '-progress', 'pipe:3'] as const;

/** Builds the whole FFmpeg argv (without the program name). */
export function buildFfmpegArgs(process: ProcessRef, options: BuildOptions = {}): string[] {
  const items = buildFfmpegArgItems(process, options);
  checkAccess(items, options.access);
  return items.map((i) => i.arg);
}

/** The argv with where each element came from (a spec field, or Corecast itself). */
export function buildFfmpegArgItems(process: ProcessRef, options: BuildOptions = {}): ArgItem[] {
  const { spec, name } = process;
  const base = { processid: name, reference: spec.reference ?? '' };
  const items: ArgItem[] = [];
  const ours = (args: readonly string[]) => {
    // Corecast's own options come in pairs of option and value (or lone flags), the tee output last.
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      const flag = arg === '-nostdin';
      if (arg.startsWith('-') && !flag) {
        items.push({ arg, trusted: 'option' }, { arg: args[i + 1] as string, trusted: 'value' });
        i++;
      } else items.push({ arg, trusted: flag ? 'option' : 'output' });
    }
  };
  const from = (list: readonly string[], field: string, vars: Parameters<typeof resolvePlaceholders>[1]) =>
    list.forEach((o, j) => items.push({ arg: resolvePlaceholders(o, vars), field: `${field}[${j}]` }));

  ours(PROGRESS_OPTIONS);
  from(spec.options, 'spec.options', base);
  spec.input.forEach((input, i) => {
    const vars = { ...base, inputid: input.id };
    from(input.options, `spec.input[${i}].options`, vars);
    items.push({ arg: '-i', trusted: 'option' }, { arg: resolvePlaceholders(input.address, vars), field: `spec.input[${i}].address` });
  });
  spec.output.forEach((output, i) => {
    const vars = { ...base, outputid: output.id };
    from(output.options, `spec.output[${i}].options`, vars);
    items.push({ arg: resolvePlaceholders(output.address, vars), field: `spec.output[${i}].address` });
  });

  if (spec.webrtc.enabled) {
    if (!options.egress) throw new Error('buildFfmpegArgs: spec.webrtc.enabled needs options.egress');
    ours(rtpLegs(spec, options.egress));
  }
  return items;
}
