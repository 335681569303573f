/**
 * Mints a signed, expiring embed URL for a process's player (the egress must run with
 * `embed.enabled` and the same CORECAST_EMBED_SECRET — the Secret of the Process's namespace):
 *
 *   CORECAST_EMBED_SECRET=… npm run egress:sign-url -- <namespace>/<process-id> [ttl-seconds] [base-url]
 *
 * Prints `<base-url>/api/v3/process/<id>/whep/player?token=<expiry>.<signature>`. The signature
 * covers the namespace: the URL plays only that namespace's process of that name.
 */
import { EGRESS_SECRET_ENV, playerPath } from '@corecast/api';
import { signEmbedToken } from '../src/auth/embed.ts';

const [target = '', ttl = '3600', base = 'http://127.0.0.1:8080'] = process.argv.slice(2);
const secret = process.env[EGRESS_SECRET_ENV.embedSecret];
const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z]([-a-z0-9]*[a-z0-9])?)$/.exec(target);
if (!m || !/^\d+$/.test(ttl) || !secret) {
  process.stderr.write(
    `usage: ${EGRESS_SECRET_ENV.embedSecret}=<secret> npm run egress:sign-url -- <namespace>/<process-id> [ttl-seconds] [base-url]\n` +
      (secret ? '' : `${EGRESS_SECRET_ENV.embedSecret} is not set\n`) +
      (target && !m ? `"${target}" is not <namespace>/<process-id>\n` : ''),
  );
  process.exit(2);
}
const [, namespace, , processId] = m as unknown as [string, string, string, string];
const token = signEmbedToken(secret, namespace, processId, Date.now() / 1000 + Number(ttl));
console.log(`${base.replace(/\/$/, '')}${playerPath(processId)}?token=${token}`);
