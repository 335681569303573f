/**
 * The zod-free half of the egress configuration: given a configuration the schema has already
 * validated (config.ts, or the start-up check's thread, config-thread.ts), reads the secrets and
 * addresses it points to from the environment. The pod's main thread runs only this half.
 */
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import type { EgressConfig, IceServer } from '@corecast/api';
import { EGRESS_SECRET_ENV, EGRESS_CONFIG_ENV, type FieldError, MIN_SECRET_BYTES, ValidationError } from '@corecast/api/light';

/** An ICE server as werift and browsers take it (RTCIceServer). */
export interface IceServerEntry {
  /** stun:/turn: URLs. */
  readonly urls: string[];
  /** TURN username. */
  readonly username?: string;
  /** TURN password. */
  readonly credential?: string;
}

/** The configuration with its secrets and environment-provided addresses resolved. */
export interface ResolvedConfig {
  /** The validated JSON configuration. */
  readonly config: EgressConfig;
  /** HS256 secret (auth.mode hs256). */
  readonly jwtSecret?: Buffer;
  /** Signed-URL key (embed.enabled). */
  readonly embedSecret?: Buffer;
  /** Every address advertised besides (or instead of) the gathered ones. */
  readonly advertised: readonly string[];
  /** STUN/TURN servers with current credentials (ephemeral ones are minted per call). */
  readonly iceServers: (nowSeconds?: number) => IceServerEntry[];
}

/** The environment as a plain map (process.env, or a test's own). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves a configuration the schema has validated (every default filled in); throws a
 * ValidationError naming every secret or address variable that is missing or bad.
 */
export function resolveValidated(config: EgressConfig, env: Env): ResolvedConfig {
  const errors: FieldError[] = [];
  const secret = (name: string, path: string): Buffer | undefined => {
    const value = env[name];
    if (!value) {
      errors.push({ path, message: `needs the secret in environment variable ${name}, which is empty or not set` });
      return undefined;
    }
    const bytes = Buffer.from(value, 'utf8');
    // HMAC-SHA256 with a key shorter than the hash is weaker than it looks (RFC 7518 §3.2 asks for
    // at least 256 bits); refuse it at start rather than sign with it.
    if (bytes.length < MIN_SECRET_BYTES) {
      errors.push({
        path,
        message: `the secret in ${name} is ${bytes.length} bytes; at least ${MIN_SECRET_BYTES} are needed (e.g. openssl rand -base64 48)`,
      });
      return undefined;
    }
    return bytes;
  };
  const jwtSecret = config.auth.mode === 'hs256' ? secret(EGRESS_SECRET_ENV.jwtSecret, 'auth.mode') : undefined;
  const embedSecret = config.embed.enabled ? secret(EGRESS_SECRET_ENV.embedSecret, 'embed.enabled') : undefined;

  const advertised = [...config.ice.advertise.addresses];
  config.ice.advertise.addressEnv.forEach((name, i) => {
    const value = env[name]?.trim();
    if (!value || isIP(value) === 0) {
      errors.push({
        path: `ice.advertise.addressEnv[${i}]`,
        message: `environment variable ${name} must hold an IP address, got "${value ?? ''}"`,
      });
    } else advertised.push(value);
  });

  const servers = config.ice.servers.map((s, i) => serverResolver(s, `ice.servers[${i}].auth`, env, errors));
  if (errors.length > 0) throw new ValidationError(EGRESS_CONFIG_ENV, errors);
  return {
    config,
    ...(jwtSecret ? { jwtSecret } : {}),
    ...(embedSecret ? { embedSecret } : {}),
    advertised,
    iceServers: (now = Date.now() / 1000) => servers.map((resolve) => resolve(now)),
  };
}

function serverResolver(server: IceServer, path: string, env: Env, errors: FieldError[]): (now: number) => IceServerEntry {
  const auth = server.auth;
  if (!auth) return () => ({ urls: server.urls });
  const name = auth.type === 'password' ? auth.credentialEnv : auth.secretEnv;
  const value = env[name];
  if (!value) {
    errors.push({ path, message: `needs environment variable ${name}, which is empty or not set` });
    return () => ({ urls: server.urls });
  }
  if (auth.type === 'password') return () => ({ urls: server.urls, username: auth.username, credential: value });
  return (now) => ({ urls: server.urls, ...ephemeralTurnCredential(value, auth.user, now + auth.ttlSeconds) });
}

/**
 * Time-limited TURN credentials as coturn's `use-auth-secret` checks them (the "TURN REST API",
 * draft-uberti-behave-turn-rest-00 §2.2): username `<expiry>:<user>`, password
 * base64(HMAC-SHA1(secret, username)). Viewers get a password that expires, not the secret.
 */
export function ephemeralTurnCredential(secret: string, user: string, expiresAt: number): { username: string; credential: string } {
  const username = `${Math.floor(expiresAt)}:${user}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}
