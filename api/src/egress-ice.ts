/**
 * The ICE part of the egress pod's configuration (egress-config.ts): the one media port every
 * viewer shares, the addresses and ports advertised, STUN/TURN servers, and the candidate rules.
 */
import { z } from 'zod';
import { PORTS } from './constants.ts';

/** A port; 0 lets the system pick one at start. */
export const port = z.number().int().min(0).max(65535);
/** The name of an environment variable. */
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
/** An IPv4 or IPv6 address. */
export const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });
/** A number of seconds within bounds, with a default. */
export const seconds = (min: number, max: number, dflt: number) => z.number().min(min).max(max).default(dflt);

/** How a TURN server's credentials are obtained (never inline: from the environment). */
const TurnAuth = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('password'),
    username: z.string().min(1),
    credentialEnv: envName.describe('Variable holding the long-term TURN password.'),
  }),
  z.object({
    type: z.literal('ephemeral'),
    secretEnv: envName.describe("Variable holding the TURN server's shared secret (coturn static-auth-secret)."),
    ttlSeconds: z.number().int().min(60).max(604800).default(86400),
    user: z.string().min(1).default('corecast'),
  }),
]);

const ICE_URL = /^(stun|stuns|turn|turns):[^\s<>"]+$/;

/** A STUN or TURN server, used by the pod and announced to viewers in `Link` headers. */
export const IceServer = z
  .object({
    urls: z.array(z.string().regex(ICE_URL, 'must be a stun:, stuns:, turn: or turns: URL')).min(1),
    auth: TurnAuth.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.urls.some((u) => u.startsWith('turn')) && !s.auth) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'TURN servers need auth (password or ephemeral)' });
    }
  });

/** ICE: which addresses the pod advertises and which ports it uses (see egress-pod/README.md). */
export const EgressIce = z
  .object({
    lite: z.boolean().default(false).describe('ICE-lite (RFC 8445 §2.5): host candidates only, no checks of our own.'),
    udpPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(PORTS.iceUdp)
      .describe(
        "The one UDP port of every viewer's media (the ICE UDP mux; one socket per address family and thread, SO_REUSEPORT). 0 picks a free port at start (tests, the local demo).",
      ),
    tcpPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('One TCP port for passive ICE-TCP (RFC 6544) candidates of every viewer; absent: no ICE-TCP on one port.'),
    portRange: z
      .object({ min: z.number().int().min(1024).max(65535), max: z.number().int().min(1024).max(65535) })
      .refine((r) => r.min < r.max, { message: 'min must be below max (werift needs a range of at least two ports)' })
      .optional()
      .describe('Retired: ignored (with a log line) since every viewer shares ice.udpPort. Accepted until the operator stops sending it.'),
    advertise: z
      .object({
        addresses: z.array(ipAddress).default([]).describe('Extra host-candidate addresses (NAT 1:1 public IPs).'),
        addressEnv: z
          .array(envName)
          .default([])
          .describe('Variables holding addresses to advertise, read at start (host networking: the node IP).'),
        only: z.boolean().default(false).describe("Advertise only the addresses above, not the pod's own interface addresses."),
      })
      .default({ addresses: [], addressEnv: [], only: false }),
    advertisedPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        'Port written into the UDP host candidates instead of the bound ice.udpPort: the port viewers reach when something in between maps it (a NodePort Service: the node port, DNATed to ice.udpPort).',
      ),
    advertisedTcpPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('The same for the passive TCP candidates (instead of ice.tcpPort).'),
    ipv6: z.boolean().default(false).describe('Also gather IPv6 host candidates.'),
    tcp: z.boolean().default(false).describe('Also offer passive ICE-TCP host candidates (RFC 6544).'),
    servers: z.array(IceServer).default([]),
    relayOnly: z.boolean().default(false).describe('Advertise only TURN relay candidates.'),
    gatherTimeoutSeconds: seconds(0.1, 60, 5).describe('An answer not gathered in this time gets 504.'),
    maxRemoteCandidates: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(20)
      .describe("Most remote candidates one ICE session uses (the offer's and trickled ones together); later ones are dropped."),
    allowLoopbackCandidates: z
      .boolean()
      .default(false)
      .describe(
        'Use remote candidates on loopback addresses (tests and the local demo only). Link-local and unspecified ones are always dropped.',
      ),
  })
  .superRefine((ice, ctx) => {
    if (ice.advertise.only && ice.advertise.addresses.length + ice.advertise.addressEnv.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['advertise', 'only'], message: 'needs at least one address or addressEnv' });
    }
    if (ice.relayOnly && !ice.servers.some((s) => s.urls.some((u) => u.startsWith('turn')))) {
      ctx.addIssue({ code: 'custom', path: ['relayOnly'], message: 'needs a TURN server in servers' });
    }
    if (ice.lite && (ice.relayOnly || ice.tcp)) {
      ctx.addIssue({ code: 'custom', path: ['lite'], message: 'ICE-lite gathers host UDP candidates only; turn off relayOnly and tcp' });
    }
  });

/** Validated ICE settings. */
export type EgressIce = z.output<typeof EgressIce>;
/** One validated STUN/TURN server. */
export type IceServer = z.output<typeof IceServer>;
