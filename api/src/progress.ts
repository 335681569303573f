/**
 * Live progress of a running Process, as the operator writes it into `status.progress`: the
 * figures FFmpeg's `-progress` output gives (datarhei Core's progress, in camelCase), which
 * inputs and outputs they belong to, and when they were measured. Written under a field manager
 * of its own at a bounded rate (operator/src/progress/), never by the reconciler.
 */
import { z } from 'zod';

const count = (what: string) => z.number().int().min(0).describe(what);

/** One output stream's quantizer, as FFmpeg reports it (`stream_<output>_<stream>_q`). */
export const StreamProgress = z
  .object({
    stream: z.number().int().min(0).describe('Index of the stream within its output.'),
    q: z.number().describe('Quantizer of the last encoded frame (-1 when copied or not video).'),
  })
  .describe('One encoded stream of an output.');

/** An input or output of the running command, named as in the spec. */
export const EndpointProgress = z
  .object({
    id: z.string().max(63).describe('The id of the input or output in the spec.'),
    index: z.number().int().min(0).describe('Its position in the FFmpeg command (FFmpeg file index).'),
    address: z.string().max(4096).describe('Its address, as in the spec.'),
    streams: z.array(StreamProgress).max(64).optional().describe('Per-stream figures FFmpeg reports for it (outputs only).'),
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
    updatedAt: z.string().describe('When FFmpeg reported these figures (RFC 3339).'),
  })
  .describe("FFmpeg's progress of the current run, as datarhei Core reports it; written every few seconds while FFmpeg runs.");

export type ProcessProgress = z.output<typeof ProcessProgress>;
export type EndpointProgress = z.output<typeof EndpointProgress>;
