/**
 * The plain parts of the egress pod's configuration (egress-config.ts holds its schema): the
 * environment variables it is read from, its limits, and the relay-targets file format that
 * replica 0 reads while it runs. No zod here: the pod's main thread imports these (through
 * `@corecast/api/light`) and never loads a schema.
 */

/** Environment variable holding the JSON configuration. */
export const EGRESS_CONFIG_ENV = 'CORECAST_EGRESS_CONFIG';

/** Environment variables holding secrets (values never appear in the JSON configuration). */
export const EGRESS_SECRET_ENV = {
  /** HS256 shared secret, required when `auth.mode` is `hs256`. */
  jwtSecret: 'CORECAST_JWT_SECRET',
  /** HMAC key of signed embed URLs, required when `embed.enabled`. */
  embedSecret: 'CORECAST_EMBED_SECRET',
} as const;

/**
 * Default name of the claim listing the processes a token may view: entries `<namespace>/<name>`,
 * `<namespace>/*` or `*` (docs/security.md). A bare `<name>` is refused: it does not say which
 * tenant's process it means.
 */
export const PROCESSES_CLAIM = 'corecast.dev/processes';

/** Shortest HS256 or embed-URL secret accepted (RFC 7518 §3.2: a key at least as long as the hash). */
export const MIN_SECRET_BYTES = 32;

/** True for a loopback host name or address (a JWKS over plain http is allowed only there). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Highest replica index: a Process has at most 32 egress replicas. */
export const MAX_REPLICA_INDEX = 31;

/** IPv4 as zod's `z.ipv4()` accepts it: four decimal octets, no leading zeros. */
const IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
/** The characters of an IPv6 address: hex digits, colons, and dots of an embedded IPv4 tail. */
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;

/**
 * True for an IPv4 or IPv6 address, exactly as the schema's `ipAddress` (`z.ipv4()` or
 * `z.ipv6()`) decides: IPv6 by the URL parser, once the text is known to hold nothing else
 * (a test compares the two).
 */
export function isIpAddress(text: string): boolean {
  return IPV4.test(text) || (IPV6_CHARS.test(text) && URL.canParse(`http://[${text}]`));
}

/** A sibling replica as replica 0 relays to it and forwards to it (one entry of the relay-targets file). */
export interface RelayTarget {
  /** Its replica index (1..31). */
  readonly index: number;
  /** Its pod address (IPv4 or IPv6, without brackets). */
  readonly address: string;
  /** Its RTP video and audio ports. */
  readonly videoPort: number;
  readonly audioPort: number;
  /** Its HTTP port (WHEP and /room). */
  readonly httpPort: number;
  /** Being drained: still relayed to (its viewers watch), never given new viewers. */
  readonly draining: boolean;
}

/**
 * Parses the relay-targets file (the `corecast.dev/relay-targets` annotation): entries
 * `<index>=<ip>:<videoPort>:<audioPort>:<httpPort>[:draining]`, separated by commas; empty: no
 * sibling. The ports are taken from the right, so an IPv6 address needs no brackets. Returns the
 * targets by index, or an error naming the first bad entry (the whole file is refused then).
 */
export function parseRelayTargets(text: string): { targets: RelayTarget[] } | { error: string } {
  const targets: RelayTarget[] = [];
  const seen = new Set<number>();
  const entries = text.split(',').map((e) => e.trim());
  for (const entry of entries.filter((e) => e !== '')) {
    const m = /^(\d+)=\[?([^\]=]+?)\]?:(\d+):(\d+):(\d+)(:draining)?$/.exec(entry);
    const bad = (why: string) => ({ error: `"${entry}": ${why}` });
    if (!m) return bad('expected <index>=<ip>:<videoPort>:<audioPort>:<httpPort>[:draining]');
    const [index, videoPort, audioPort, httpPort] = [m[1], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
    const address = m[2]!;
    if (index < 1 || index > MAX_REPLICA_INDEX) return bad(`the index must be 1 to ${MAX_REPLICA_INDEX} (replica 0 is this pod)`);
    if (seen.has(index)) return bad(`replica ${index} is listed twice`);
    if (!isIpAddress(address)) return bad(`"${address}" is not an IP address`);
    if ([videoPort, audioPort, httpPort].some((p) => p < 1 || p > 65535)) return bad('ports must be 1 to 65535');
    seen.add(index);
    targets.push({ index, address, videoPort, audioPort, httpPort, draining: m[6] !== undefined });
  }
  return { targets: targets.sort((a, b) => a.index - b.index) };
}

/** Writes relay targets as `parseRelayTargets` reads them (the operator's annotation value). */
export function formatRelayTargets(targets: readonly RelayTarget[]): string {
  return targets
    .map((t) => `${t.index}=${t.address}:${t.videoPort}:${t.audioPort}:${t.httpPort}${t.draining ? ':draining' : ''}`)
    .join(',');
}
