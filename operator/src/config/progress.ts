/**
 * Live progress (operator/src/progress/): where FFmpeg pods send their progress, how often, and
 * how often the leader writes it into the Process status.
 */
import { z } from 'zod';
import { port } from './fields.ts';

/** A `host:port` the FFmpeg pods connect to (the operator's Service). */
const endpoint = z
  .string()
  .max(300)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[0-9]{1,5}$/, 'must be host:port, e.g. corecast-operator.corecast-system.svc:8083');

/** How often reports are sent and written (the chart's `progress` values). */
export const progressTuning = {
  reportIntervalSeconds: z.number().int().min(1).max(60).default(2).describe('How often each FFmpeg pod sends its latest progress.'),
  statusIntervalSeconds: z
    .number()
    .min(1)
    .max(3600)
    .default(5)
    .describe("How often the leader writes a running Process's figures into its status (at most once per interval each)."),
  maxStatusWritesPerSecond: z
    .number()
    .min(1)
    .max(10000)
    .default(100)
    .describe('Progress status writes per second to the API server, all Processes together; more Processes stretch the interval.'),
  viewers: z.boolean().default(true).describe("Read each egress pod's viewer count (its /metrics) once per status interval."),
};

export const progress = z
  .strictObject({
    port: port.default(8083).describe('Port the operator receives progress reports on.'),
    endpoint: endpoint
      .optional()
      .describe('host:port the FFmpeg pods send their progress to (the operator Service); unset: pods send none.'),
    operatorPodLabels: z
      .record(z.string(), z.string())
      .default({})
      .describe("Labels of the operator's pods, for the FFmpeg NetworkPolicy rule that lets progress reach them."),
    operatorNamespace: z.string().max(63).optional().describe("The operator's namespace (default POD_NAMESPACE), for that rule."),
    ...progressTuning,
  })
  .prefault({});
