/**
 * The egress pod's configuration: the one contract between the operator (which writes it) and
 * the egress pod (which reads it). It travels as JSON in one environment variable,
 * `CORECAST_EGRESS_CONFIG`, and is validated by `EgressConfig` at the pod's start; a bad value
 * fails the pod with the field's path. Secrets never sit in this JSON: the JWT secret, the
 * embed-URL secret and TURN credentials are read from separate variables (so they can come
 * from a Kubernetes Secret), named here or in the fields that point to them.
 */
import { z } from 'zod';
import { PORTS } from './constants.ts';
import { EgressIce, port, seconds } from './egress-ice.ts';
import { isLoopbackHost, MAX_REPLICA_INDEX, PROCESSES_CLAIM } from './egress-plain.ts';
import type { ProcessRef } from './ffmpeg.ts';

export { EgressIce, IceServer } from './egress-ice.ts';
export * from './egress-plain.ts';

const ipOrCidr = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], {
  error: 'must be an IP address or a CIDR block',
});
const WORKERS = "must be 'auto' or a whole number from 0 to 64";
const maxTokenLifetime = z
  .number()
  .int()
  .min(60)
  .max(31536000)
  .default(86400)
  .describe('Longest a token may live: exp - iat, and exp - now, at most this (s). Tokens without exp are refused.');

const absolutePath = z.string().regex(/^\//, 'must be an absolute path');

/** One RTP leg (video or audio) of a stream. */
const RtpLeg = (dflt: { port: number; payloadType: number }) =>
  z.object({
    port: port.default(dflt.port).describe('UDP port receiving this leg; 0 picks a free port (tests, the local demo).'),
    payloadType: z.number().int().min(96).max(127).default(dflt.payloadType).describe('Expected RTP payload type.'),
  });

/** One stream the pod serves: a process's two RTP legs and its viewer cap. */
export const EgressStream = z.object({
  processId: z
    .string()
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Process name (a DNS-1035 label)')
    .describe('The process id: the <id> of /api/v3/process/<id>/whep.'),
  video: RtpLeg({ port: PORTS.videoRtp, payloadType: 102 }).default({ port: PORTS.videoRtp, payloadType: 102 }),
  audio: RtpLeg({ port: PORTS.audioRtp, payloadType: 111 }).default({ port: PORTS.audioRtp, payloadType: 111 }),
  maxViewers: z.number().int().min(1).max(10000).default(8).describe('Most viewers of this stream at once.'),
  sourceAddresses: z.array(ipOrCidr).default([]).describe('Accept RTP only from these addresses or blocks; empty accepts any sender.'),
  sourceAddressFile: absolutePath
    .optional()
    .describe(
      "A file naming the source's addresses (comma- or space-separated), read again every second: RTP is then accepted only from them, nothing while it is empty. The operator points it at a downward API file of the pod's corecast.dev/rtp-source annotation.",
    ),
});

/** How viewers authenticate. */
export const EgressAuth = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }),
  z.object({
    mode: z.literal('hs256'),
    issuer: z.string().min(1).optional().describe('Required `iss` claim.'),
    audience: z.string().min(1).optional().describe('Required `aud` claim.'),
    processesClaim: z.string().min(1).default(PROCESSES_CLAIM),
    clockToleranceSeconds: seconds(0, 300, 5),
    maxTokenLifetimeSeconds: maxTokenLifetime,
  }),
  z
    .object({
      mode: z.literal('jwks'),
      jwksUrl: z.url({ protocol: /^https?$/ }).describe('URL of the JSON Web Key Set (RS256/ES256 public keys); https.'),
      allowLoopbackHttp: z
        .boolean()
        .default(false)
        .describe('Accept an http:// jwksUrl on a loopback address (tests, a local key server); never a remote one.'),
      algorithms: z
        .array(z.enum(['RS256', 'ES256']))
        .min(1)
        .default(['RS256', 'ES256']),
      issuer: z.string().min(1).optional(),
      audience: z.string().min(1).optional(),
      processesClaim: z.string().min(1).default(PROCESSES_CLAIM),
      clockToleranceSeconds: seconds(0, 300, 5),
      maxTokenLifetimeSeconds: maxTokenLifetime,
    })
    .superRefine((a, ctx) => {
      // Keys fetched over plain http can be swapped by anyone on the path: https only, except
      // on loopback when asked for explicitly.
      const url = new URL(a.jwksUrl);
      if (url.protocol === 'http:' && !(a.allowLoopbackHttp && isLoopbackHost(url.hostname))) {
        ctx.addIssue({
          code: 'custom',
          path: ['jwksUrl'],
          message: a.allowLoopbackHttp
            ? 'must be https (allowLoopbackHttp allows http only to 127.0.0.0/8, ::1 or localhost)'
            : 'must be https (keys fetched over http can be replaced on the way)',
        });
      }
    }),
]);

