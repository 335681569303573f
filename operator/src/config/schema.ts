/**
 * The operator configuration's schema: every field, its default and the rules between fields.
 * The chart's values reuse these pieces (./values.ts), so what `helm install` accepts and what
 * the operator accepts at start are one definition.
 */
import { isIP } from 'node:net';
import { DEFAULT_ACCESS_RULES, EgressAuth, EgressIce, PORTS } from '@corecast/api';
import { z } from 'zod';

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const namespaceName = z.string().max(63).regex(DNS_LABEL, 'must be a namespace name (a DNS-1123 label)');
export const objectName = z.string().max(253).regex(DNS_SUBDOMAIN, 'must be an object name (a DNS-1123 subdomain)');
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
export const port = z.number().int().min(0).max(65535);
/** A container image reference: registry/repository[:tag][@digest], no whitespace. */
const image = z
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

/** Regular expressions as Core's ffmpeg.access lists them; each must compile. */
const patterns = (dflt: readonly string[]) =>
  z
    .array(z.string().max(1024))
    .max(256)
    .default([...dflt])
    .superRefine((list, ctx) => {
      list.forEach((p, i) => {
        try {
          new RegExp(p);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: [i], message: `invalid regular expression: ${(err as Error).message}` });
        }
      });
    });
/**
 * Rules for one direction (what FFmpeg reads, what it writes). Unset lists take the secure
 * defaults (network protocols, lavfi graphs as inputs, discarding outputs); an empty allow list
 * allows everything, as in Core.
 */
const accessRules = (direction: 'input' | 'output') =>
  z
    .strictObject({ allow: patterns(DEFAULT_ACCESS_RULES[direction].allow), block: patterns(DEFAULT_ACCESS_RULES[direction].block) })
    .prefault({});

/** A key of a Secret in the Process's namespace. */
const secretKeyRef = z.strictObject({
  name: objectName.describe('Secret name (looked up in the namespace of each Process).'),
  key: z.string().min(1).max(253).default('secret'),
});

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

/** An IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fc00::/7 (the pattern is the JSON Schema's rough cut). */
const cidr = z
  .string()
  .regex(/^([0-9.]+|[0-9a-fA-F:.]+)\/[0-9]{1,3}$/, 'must be a CIDR such as 10.0.0.0/8 or fc00::/7')
  .refine((value) => {
    const [address, prefix, ...rest] = value.split('/');
    const family = isIP(address ?? '');
    if (rest.length > 0 || family === 0 || prefix === undefined || !/^[0-9]{1,3}$/.test(prefix)) return false;
    return Number(prefix) <= (family === 4 ? 32 : 128);
  }, 'must be a CIDR such as 10.0.0.0/8 or fc00::/7');

/**
 * Ranges FFmpeg pods may not reach by default: private networks (where pod and Service CIDRs
 * usually are), carrier-grade NAT, loopback, link-local (cloud metadata at 169.254.169.254),
 * and their IPv6 counterparts (unique local, which holds metadata such as fd00:ec2::254, and link-local).
 */
export const DEFAULT_DENIED_CIDRS = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  '127.0.0.0/8',
  '0.0.0.0/8',
  'fc00::/7',
  'fe80::/10',
  '::1/128',
] as const;

/** One NetworkPolicy egress rule as the API writes it (to, ports), added as it is. */
const egressRule = z.strictObject({
  to: z.array(z.record(z.string(), z.unknown())).max(64).optional(),
  ports: z
    .array(
      z.strictObject({
        protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
        port: z.union([z.number().int().min(1).max(65535), z.string().min(1).max(15)]).optional(),
        endPort: z.number().int().min(1).max(65535).optional(),
      }),
    )
    .max(64)
    .optional(),
});

/**
 * NetworkPolicy `<name>-ffmpeg`: what FFmpeg pods may connect to. By default DNS, the RTP ports
 * of their own egress pod, and every address outside deniedCidrs; `egress` adds rules (for
 * example a namespace that runs media servers).
 */
const ffmpegNetworkPolicy = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Give every FFmpeg pod an egress NetworkPolicy.'),
    deniedCidrs: z
      .array(cidr)
      .max(64)
      .default([...DEFAULT_DENIED_CIDRS])
      .describe('Address ranges FFmpeg may not reach, unless an `egress` rule allows them.'),
    egress: z.array(egressRule).max(32).default([]).describe('Extra egress rules (NetworkPolicyEgressRule: to, ports).'),
  })
  .prefault({});

export const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * media.mode loadBalancer: a Service `<name>-media` of type LoadBalancer per WebRTC-enabled
 * Process, exposing the egress pod's one ICE port (ice.udpPort, and ice.tcpPort with ICE-TCP);
 * its address is what the egress pod advertises.
 */
