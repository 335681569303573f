/**
 * How browsers reach each WebRTC-enabled Process: an Ingress or an HTTPRoute per Process, and the
 * base of the URLs in its status.
 */
import { z } from 'zod';
import { DNS_SUBDOMAIN, namespaceName, objectName } from './fields.ts';

export const ingress = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Create an Ingress per WebRTC-enabled Process.'),
    className: z.string().max(253).default('').describe('spec.ingressClassName; "" uses the cluster default class.'),
    host: z
      .string()
      .max(253)
      .regex(/^$|^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS host name')
      .default('')
      .describe('Host of every Ingress rule and HTTPRoute hostname; "" matches any host.'),
    tlsSecretName: z
      .union([z.literal(''), objectName])
      .default('')
      .describe('TLS Secret (in each Process namespace); "" serves HTTP.'),
    annotations: z.record(z.string(), z.string()).default({}),
  })
  .prefault({});

/** A Gateway listener name (the Gateway API's SectionName). */
const sectionName = z.string().max(253).regex(DNS_SUBDOMAIN, 'must be a listener name (a DNS-1123 subdomain)');

/** One Gateway (or one of its listeners) every HTTPRoute attaches to: the Gateway API's ParentReference. */
const parentRef = z.strictObject({
  name: objectName.describe('Name of the Gateway.'),
  namespace: namespaceName.optional().describe("The Gateway's namespace; unset: each Process's own namespace."),
  sectionName: sectionName.optional().describe('One listener of the Gateway; unset: every listener that admits the route.'),
  port: z.number().int().min(1).max(65535).optional().describe('Only listeners on this port.'),
});

/** The Gateway API's rules on parentRefs that name one Gateway twice (the HTTPRoute CRD refuses the rest). */
function checkParentRefs(refs: readonly z.output<typeof parentRef>[], ctx: z.RefinementCtx): void {
  const gateway = (r: z.output<typeof parentRef>) => `${r.namespace ?? ''}/${r.name}`;
  refs.forEach((ref, i) => {
    const j = refs.findIndex((other, k) => k !== i && gateway(other) === gateway(ref));
    if (j < 0) return;
    if (!ref.sectionName) {
      ctx.addIssue({
        code: 'custom',
        path: ['parentRefs', i, 'sectionName'],
        message: `required: parentRefs[${j}] names the same Gateway, so each reference must pick a listener`,
      });
    } else {
      const same = refs.findIndex((other, k) => k < i && gateway(other) === gateway(ref) && other.sectionName === ref.sectionName);
      if (same >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['parentRefs', i, 'sectionName'],
          message: `repeats parentRefs[${same}] (the same Gateway and listener)`,
        });
      }
    }
  });
}

/**
 * Routing through the Gateway API: an HTTPRoute (gateway.networking.k8s.io/v1) per
 * WebRTC-enabled Process instead of an Ingress, attached to the Gateways in parentRefs. The
 * route's hostname is ingress.host, so the status URLs stay as they are.
 */
export const gateway = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Route each WebRTC-enabled Process with an HTTPRoute instead of an Ingress.'),
    parentRefs: z.array(parentRef).max(32).default([]).describe('The Gateways (or listeners) every HTTPRoute attaches to.'),
    annotations: z.record(z.string(), z.string()).default({}).describe('Annotations of every HTTPRoute.'),
  })
  .superRefine((g, ctx) => {
    if (g.enabled && g.parentRefs.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['parentRefs'],
        message: 'needs at least one Gateway ({name, namespace}) when gateway.enabled is true',
      });
    }
    checkParentRefs(g.parentRefs, ctx);
  })
  .prefault({});

/** Base of status.whepUrl and playerUrl; "" (as the chart writes it) or unset derives it from the ingress host. */
export const publicBaseUrl = z
  .union([
    z.literal(''),
    z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://stream.example.com' })
      .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'must be an http(s) URL such as https://stream.example.com'),
  ])
  .describe('Base of the status URLs, e.g. https://stream.example.com; "" derives it from the ingress host.');