/**
 * One egress replica of a Process (docs/scale-out.md): which one this pod is, and the downward
 * API files through which the operator tells it its siblings and when to drain. Absent: a
 * Process with one egress pod, as before.
 */
export const EgressReplica = z.object({
  index: z
    .number()
    .int()
    .min(0)
    .max(MAX_REPLICA_INDEX)
    .default(0)
    .describe("This pod's replica: 0 receives FFmpeg's RTP and every WHEP request, and relays and forwards to the others."),
  relayTargetsFile: absolutePath
    .optional()
    .describe(
      "Replica 0 only: a file listing the sibling replicas (the pod's corecast.dev/relay-targets annotation), read again every second; every accepted RTP packet is sent on to each of them.",
    ),
  drainFile: absolutePath
    .optional()
    .describe(
      "A file holding the RFC 3339 time by which this replica's viewers should be gone (the pod's corecast.dev/drain annotation); empty: not draining. Read again every second.",
    ),
  drainSeconds: z
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(30)
    .describe('The longest a drain is spread over: a drain file naming no time, or a time further away, drains over this many seconds.'),
});

/** The whole configuration of an egress pod. */
export const EgressConfig = z
  .object({
    http: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(PORTS.http),
        headersTimeoutSeconds: seconds(1, 60, 10).describe(
          'A request whose headers have not all arrived by then is answered 408 and closed.',
        ),
        requestTimeoutSeconds: seconds(1, 300, 30).describe(
          'A request (headers and body) not received in full by then is answered 408 and closed; the time to answer it is not counted.',
        ),
      })
      .refine((h) => h.headersTimeoutSeconds <= h.requestTimeoutSeconds, {
        message: 'headersTimeoutSeconds must not be above requestTimeoutSeconds',
        path: ['headersTimeoutSeconds'],
      })
      .default({ host: '0.0.0.0', port: PORTS.http, headersTimeoutSeconds: 10, requestTimeoutSeconds: 30 }),
    metrics: z
      .object({
        port: port.default(PORTS.metrics).describe('Port of /metrics (on http.host); 0 picks a free port. Never the WHEP port.'),
      })
      .default({ port: PORTS.metrics }),
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name (a DNS-1123 label)')
      .max(63)
      .optional()
      .describe("The Processes' namespace: tokens and embed URLs name it (`<namespace>/<name>`). Required when viewers authenticate."),
    streams: z.array(EgressStream).min(1).max(64),
    maxViewers: z.number().int().min(1).max(100000).default(200).describe('Most viewers of the pod at once.'),
    cors: z.object({ allowOrigin: z.union([z.literal('*'), z.array(z.url()).min(1)]).default('*') }).default({ allowOrigin: '*' }),
    auth: EgressAuth.default({ mode: 'none' }),
    embed: z
      .object({
        enabled: z.boolean().default(false).describe('Accept signed, expiring ?token= URLs (HMAC over process id + expiry).'),
        maxTtlSeconds: z.number().int().min(60).max(31536000).default(86400),
      })
      .default({ enabled: false, maxTtlSeconds: 86400 }),
    ice: EgressIce.default(EgressIce.parse({})),
    session: z
      .object({
        connectTimeoutSeconds: seconds(1, 120, 15).describe('A viewer not connected (ICE + DTLS) by then is closed.'),
        livenessTimeoutSeconds: seconds(1, 120, 6).describe('A viewer sending neither RTCP nor STUN for this long is closed.'),
        maxBodyBytes: z.number().int().min(1024).max(1048576).default(65536),
        trickle: z.boolean().default(true).describe('Accept trickle ICE PATCHes (422 otherwise).'),
        iceRestart: z.boolean().default(true).describe('Accept ICE-restart PATCHes (422 otherwise).'),
        maxPerSubject: z
          .number()
          .int()
          .min(1)
          .max(10000)
          .default(5)
          .describe('Most sessions of one token subject (`sub`, or the token itself without one) at once; 429 past it.'),
        maxPerClient: z.number().int().min(1).max(10000).default(10).describe('Most sessions of one client address at once; 429 past it.'),
      })
      .default({
        connectTimeoutSeconds: 15,
        livenessTimeoutSeconds: 6,
        maxBodyBytes: 65536,
        trickle: true,
        iceRestart: true,
        maxPerSubject: 5,
        maxPerClient: 10,
      }),
    source: z
      .object({
        timeoutSeconds: seconds(0.5, 60, 2).describe('No RTP for this long: the source is down (409 for new viewers).'),
        graceSeconds: seconds(0, 3600, 30).describe(
          'Sessions outlive a down source this long (an FFmpeg restart keeps viewers), then are closed.',
        ),
      })
      .default({ timeoutSeconds: 2, graceSeconds: 30 }),
    media: z
      .object({
        workers: z
          .union([z.literal('auto'), z.number().int(WORKERS).min(0, WORKERS).max(64, WORKERS)], { error: WORKERS })
          .default('auto')
          .describe(
            "Fan-out worker threads, each owning a share of the viewers: 'auto' = one per available core (CPU affinity and cgroup quota); 0 = fan-out on the main thread.",
          ),
        gopCache: z
          .object({
            maxBytes: z
              .number()
              .int()
              .min(0)
              .max(256 * 1024 * 1024)
              .default(8 * 1024 * 1024)
              .describe('Most bytes of one GOP kept for late joiners; a larger GOP is not cached. 0 turns the cache off.'),
            maxAgeSeconds: seconds(0, 60, 10).describe(
              'A cached GOP older than this is not offered: late joiners wait for the next keyframe.',
            ),
            timing: z
              .enum(['compress', 'original'])
              .default('compress')
              .describe(
                "Timestamps of a late joiner's cached pictures: 'compress' (one tick apart, ending at the newest: shown at once, then live) or 'original' (capture times: played out from the keyframe).",
              ),
          })
          .default({ maxBytes: 8 * 1024 * 1024, maxAgeSeconds: 10, timing: 'compress' }),
      })
      .default({ workers: 'auto', gopCache: { maxBytes: 8 * 1024 * 1024, maxAgeSeconds: 10, timing: 'compress' } }),
    retryAfterSeconds: z
      .object({ noSource: z.number().int().min(1).max(3600).default(2), full: z.number().int().min(1).max(3600).default(10) })
      .default({ noSource: 2, full: 10 }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    replica: EgressReplica.optional(),
  })
  .superRefine((c, ctx) => {
    // Tokens and embed URLs name the namespace; an egress that does not know its own could not
    // tell one tenant's `demo` from another's.
    if (c.namespace === undefined && (c.auth.mode !== 'none' || c.embed.enabled)) {
      ctx.addIssue({ code: 'custom', path: ['namespace'], message: 'is required when auth.mode is not none or embed is enabled' });
    }
    const ids = new Set<string>();
    const ports = new Map<number, string>();
    c.streams.forEach((s, i) => {
      if (ids.has(s.processId)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'processId'], message: 'duplicate processId' });
      ids.add(s.processId);
      for (const leg of ['video', 'audio'] as const) {
        const p = s[leg].port;
        if (p !== 0 && ports.has(p)) {
          ctx.addIssue({ code: 'custom', path: ['streams', i, leg, 'port'], message: `port ${p} is already used by ${ports.get(p)}` });
        }
        ports.set(p, `streams[${i}].${leg}`);
      }
    });
    // The media port is UDP like the RTP legs: one socket each.
    const media = c.ice.udpPort;
    if (media !== 0 && ports.has(media)) {
      ctx.addIssue({ code: 'custom', path: ['ice', 'udpPort'], message: `port ${media} is already used by ${ports.get(media)}` });
    }
    // ICE-TCP shares TCP with the HTTP and metrics listeners.
    const tcp = c.ice.tcpPort;
    if (tcp !== undefined && (tcp === c.http.port || tcp === c.metrics.port)) {
      ctx.addIssue({ code: 'custom', path: ['ice', 'tcpPort'], message: `must differ from http.port and metrics.port (${tcp})` });
    }
    // A relay target names one video and one audio port: it carries one stream.
    if (c.replica?.relayTargetsFile !== undefined && c.streams.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'relayTargetsFile'],
        message: `relays one stream; this pod serves ${c.streams.length}`,
      });
    }
    if (c.replica?.relayTargetsFile !== undefined && c.replica.index !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'relayTargetsFile'],
        message: `only replica 0 relays (this is replica ${c.replica.index})`,
      });
    }
    // Metrics stay off the WHEP port: that one is routed from outside and carries CORS.
    if (c.metrics.port !== 0 && c.metrics.port === c.http.port) {
      ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: `must differ from http.port (${c.http.port})` });
    }
  });

/** A validated egress configuration, every default filled in. */
export type EgressConfig = z.output<typeof EgressConfig>;
/** An egress configuration as written (defaults optional). */
export type EgressConfigInput = z.input<typeof EgressConfig>;
/** One validated stream. */
export type EgressStream = z.output<typeof EgressStream>;
/** Validated replica settings. */
export type EgressReplica = z.output<typeof EgressReplica>;
/** Validated auth settings. */
export type EgressAuth = z.output<typeof EgressAuth>;

/** The stream entry for a Process: its id, payload types and viewer cap, on the given ports. */
export function egressStreamFor(
  process: ProcessRef,
  ports: { videoPort: number; audioPort: number } = { videoPort: PORTS.videoRtp, audioPort: PORTS.audioRtp },
): z.input<typeof EgressStream> {
  const w = process.spec.webrtc;
  return {
    processId: process.name,
    video: { port: ports.videoPort, payloadType: w.videoPayloadType },
    audio: { port: ports.audioPort, payloadType: w.audioPayloadType },
    maxViewers: w.maxViewers,
  };
}
