/** What FFmpeg pods may open (ffmpeg.access) and reach (their egress NetworkPolicy). */
import { isIP } from 'node:net';
import { DEFAULT_ACCESS_RULES } from '@corecast/api';
import { z } from 'zod';

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
