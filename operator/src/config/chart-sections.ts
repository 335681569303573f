/**
 * The chart's `auth` and `media` values, which the chart hands to the operator as written: the
 * operator turns them into the egress pods' settings (`egress.auth`, `egress.ice`, …) here, and
 * names the value a user wrote when one breaks a rule of the egress settings. values.ts builds
 * the whole values schema (values.schema.json) from these and the schema's other pieces.
 */
import { EgressAuth, EgressIce, PORTS } from '@corecast/api';
import { z } from 'zod';
import { DNS_SUBDOMAIN } from './fields.ts';
import { embed, hostPortRanges, loadBalancerFields, QUALIFIED_NAME } from './schema.ts';

/** A list without repeats (values.schema.json says uniqueItems; the program checks the same). */
export function unique<T extends z.ZodArray>(list: T): T {
  return list
    .refine((items: unknown[]) => new Set(items.map((i) => JSON.stringify(i))).size === items.length, 'must not repeat an entry')
    .meta({ uniqueItems: true }) as T;
}

/** A Secret name, or "" for none. */
const optionalObjectName = z
  .string()
  .max(253)
  .regex(new RegExp(`^$|${DNS_SUBDOMAIN.source}`), 'must be a Secret name or ""');
const secretKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret key');

// The hs256 and jwks members of EgressAuth: the chart's auth fields are theirs.
const [, hs256, jwks] = EgressAuth.options;

/** The chart's `auth`, less what only the chart uses (`secret`, `secretNamespaces`; values.ts). */
export const chartAuthFields = {
  mode: z.enum(['hs256', 'jwks', 'none']).default('hs256').describe('How viewers authenticate.'),
  existingSecret: optionalObjectName
    .default('')
    .describe('(hs256, embed) The Secret in each watched namespace holding the shared secret; the chart fills in the one it writes.'),
  existingSecretKey: secretKey.default('jwt-secret'),
  jwksUrl: z
    .string()
    .regex(/^$|^https:\/\/[^\s]+$/, 'must be an https URL')
    .default('')
    .describe('(jwks) URL of the JSON Web Key Set; https only.'),
  algorithms: unique(jwks.shape.algorithms.unwrap()).default(['RS256', 'ES256']),
  issuer: z.string().default('').describe('Required `iss` claim; "" does not check it.'),
  audience: z.string().default('').describe('Required `aud` claim; "" does not check it.'),
  processesClaim: hs256.shape.processesClaim,
  clockToleranceSeconds: hs256.shape.clockToleranceSeconds,
  maxTokenLifetimeSeconds: hs256.shape.maxTokenLifetimeSeconds,
  embed,
};

const ChartAuthObject = z.strictObject(chartAuthFields);
/** The chart's auth as the operator reads it. */
export const ChartAuth = ChartAuthObject.superRefine((a, ctx) => {
  if (a.mode === 'jwks' && !a.jwksUrl) ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'required when auth.mode is jwks' });
}).prefault({});

