/** @corecast/api: the Process schema, shared constants and the FFmpeg command builder. */
export * from './access.ts';
export * from './bounded-body.ts';
export * from './constants.ts';
export * from './egress-config.ts';
export * from './ffmpeg.ts';
export * from './process.ts';
export * from './progress.ts';
export * from './timing.ts';
export * from './validate.ts';
