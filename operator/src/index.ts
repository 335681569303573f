/** @corecast/operator: the controller, for main.ts, tests and benchmarks. */

export * from './children/common.ts';
export * from './children/egress-pod.ts';
export * from './children/ffmpeg-pod.ts';
export * from './children/route.ts';
export * from './config.ts';
export { type Kube, makeKube, type RequestHooks, type RequestRecord } from './kube/client.ts';
export { Operator, type OperatorOptions } from './operator.ts';
