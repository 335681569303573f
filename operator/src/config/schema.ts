/**
 * The operator configuration's schema: every field, its default and the rules between fields
 * (routing, FFmpeg and the shared field types in the modules beside it). The chart's values reuse
 * these pieces (./values.ts), so what `helm install` accepts and what the operator accepts at
 * start are one definition.
 */
import { EgressAuth, EgressIce, PORTS } from '@corecast/api';
import { z } from 'zod';
import { ffmpeg } from './ffmpeg.ts';
import { envName, image, LOG_LEVELS, namespaceName, objectName, port, resourceList } from './fields.ts';
import { gateway, ingress, publicBaseUrl } from './routing.ts';
import { coreApi } from './core-api.ts';
import { progress } from './progress.ts';

/** A key of a Secret in the Process's namespace. */
const secretKeyRef = z.strictObject({
  name: objectName.describe('Secret name (looked up in the namespace of each Process).'),
  key: z.string().min(1).max(253).default('secret'),
});

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

/** uid and gid of the FFmpeg and egress pods. */
export const pods = z
  .strictObject({
    runAsUser: z.number().int().min(1).max(2147483647).default(65532),
    runAsGroup: z.number().int().min(1).max(2147483647).default(65532),
  })
  .prefault({});

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
  progress,
  coreApi,
});

/** A validated configuration with every default filled in. */
export type OperatorConfig = z.output<typeof OperatorConfig>;
/** A configuration as written in the file. */
export type OperatorConfigInput = z.input<typeof OperatorConfig>;
