/**
 * Reads the egress configuration from the environment once, at start: the JSON in
 * CORECAST_EGRESS_CONFIG (validated by @corecast/api's EgressConfig, errors name the field) and
 * the secrets it points to (config-resolve.ts). Everything later reads the resolved value, never
 * the environment. This module loads zod and every schema: the pod's main thread never imports
 * it, but runs it in a thread of its own at start (config-thread.ts); tests and the demo call it
 * directly.
 */
import { EGRESS_CONFIG_ENV, EgressConfig, type EgressConfigInput, parseOrThrow, ValidationError } from '@corecast/api';
import { type Env, type ResolvedConfig, resolveValidated } from './config-resolve.ts';

export { type Env, ephemeralTurnCredential, type IceServerEntry, type ResolvedConfig } from './config-resolve.ts';

/** Reads and validates the configuration; throws a ValidationError naming every bad field. */
export function loadConfig(env: Env): ResolvedConfig {
  return resolveConfig(parseConfigText(env[EGRESS_CONFIG_ENV]), env);
}

/**
 * The configuration in the text of CORECAST_EGRESS_CONFIG, validated, every default filled in;
 * throws a ValidationError when it is not set, not JSON, or has a bad field.
 */
export function parseConfigText(raw: string | undefined): EgressConfig {
  if (raw === undefined || raw.trim() === '') {
    throw new ValidationError(EGRESS_CONFIG_ENV, [{ path: '', message: 'is not set; it must hold the JSON configuration' }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ValidationError(EGRESS_CONFIG_ENV, [{ path: '', message: `is not JSON: ${(err as Error).message}` }]);
  }
  return parseOrThrow(EgressConfig, json, EGRESS_CONFIG_ENV);
}

/** Resolves an already-parsed configuration (tests and the demo build it in code). */
export function resolveConfig(input: EgressConfig | EgressConfigInput, env: Env): ResolvedConfig {
  return resolveValidated(parseOrThrow(EgressConfig, input, EGRESS_CONFIG_ENV), env);
}
