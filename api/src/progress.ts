/**
 * Live progress of a running Process, as the operator writes it into `status.progress`: the
 * figures FFmpeg's `-progress` output gives (datarhei Core's progress, in camelCase), which
 * inputs and outputs they belong to and what streams those hold (from FFmpeg's header lines),
 * FFmpeg's CPU and memory use, and when they were measured. Written under a field manager
 * of its own at a bounded rate (operator/src/progress/), never by the reconciler.
 */
import { z } from 'zod';

const count = (what: string) => z.number().int().min(0).describe(what);

/**
 * One stream of an input or output: what FFmpeg's header says about it (read once per run), and
 * the live figures FFmpeg reports for it. Fields FFmpeg does not give for a stream are absent.
 */
export const StreamProgress = z
  .object({
    stream: z.number().int().min(0).describe('Index of the stream within its input or output.'),
    type: z.string().max(32).optional().describe('video, audio, subtitle, data or attachment.'),
    codec: z.string().max(64).optional().describe("The codec's name (h264, aac …)."),
    coder: z.string().max(64).optional().describe('The decoder (inputs) or encoder (outputs) FFmpeg uses, or copy.'),
    pixFmt: z.string().max(64).optional().describe('Pixel format (video).'),
    width: z.number().int().min(0).optional().describe('Width in pixels (video).'),
    height: z.number().int().min(0).optional().describe('Height in pixels (video).'),
    fps: z.number().min(0).optional().describe("Frame rate (video): the header's, or for the first video output stream the measured one."),
    samplingHz: z.number().int().min(0).optional().describe('Sample rate in Hz (audio).'),
    layout: z.string().max(64).optional().describe('Channel layout (audio).'),
    channels: z.number().int().min(0).optional().describe('Channels (audio).'),
    frame: z.number().int().min(0).optional().describe('Frames encoded so far (the first video output stream only).'),
    q: z.number().optional().describe('Quantizer of the last encoded frame (video outputs; -1 when copied).'),
  })
  .describe('One stream of an input or output.');

/** An input or output of the running command, named as in the spec. */
export const EndpointProgress = z
  .object({
    id: z.string().max(63).describe('The id of the input or output in the spec.'),
    index: z.number().int().min(0).describe('Its position in the FFmpeg command (FFmpeg file index).'),
    address: z.string().max(4096).describe('Its address, as in the spec.'),
    format: z.string().max(128).optional().describe("FFmpeg's (de)muxer for it (flv, mpegts, lavfi …)."),
    streams: z.array(StreamProgress).max(64).optional().describe('Its streams, as far as FFmpeg has described them.'),
  })
  .describe('An input or output of the running FFmpeg command.');

/** FFmpeg's progress figures of the current run. */
export const ProcessProgress = z
  .object({
    frame: count('Frames encoded (or copied) so far.'),
    fps: z.number().min(0).describe('Frames per second, averaged over the run.'),
    q: z.number().describe('Quantizer of the first video stream (-1 when copied).'),
    sizeBytes: count('Bytes written to the outputs so far.'),
    timeSeconds: z.number().min(0).describe('Media time written so far, in seconds.'),
    bitrateKbit: z.number().min(0).describe('Output bitrate in kbit/s.'),
    speed: z.number().min(0).describe('Media time per wall-clock time (1 = real time).'),
    drop: count('Frames dropped.'),
    dup: count('Frames duplicated.'),
    inputs: z.array(EndpointProgress).max(16).optional().describe('The inputs of the running command.'),
    outputs: z.array(EndpointProgress).max(16).optional().describe('The outputs of the running command, with their stream figures.'),
    cpuUsage: z
      .number()
      .min(0)
      .optional()
      .describe("FFmpeg's CPU use in percent of the CPUs its container may use (datarhei Core's cpu_usage)."),
    memoryBytes: count("FFmpeg's resident memory in bytes.").optional(),
    updatedAt: z.string().describe('When FFmpeg reported these figures (RFC 3339).'),
  })
  .describe("FFmpeg's progress of the current run, as datarhei Core reports it; written every few seconds while FFmpeg runs.");

export type ProcessProgress = z.output<typeof ProcessProgress>;
export type EndpointProgress = z.output<typeof EndpointProgress>;
export type StreamProgress = z.output<typeof StreamProgress>;