const stunUrl = z.string().regex(/^stuns?:[^\s<>"]+$/, 'must be a stun: or stuns: URL');
const turnUrl = z.string().regex(/^turns?:[^\s<>"]+$/, 'must be a turn: or turns: URL');
const ice = EgressIce.shape;
const advertise = ice.advertise.unwrap().shape;
/** The TURN secret's variable in egress pods (from media.turn.existingSecret). */
export const TURN_SECRET_ENV = 'CORECAST_TURN_SECRET';

/** The chart's `media`: how browsers reach the egress pods' media. */
export const ChartMedia = z
  .strictObject({
    mode: z
      .enum(['pod', 'hostNetwork', 'turn', 'loadBalancer', 'nodePort'])
      .default('pod')
      .describe('How browsers reach egress media (docs/deploy.md, "How media reaches the browser").'),
    udpPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(PORTS.iceUdp)
      .describe("The one UDP port of every viewer's media in an egress pod (the pod's own port; hostNetwork: hostNetwork.icePorts)."),
    tcpPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .nullable()
      .default(null)
      .describe('One TCP port for passive ICE-TCP (RFC 6544) of every viewer; null: no ICE-TCP.'),
    portRange: z
      .strictObject(ice.portRange.unwrap().shape)
      .nullable()
      .optional()
      .describe('Retired: every viewer shares udpPort. A range is refused at start; remove it.'),
    nodePort: z
      .strictObject({ annotations: z.record(z.string(), z.string()).default({}).describe('Annotations of every media Service.') })
      .prefault({})
      .describe('The media Service each WebRTC-enabled Process gets with media.mode nodePort.'),
    hostNetwork: z
      .strictObject({ icePorts: hostPortRanges.ice, internalPorts: hostPortRanges.internal })
      .prefault({})
      .describe('(mode hostNetwork) The host ports handed out, one slot per Process: one ICE port and four internal ports.'),
    publicAddresses: unique(advertise.addresses.unwrap().max(32))
      .default([])
      .describe(advertise.addresses.description ?? ''),
    loadBalancer: z
      .strictObject({
        annotations: loadBalancerFields.annotations,
        externalTrafficPolicy: loadBalancerFields.externalTrafficPolicy,
        loadBalancerClass: z
          .string()
          .max(316)
          .regex(new RegExp(`^$|${QUALIFIED_NAME.source}`), 'must be a label-style name such as service.k8s.aws/nlb')
          .default('')
          .describe('spec.loadBalancerClass; "" uses the cluster default implementation.'),
        allocateNodePorts: loadBalancerFields.allocateNodePorts,
      })
      .prefault({})
      .describe('The media Service each WebRTC-enabled Process gets with media.mode loadBalancer.'),
    advertiseNodeIp: z.boolean().default(false).describe("Also advertise the node's IP (status.hostIP)."),
    advertiseOnly: advertise.only,
    iceLite: ice.lite,
    tcp: ice.tcp,
    ipv6: ice.ipv6,
    stunServers: z.array(stunUrl).max(16).default([]).describe('STUN servers for the pod and the browsers.'),
    turn: z
      .strictObject({
        urls: z.array(turnUrl).max(16).default([]).describe('TURN servers; required with mode turn.'),
        auth: z.enum(['ephemeral', 'password']).default('ephemeral'),
        username: z.string().default('').describe('(password) The TURN username.'),
        user: z.string().min(1).default('corecast').describe('(ephemeral) User part of the generated credentials.'),
        ttlSeconds: z.number().int().min(60).max(604800).default(86400),
        existingSecret: optionalObjectName.default(''),
        existingSecretKey: secretKey.default('turn-secret'),
      })
      .prefault({}),
  })
  .superRefine((m, ctx) => {
    // What the chart's TURN fields need before they can become an ICE server at all.
    if (m.turn.urls.length === 0) return;
    if (!m.turn.existingSecret) {
      ctx.addIssue({
        code: 'custom',
        path: ['turn', 'existingSecret'],
        message: 'required with media.turn.urls (a Secret in each watched namespace holding the TURN shared secret or password)',
      });
    }
    if (m.turn.auth === 'password' && !m.turn.username) {
      ctx.addIssue({ code: 'custom', path: ['turn', 'username'], message: 'required when media.turn.auth is password' });
    }
  })
  .prefault({});

export type ChartAuth = z.output<typeof ChartAuth>;
export type ChartMedia = z.output<typeof ChartMedia>;

/** The egress fields of the configuration that the chart's auth and media give. */
export function egressFromChart(auth: ChartAuth, media: ChartMedia): Record<string, unknown> {
  const mode = auth.mode;
  const egressAuth: Record<string, unknown> = { mode };
  if (mode !== 'none') {
    Object.assign(egressAuth, {
      processesClaim: auth.processesClaim,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds,
      ...(auth.issuer && { issuer: auth.issuer }),
      ...(auth.audience && { audience: auth.audience }),
    });
  }
  if (mode === 'jwks') Object.assign(egressAuth, { jwksUrl: auth.jwksUrl, algorithms: auth.algorithms });
  const secretRef = auth.existingSecret ? { name: auth.existingSecret, key: auth.existingSecretKey } : undefined;

  const servers: Record<string, unknown>[] = [];
  const secretEnv: Record<string, unknown>[] = [];
  if (media.stunServers.length > 0) servers.push({ urls: media.stunServers });
  const turn = media.turn;
  if (turn.urls.length > 0) {
    const turnAuth =
      turn.auth === 'password'
        ? { type: 'password', username: turn.username, credentialEnv: TURN_SECRET_ENV }
        : { type: 'ephemeral', secretEnv: TURN_SECRET_ENV, user: turn.user, ttlSeconds: turn.ttlSeconds };
    servers.push({ urls: turn.urls, auth: turnAuth });
    secretEnv.push({ name: TURN_SECRET_ENV, secretName: turn.existingSecret, key: turn.existingSecretKey });
  }
  const loadBalancer = media.mode === 'loadBalancer';
  const nodePort = media.mode === 'nodePort';
  return {
    auth: egressAuth,
    embed: auth.embed,
    ...(mode === 'hs256' && secretRef && { jwtSecretRef: secretRef }),
    ...(auth.embed.enabled && secretRef && { embedSecretRef: secretRef }),
    ice: {
      lite: media.iceLite,
      udpPort: media.udpPort,
      ...(media.tcpPort !== null && { tcpPort: media.tcpPort }),
      // With a load balancer or a node port the operator advertises its address only.
      advertise: {
        addresses: media.publicAddresses,
        addressEnv: media.advertiseNodeIp ? ['NODE_IP'] : [],
        only: media.advertiseOnly && !loadBalancer && !nodePort,
      },
      ipv6: media.ipv6,
      tcp: media.tcp,
      servers,
      relayOnly: media.mode === 'turn',
      ...(media.portRange && { portRange: media.portRange }),
    },
    secretEnv,
    hostNetwork: media.mode === 'hostNetwork',
    hostPorts: { ice: media.hostNetwork.icePorts, internal: media.hostNetwork.internalPorts },
    nodePort: { enabled: nodePort, annotations: media.nodePort.annotations },
    loadBalancer: {
      enabled: loadBalancer,
      annotations: media.loadBalancer.annotations,
      externalTrafficPolicy: media.loadBalancer.externalTrafficPolicy,
      allocateNodePorts: media.loadBalancer.allocateNodePorts,
      ...(media.loadBalancer.loadBalancerClass && { loadBalancerClass: media.loadBalancer.loadBalancerClass }),
    },
  };
}

/**
 * Where an egress setting derived from the chart's values came from: a path of the
 * configuration (`egress.ice.portRange`) as the value a user wrote (`media.portRange`).
 * `ownSecretEnv` is the number of egress.secretEnv entries the values gave (the TURN one follows).
 */
export function chartPath(path: readonly PropertyKey[], media: ChartMedia, ownSecretEnv: number): PropertyKey[] {
  if (path[0] !== 'egress') return [...path];
  const [, key, ...rest] = path;
  switch (key) {
    case 'auth':
      return ['auth', ...rest];
    case 'embed':
      return ['auth', 'embed', ...rest];
    case 'jwtSecretRef':
    case 'embedSecretRef':
      return ['auth', 'existingSecret'];
    case 'hostNetwork':
      return ['media', 'mode'];
    case 'loadBalancer':
    case 'nodePort':
      return rest[0] === 'enabled' ? ['media', 'mode'] : ['media', key, ...rest];
    case 'hostPorts':
      return ['media', 'hostNetwork', rest[0] === 'ice' ? 'icePorts' : 'internalPorts', ...rest.slice(1)];
    case 'secretEnv':
      // The TURN secret's entry comes after the values' own.
      if (typeof rest[0] !== 'number' || rest[0] < ownSecretEnv) return [...path];
      return ['media', 'turn', rest[1] === 'key' ? 'existingSecretKey' : 'existingSecret'];
    case 'ice':
      return icePath(rest, media);
    default:
      return [...path];
  }
}

const ICE_KEYS: Record<string, string> = {
  lite: 'iceLite',
  tcp: 'tcp',
  ipv6: 'ipv6',
  portRange: 'portRange',
  relayOnly: 'mode',
  udpPort: 'udpPort',
  tcpPort: 'tcpPort',
};
const ADVERTISE_KEYS: Record<string, string> = { addresses: 'publicAddresses', addressEnv: 'advertiseNodeIp', only: 'advertiseOnly' };

function icePath(rest: readonly PropertyKey[], media: ChartMedia): PropertyKey[] {
  const [key, sub, ...more] = rest;
  if (key === 'advertise') return ['media', ADVERTISE_KEYS[String(sub)] ?? 'publicAddresses', ...more];
  if (key === 'servers') {
    const isTurn = typeof sub === 'number' && (sub > 0 || media.stunServers.length === 0);
    if (!isTurn) return ['media', 'stunServers', ...more.slice(1)];
    const [field, ...deeper] = more;
    if (field === 'auth') return ['media', 'turn', ...(deeper[0] === 'username' ? ['username'] : ['auth'])];
    return ['media', 'turn', 'urls', ...deeper];
  }
  if (key === 'portRange') return ['media', 'portRange', ...(sub === undefined ? [] : [sub, ...more])];
  return ['media', ICE_KEYS[String(key)] ?? String(key)];
}