export const loadBalancerFields = {
  enabled: z.boolean().default(false).describe('Give every WebRTC-enabled Process a LoadBalancer Service for its media.'),
  annotations: z.record(z.string(), z.string()).default({}).describe('Annotations of the media Services (cloud load-balancer settings).'),
  externalTrafficPolicy: z
    .enum(['Local', 'Cluster'])
    .default('Local')
    .describe('Local keeps the viewer address and skips a hop between nodes; Cluster lets any node forward.'),
  loadBalancerClass: z
    .string()
    .max(316)
    .regex(QUALIFIED_NAME, 'must be a label-style name such as service.k8s.aws/nlb')
    .optional()
    .describe('spec.loadBalancerClass; unset: the cluster default load-balancer implementation.'),
  allocateNodePorts: z
    .boolean()
    .default(true)
    .describe('spec.allocateLoadBalancerNodePorts; false for implementations that send traffic straight to pods.'),
};
const loadBalancer = z.strictObject(loadBalancerFields).prefault({});

/** The egress fields the chart's values carry under `egress` as they are. */
export const egressFields = {
  maxViewersPerPod: z.number().int().min(1).max(100000).default(100),
  viewerLimits: z
    .strictObject({
      perSubject: z.number().int().min(1).max(10000).default(5),
      perClient: z.number().int().min(1).max(10000).default(10),
    })
    .prefault({})
    .describe("Sessions one token subject, and one client address, may hold at once (the egress's session.maxPerSubject, maxPerClient)."),
  resources: z
    .strictObject({ requests: resourceList.default({}), limits: resourceList.default({}) })
    .prefault({ requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '512Mi' } }),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  secretEnv: z
    .array(z.strictObject({ name: envName, secretName: objectName, key: z.string().min(1).max(253) }))
    .max(32)
    .default([])
    .describe('Extra variables from Secrets, e.g. the TURN credentials named in ice.servers[].auth.'),
};

/** Embed URLs: the egress pod's `embed` (the chart's auth.embed). */
export const embed = z
  .strictObject({ enabled: z.boolean().default(false), maxTtlSeconds: z.number().int().min(60).max(31536000).default(86400) })
  .prefault({});

/** An inclusive range of ports. */
const portSpan = z
  .strictObject({ min: z.number().int().min(1024).max(65535), max: z.number().int().min(1024).max(65535) })
  .refine((r) => r.min <= r.max, { message: 'min must not be above max' });

/**
 * Host networking: the host ports handed out, one slot per Process (children/media-ports.ts).
 * Below Linux's ephemeral ports (32768-60999), which a node's own connections take at random,
 * and below the node-port range (30000-32767).
 */
export const hostPortRanges = {
  ice: portSpan
    .default({ min: 20000, max: 20099 })
    .describe('hostNetwork: the ICE port of each egress pod on a node (one per Process; UDP, and TCP with ICE-TCP). Open to viewers.'),
  internal: portSpan
    .default({ min: 21000, max: 21399 })
    .describe(
      'hostNetwork: RTP video, RTP audio, HTTP and metrics ports of each egress pod on a node (four per Process). Cluster-internal.',
    ),
};

/** What the chart derives from its `auth` and `media` values (./values.ts). */
export const DERIVED_EGRESS_KEYS = [
  'auth',
  'jwtSecretRef',
  'embed',
  'embedSecretRef',
  'ice',
  'hostNetwork',
  'hostPorts',
  'loadBalancer',
  'nodePort',
] as const;

