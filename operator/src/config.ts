/**
 * The operator's configuration: one YAML file (`--config <path>`, a ConfigMap in the chart),
 * validated once at start. Every bad value fails the start with its field path; nothing is
 * re-read while running. Environment overrides exist only where Kubernetes gives the value:
 * POD_NAMESPACE (the Lease's namespace) and POD_NAME (the Lease holder identity).
 *
 * The schema is in config/schema.ts. The chart writes the file with its `auth` and `media`
 * values as they are (config/chart-sections.ts turns them into the egress settings), so the
 * chart's rules and defaults are the operator's; config/values.ts is values.schema.json.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fieldPath, parseOrThrow, ValidationError } from '@corecast/api';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ChartAuth, ChartMedia, chartPath, egressFromChart } from './config/chart-sections.ts';
import { DERIVED_EGRESS_KEYS, OperatorConfig } from './config/schema.ts';

export { DEFAULT_DENIED_CIDRS } from './config/ffmpeg.ts';
export { OperatorConfig, type OperatorConfigInput } from './config/schema.ts';

/** What the operator takes from its environment (the chart sets these from the downward API). */
export interface Identity {
  /** This instance's name: the Lease holder and the Events' reportingInstance. */
  readonly name: string;
  /** The namespace the operator runs in (default Lease namespace). */
  readonly namespace: string | undefined;
}

/** POD_NAME / POD_NAMESPACE, or the host name outside a cluster. */
export function identityFromEnv(env: NodeJS.ProcessEnv = process.env): Identity {
  return { name: env.POD_NAME || hostname(), namespace: env.POD_NAMESPACE || undefined };
}

const ChartSections = z.strictObject({ auth: ChartAuth, media: ChartMedia });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The configuration with the chart's `auth` and `media` sections (if given) turned into egress
 * settings, and how to name a field of the result as the file wrote it.
 */
function resolveChartSections(value: unknown, source: string): { value: unknown; path: (p: readonly PropertyKey[]) => PropertyKey[] } {
  if (!isRecord(value) || !('auth' in value || 'media' in value)) return { value, path: (p) => [...p] };
  const { auth, media, ...rest } = value;
  const sections = parseOrThrow(ChartSections, { auth, media }, source);
  if (rest.egress !== undefined && !isRecord(rest.egress))
    throw new ValidationError(source, [{ path: 'egress', message: 'must be a map' }]);
  const egress = rest.egress ?? {};
  const clash = DERIVED_EGRESS_KEYS.filter((k) => k in egress);
  if (clash.length > 0) {
    const message = 'comes from the auth and media sections: set it there';
    throw new ValidationError(
      source,
      clash.map((k) => ({ path: `egress.${k}`, message })),
    );
  }
  const own = Array.isArray(egress.secretEnv) ? egress.secretEnv : [];
  const derived = egressFromChart(sections.auth, sections.media);
  return {
    value: { ...rest, egress: { ...egress, ...derived, secretEnv: [...own, ...(derived.secretEnv as unknown[])] } },
    path: (p) => chartPath(p, sections.media, own.length),
  };
}

/**
 * Validates a parsed configuration object; the error names every bad field as the file (or
 * the chart's values) wrote it.
 */
export function parseConfig(value: unknown, identity: Identity, source = 'operator config'): OperatorConfig {
  const resolved = resolveChartSections(value ?? {}, source);
  const result = OperatorConfig.safeParse(resolved.value);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({ path: fieldPath(resolved.path(i.path)), message: i.message }));
    throw new ValidationError(source, errors);
  }
  const config = result.data;
  const le = config.leaderElection;
  if (le.enabled && !le.leaseNamespace) {
    if (!identity.namespace) {
      throw new ValidationError(source, [
        { path: 'leaderElection.leaseNamespace', message: 'required when leaderElection.enabled (or set POD_NAMESPACE)' },
      ]);
    }
    return { ...config, leaderElection: { ...le, leaseNamespace: identity.namespace } };
  }
  return config;
}

/** Reads and validates the YAML file at `path`. */
export function loadConfig(path: string, identity: Identity = identityFromEnv()): OperatorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new Error(`config file ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(value, identity, `config file ${path}`);
}

/**
 * What routes a WebRTC-enabled Process's path: an Ingress, an HTTPRoute (gateway.enabled wins
 * over ingress.enabled), or nothing (both off: another router reaches the egress Services).
 */
export type RouteKind = 'ingress' | 'gateway';

/** The route kind the configuration asks for, undefined when the operator makes no route. */
export function routeKind(config: OperatorConfig): RouteKind | undefined {
  if (config.gateway.enabled) return 'gateway';
  return config.ingress.enabled ? 'ingress' : undefined;
}

/** Base URL of status.whepUrl and playerUrl, or undefined when nothing says where browsers go. */
export function publicBaseUrl(config: OperatorConfig): string | undefined {
  if (config.publicBaseUrl) return config.publicBaseUrl.replace(/\/+$/, '');
  const host = config.ingress.host;
  if (!routeKind(config) || !host || host.startsWith('*')) return undefined;
  return `${config.ingress.tlsSecretName ? 'https' : 'http'}://${host}`;
}

/** Parses `--config <path>` (or `--config=<path>`) from argv; the only flag the operator takes. */
export function configPathFromArgs(argv: readonly string[]): string {
  const [first, ...rest] = argv;
  if (first === undefined) throw new Error('missing --config <path> (the operator configuration file)');
  let path: string | undefined;
  if (first === '--config') {
    path = rest.shift();
    if (!path) throw new Error('--config needs a path');
  } else if (first.startsWith('--config=')) {
    path = first.slice('--config='.length);
  } else {
    throw new Error(`unknown argument "${first}": the operator takes only --config <path>`);
  }
  if (rest.length > 0) throw new Error(`unknown argument "${rest[0]}": the operator takes only --config <path>`);
  return path;
}
