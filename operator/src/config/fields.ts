/** Field types the operator configuration and the chart's values share: Kubernetes names, ports, quantities. */
import { z } from 'zod';

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const namespaceName = z.string().max(63).regex(DNS_LABEL, 'must be a namespace name (a DNS-1123 label)');
export const objectName = z.string().max(253).regex(DNS_SUBDOMAIN, 'must be an object name (a DNS-1123 subdomain)');
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
export const port = z.number().int().min(0).max(65535);
/** A container image reference: registry/repository[:tag][@digest], no whitespace. */
export const image = z
  .string()
  .min(1)
  .regex(/^[a-z0-9][^\s]*$/, 'must be an image reference such as ghcr.io/corecast/ffmpeg:1.0');
/** A Kubernetes quantity; a plain number (as YAML reads `cpu: 1`) is taken as its decimal text. */
const quantity = z.union([
  z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity such as 100m or 256Mi'),
  z.number().min(0).transform(String),
]);
/** Container requests or limits. */
export const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