const egress = z
  .strictObject({
    ...egressFields,
    auth: EgressAuth.default({ mode: 'none' }),
    jwtSecretRef: secretKeyRef.optional().describe('HS256 secret → CORECAST_JWT_SECRET; required when auth.mode is hs256.'),
    embed,
    embedSecretRef: secretKeyRef.optional().describe('Signed-URL key → CORECAST_EMBED_SECRET; defaults to jwtSecretRef.'),
    ice: EgressIce.prefault({}),
    hostNetwork: z.boolean().default(false).describe('Run egress pods on the node network (needs privileged Pod Security).'),
    loadBalancer,
    nodePort: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Give every WebRTC-enabled Process a NodePort Service for its media.'),
        annotations: z.record(z.string(), z.string()).default({}).describe('Annotations of the media Services.'),
      })
      .prefault({}),
    hostPorts: z
      .strictObject(hostPortRanges)
      .refine((h) => h.ice.max < h.internal.min || h.internal.max < h.ice.min, { message: 'must not overlap ice', path: ['internal'] })
      .prefault({}),
  })
  .superRefine((e, ctx) => {
    // One exposure mode at a time: each decides where the egress pod listens and what it advertises.
    const modes = (
      [
        [e.hostNetwork, ['hostNetwork']],
        [e.loadBalancer.enabled, ['loadBalancer', 'enabled']],
        [e.nodePort.enabled, ['nodePort', 'enabled']],
      ] as const
    ).filter(([on]) => on);
    for (const [, path] of modes.slice(1)) {
      ctx.addIssue({ code: 'custom', path: [...path], message: `cannot be combined with ${modes[0]?.[1].join('.')}` });
    }
    for (const [, path] of modes) {
      if (path[0] !== 'hostNetwork' && e.ice.relayOnly) {
        ctx.addIssue({
          code: 'custom',
          path: [...path],
          message: 'cannot be combined with ice.relayOnly (relayed media needs no Service)',
        });
      }
    }
    // Every viewer shares ice.udpPort now; a range would only mislead a firewall (docs/deploy.md).
    if (e.ice.portRange !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ice', 'portRange'],
        message: 'is no longer used: every viewer of an egress pod shares one UDP port (udpPort, default 8189); remove it',
      });
    }
    // On the pod network the ICE ports sit beside the fixed RTP, HTTP and metrics ports.
    if (!e.hostNetwork && (e.ice.udpPort === PORTS.videoRtp || e.ice.udpPort === PORTS.audioRtp)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ice', 'udpPort'],
        message: `must differ from the RTP ports ${PORTS.videoRtp} and ${PORTS.audioRtp}`,
      });
    }
    if (!e.hostNetwork && (e.ice.tcpPort === PORTS.http || e.ice.tcpPort === PORTS.metrics)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ice', 'tcpPort'],
        message: `must differ from the HTTP port ${PORTS.http} and the metrics port ${PORTS.metrics}`,
      });
    }
    if (e.auth.mode === 'hs256' && !e.jwtSecretRef) {
      ctx.addIssue({ code: 'custom', path: ['jwtSecretRef'], message: 'required when auth.mode is hs256' });
    }
    if (e.embed.enabled && !e.embedSecretRef && !e.jwtSecretRef) {
      ctx.addIssue({ code: 'custom', path: ['embedSecretRef'], message: 'required when embed.enabled (or set jwtSecretRef)' });
    }
    const provided = new Set(e.secretEnv.map((s) => s.name));
    e.ice.servers.forEach((server, i) => {
      const auth = server.auth;
      if (!auth) return;
      const [field, name] = auth.type === 'password' ? ['credentialEnv', auth.credentialEnv] : ['secretEnv', auth.secretEnv];
      if (!provided.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ice', 'servers', i, 'auth', field],
          message: `no egress.secretEnv entry provides ${name}`,
        });
      }
    });
    // A pod's viewers are never on its loopback: such candidates would only aim its checks at itself.
    if (e.ice.allowLoopbackCandidates) {
      ctx.addIssue({
        code: 'custom',
        path: ['ice', 'allowLoopbackCandidates'],
        message: 'is for tests and the local demo; an egress pod drops loopback candidates',
      });
    }
  });

export const leaderElection = z
  .strictObject({
    enabled: z.boolean().default(false),
    leaseName: objectName.default('corecast-operator'),
    leaseNamespace: namespaceName.optional().describe('Defaults to POD_NAMESPACE.'),
    leaseDurationSeconds: z.number().min(1).max(600).default(15),
    renewDeadlineSeconds: z.number().min(0.5).max(600).default(10),
    retryPeriodSeconds: z.number().min(0.1).max(600).default(2),
  })
  .superRefine((le, ctx) => {
    // client-go's rules (leaderelection.NewLeaderElector).
    if (le.renewDeadlineSeconds >= le.leaseDurationSeconds) {
      ctx.addIssue({ code: 'custom', path: ['renewDeadlineSeconds'], message: 'must be less than leaseDurationSeconds' });
    }
    if (le.retryPeriodSeconds * 1.2 >= le.renewDeadlineSeconds) {
      ctx.addIssue({ code: 'custom', path: ['retryPeriodSeconds'], message: 'times 1.2 must be less than renewDeadlineSeconds' });
    }
  })
  .prefault({});

/** What FFmpeg pods may open and reach. */
export const ffmpeg = z
  .strictObject({
    access: z
      .strictObject({ input: accessRules('input'), output: accessRules('output') })
      .prefault({})
      .describe('Allow/block rules for everything FFmpeg opens (api/src/access.ts).'),
    networkPolicy: ffmpegNetworkPolicy,
  })
  .prefault({});

/** uid and gid of the FFmpeg and egress pods. */
export const pods = z
  .strictObject({
    runAsUser: z.number().int().min(1).max(2147483647).default(65532),
    runAsGroup: z.number().int().min(1).max(2147483647).default(65532),
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

/** The configuration's schema. Unknown keys are errors, so a typo is caught at start. */
export const OperatorConfig = z.strictObject({
  namespaces: z.array(namespaceName).max(256).default([]).describe('Watched namespaces; empty watches all.'),
  workers: z.number().int().min(1).max(64).default(4).describe('Processes reconciled at once.'),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  resyncSeconds: z.number().int().min(10).max(86400).default(300).describe('Informers re-list this often.'),
  images: z.strictObject({
    ffmpeg: image,
    egress: image,
    pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    pullSecrets: z.array(objectName).max(16).default([]),
  }),
  publicBaseUrl: publicBaseUrl.optional().transform((url) => url || undefined),
  ingress,
  gateway,
  ffmpeg,
  egress: egress.prefault({}),
  pods,
  leaderElection,
  metrics: z.strictObject({ port: port.default(8080) }).prefault({}),
  health: z.strictObject({ port: port.default(8081) }).prefault({}),
});

/** A validated configuration with every default filled in. */
export type OperatorConfig = z.output<typeof OperatorConfig>;
/** A configuration as written in the file. */
export type OperatorConfigInput = z.input<typeof OperatorConfig>;
