/**
 * The CustomResourceDefinition, generated from the zod schema so the two never disagree.
 * zod's JSON Schema output is post-processed into a *structural* schema the API server
 * accepts (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
 * no `additionalProperties: false` beside `properties`, no `$ref`, no `type` inside `anyOf`.
 */
import { z } from 'zod';
import { CRD_NAME, GROUP, KIND, PLURAL, SHORT_NAME, SINGULAR, VERSION } from './constants.ts';
import { ProcessSpec, ProcessStatus, ROOT_VALIDATIONS } from './process.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const DROPPED_KEYS = new Set(['$schema', 'additionalProperties', 'id']);

/** Rewrites a zod JSON Schema node (recursively) into its structural OpenAPI v3 form. */
export function structural(node: Json): Json {
  if (Array.isArray(node)) return node.map(structural);
  if (node === null || typeof node !== 'object') return node;
  for (const forbidden of ['$ref', 'anyOf', 'oneOf', 'allOf', 'not']) {
    if (forbidden in node) {
      throw new Error(`schema node uses "${forbidden}", which a structural CRD schema cannot hold: ${JSON.stringify(node)}`);
    }
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYS.has(key)) continue;
    // zod gives integers the safe-integer bounds; they say nothing and cost CEL budget.
    if ((key === 'minimum' || key === 'maximum') && Math.abs(value as number) >= Number.MAX_SAFE_INTEGER) continue;
    // Property names are data, not schema keywords: recurse into each value only.
    if (key === 'properties' && value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structural(v)]));
      continue;
    }
    out[key] = structural(value);
  }
  return out;
}

function openApi(schema: z.ZodType): JsonObject {
  const raw = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' });
  return structural(raw as Json) as JsonObject;
}

/** Columns `kubectl get proc` shows. */
const PRINTER_COLUMNS: JsonObject[] = [
  { name: 'Order', type: 'string', jsonPath: '.spec.order', description: 'Desired state: start or stop.' },
  { name: 'Exec', type: 'string', jsonPath: '.status.exec', description: 'FFmpeg state as in Core.' },
  { name: 'WebRTC', type: 'boolean', jsonPath: '.spec.webrtc.enabled', description: 'Whether WebRTC playback is on.' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Ready condition.' },
  { name: 'FPS', type: 'number', jsonPath: '.status.progress.fps', description: 'Frames per second of the running FFmpeg.' },
  { name: 'Bitrate', type: 'number', jsonPath: '.status.progress.bitrateKbit', description: 'Output bitrate, kbit/s.' },
  { name: 'Speed', type: 'number', jsonPath: '.status.progress.speed', description: 'Media time per wall-clock time (1 = real time).' },
  { name: 'Viewers', type: 'integer', jsonPath: '.status.viewers', description: 'Viewers of the WebRTC stream now.' },
  { name: 'Replicas', type: 'integer', jsonPath: '.status.webrtc.replicas', description: 'Egress replicas wanted now.' },
  { name: 'Restarts', type: 'integer', jsonPath: '.status.restarts', priority: 1, description: 'FFmpeg restarts.' },
  { name: 'Player', type: 'string', jsonPath: '.status.playerUrl', priority: 1, description: 'Player page URL.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/** The whole CRD object for the Process resource. */
export function processCrd(): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'corecast', 'app.kubernetes.io/part-of': 'corecast' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [SHORT_NAME],
        categories: ['corecast'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'An FFmpeg process run by Corecast, as in datarhei Core; optionally played in browsers over WebRTC (WHEP). The name is the process id used in URLs.',
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion of this object: corecast.dev/v1alpha1.' },
                kind: { type: 'string', description: 'Kind of this object: Process.' },
                // Declaring name lets the root CEL rule point its error at metadata.name (fieldPath).
                metadata: { type: 'object', properties: { name: { type: 'string' } } },
                spec: openApi(ProcessSpec),
                status: openApi(ProcessStatus),
              },
              required: ['spec'],
              'x-kubernetes-validations': ROOT_VALIDATIONS as Json[],
            },
          },
        },
      ],
    },
  };
}
