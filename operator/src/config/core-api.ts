/**
 * datarhei Core's REST API (operator/src/core-api/, docs/core-api.md): served by every operator
 * replica when enabled, for the Processes of one namespace.
 */
import { z } from 'zod';
import { namespaceName, objectName, port } from './fields.ts';

/** The section's fields (the chart's values reuse them). */
export const coreApiFields = {
  enabled: z.boolean().default(false).describe("Serve datarhei Core's REST API v3 under /api."),
  port: port.default(8082).describe('Port the API listens on.'),
  namespace: namespaceName.optional().describe("Namespace whose Processes the API serves (default: the operator's own)."),
  credentialsSecret: objectName
    .default('corecast-core-api')
    .describe('Secret in that namespace with keys username and password: the login of POST /api/login.'),
  accessTtlSeconds: z.number().int().min(60).max(86400).optional().describe('Access token lifetime (default 600).'),
  refreshTtlSeconds: z.number().int().min(60).max(31536000).optional().describe('Refresh token lifetime (default 86400).'),
  corsOrigins: z
    .union([z.literal('*'), z.array(z.string().url()).max(64)])
    .default('*')
    .describe('Origins whose pages may call the API: "*" or a list.'),
  loginFailuresPerMinute: z
    .number()
    .int()
    .min(1)
    .max(10000)
    .default(10)
    .describe('Failed logins per client address and minute before 429.'),
};

export const coreApi = z.strictObject(coreApiFields).prefault({});
