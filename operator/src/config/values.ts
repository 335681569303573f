/**
 * The Helm chart's values (charts/corecast/values.yaml), one schema for both sides: `npm run gen`
 * writes it to the chart as values.schema.json, which helm checks on install and upgrade, and
 * the operator reads the values the chart passes through
 * (charts/corecast/templates/_config.tpl) with the same pieces (./schema.ts, ./chart-sections.ts).
 * Only what the chart alone uses (images by repository and tag, RBAC, the operator's own pod,
 * monitors) is defined here.
 */
import { z } from 'zod';
import { chartAuthFields, ChartMedia, unique } from './chart-sections.ts';
import { coreApiFields } from './core-api.ts';
import { ffmpeg } from './ffmpeg.ts';
import { DNS_LABEL, DNS_SUBDOMAIN, LOG_LEVELS, namespaceName, resourceList } from './fields.ts';
import { progressTuning } from './progress.ts';
import { gateway, ingress, publicBaseUrl } from './routing.ts';
import { egressFields, OperatorConfig, pods } from './schema.ts';

const labels = z.record(z.string(), z.string());
/** A name of this kind, or "" for the chart's choice. */
const optionalName = (what: string, name: RegExp, maxLength: number) =>
  z
    .string()
    .max(maxLength)
    .regex(new RegExp(`^$|${name.source}`), `must be ${what} or ""`)
    .default('');
const httpPort = z.number().int().min(1).max(65535);
const resources = z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() });

/** An image by repository, tag and digest; the chart joins them into a reference. */
const image = (repository: string) =>
  z
    .strictObject({
      repository: z
        .string()
        .min(1)
        .regex(/^[a-z0-9][^\s:@]*(:[0-9]+\/[^\s:@]+)?$/, 'must be an image repository such as ghcr.io/corecast/operator')
        .describe('Image repository, e.g. ghcr.io/corecast/operator.'),
      tag: z
        .string()
        .regex(/^[\w][\w.-]{0,127}$|^$/, 'must be an image tag')
        .default('')
        .describe("Image tag; empty means the chart's appVersion."),
      digest: z
        .string()
        .regex(/^$|^sha256:[a-f0-9]{64}$/, 'must be sha256:<64 hex digits>')
        .default('')
        .describe('Image digest (sha256:...); wins over the tag.'),
    })
    .prefault({ repository });

const monitor = (interval: string) =>
  z
    .strictObject({
      enabled: z.boolean().default(false),
      interval: z
        .string()
        .regex(/^[0-9]+(ms|s|m|h)$/, 'must be a duration such as 30s')
        .default(interval),
      labels: labels.default({}),
    })
    .prefault({});

const config = OperatorConfig.shape;
const namespaceList = unique(z.array(namespaceName.describe('A namespace name.')).max(256));

/** Every value of the chart. Unknown keys are errors, so a misspelt value fails `helm install`. */
export const ChartValues = z
  .strictObject({
    global: z.record(z.string(), z.unknown()).optional().describe('Values shared with subcharts (helm sets it).'),
    fullnameOverride: z.string().max(52).default('').describe('Base name of every object; "" gives "<release>-corecast".'),
    commonLabels: labels.default({}).describe('Labels added to every object the chart renders.'),
    images: z
      .strictObject({
        operator: image('ghcr.io/corecast/operator'),
        egress: image('ghcr.io/corecast/egress'),
        ffmpeg: image('ghcr.io/corecast/ffmpeg'),
        pullPolicy: config.images.shape.pullPolicy,
        pullSecrets: config.images.shape.pullSecrets,
      })
      .prefault({}),
    crds: z.strictObject({ install: z.boolean().default(true), keep: z.boolean().default(true) }).prefault({}),
    watchNamespaces: namespaceList
      .default([])
      .describe('Namespaces the operator reconciles (Roles in each); empty: the release namespace.'),
    watchAllNamespaces: z.boolean().default(false).describe('Reconcile every namespace (cluster-wide RBAC).'),
    operator: z
      .strictObject({
        replicas: z.number().int().min(1).max(10).default(1),
        leaderElection: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
        workers: config.workers,
        resyncSeconds: config.resyncSeconds,
        logLevel: z.enum(LOG_LEVELS).default('info'),
        ports: z
          .strictObject({
            metrics: httpPort.default(8080),
            health: httpPort.default(8081),
            progress: httpPort.default(8083).describe("FFmpeg pods' progress reports (the operator Service)."),
          })
          .prefault({}),
        resources: resources.default({ requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } }),
        podAnnotations: labels.default({}),
        podLabels: labels.default({}),
        nodeSelector: labels.default({}),
        tolerations: z.array(z.record(z.string(), z.unknown())).default([]),
        affinity: z.record(z.string(), z.unknown()).default({}),
        priorityClassName: z.string().default(''),
        podDisruptionBudget: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
      })
      .prefault({}),
    serviceAccount: z
      .strictObject({
        create: z.boolean().default(true),
        name: optionalName('a ServiceAccount name', DNS_SUBDOMAIN, 253),
        annotations: labels.default({}),
      })
      .prefault({}),
    rbac: z.strictObject({ create: z.boolean().default(true) }).prefault({}),
    publicBaseUrl: publicBaseUrl.default(''),
    ingress,
    gateway,
    auth: z
      .strictObject({
        ...chartAuthFields,
        secret: z
          .string()
          .regex(/^$|^.{32,}$/, 'must be at least 32 characters')
          .default('')
          .describe('The HS256 shared secret; at least 32 characters (RFC 7518 §3.2: a key as long as the hash).'),
        secretNamespaces: namespaceList.default([]).describe('(hs256, watchAllNamespaces) Namespaces the chart writes its Secrets into.'),
      })
      .prefault({}),
    media: ChartMedia,
    egress: z.strictObject(egressFields).prefault({}),
    pods,
    ffmpeg,
    metrics: z
      .strictObject({
        serviceMonitor: monitor('30s'),
        podMonitor: monitor('15s'),
        grafanaDashboard: z
          .strictObject({
            enabled: z.boolean().default(false),
            namespace: optionalName('a namespace name', DNS_LABEL, 63),
            labels: labels.default({ grafana_dashboard: '1' }),
          })
          .prefault({}),
      })
      .prefault({}),
    progress: z.strictObject(progressTuning).prefault({}).describe('Live progress of the running Processes in their status and /metrics.'),
    coreApi: z
      .strictObject({
        ...coreApiFields,
        namespace: optionalName('a namespace name', DNS_LABEL, 63).describe(
          'Namespace whose Processes the API serves; "" gives the first watched namespace (the release namespace by default).',
        ),
      })
      .prefault({})
      .describe("datarhei Core's REST API v3 under /api (docs/core-api.md); needs auth.mode hs256."),
  })
  .meta({ title: 'Corecast chart values' });

/** The values with every default filled in. */
export type ChartValues = z.output<typeof ChartValues>;

/** values.schema.json's text: the values' JSON Schema (draft 7, as helm reads it). */
export function valuesSchemaJson(): string {
  const schema = z.toJSONSchema(ChartValues, { target: 'draft-7', io: 'input', unrepresentable: 'throw' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
