/**
 * @corecast/api/light: what a long-running process needs at run time — names, paths, limits,
 * the relay-targets format, bounded body reads, retry timing and the field error — without zod
 * or any schema (the entry point loads every schema). The egress pod's main thread imports only
 * this; its configuration is checked against the schema in a thread that ends after start.
 */
export * from './bounded-body.ts';
export * from './constants.ts';
export * from './egress-plain.ts';
export * from './field-error.ts';
export * from './timing.ts';
