/**
 * Mints a signed, expiring embed URL for a process's player (the egress must run with
 * `embed.enabled` and the same CORECAST_EMBED_SECRET):
 *
 *   CORECAST_EMBED_SECRET=… npm run egress:sign-url -- <process-id> [ttl-seconds] [base-url]
 *
 * Prints `<base-url>/api/v3/process/<id>/whep/player?token=<expiry>.<signature>`.
 */
import { EGRESS_SECRET_ENV, playerPath } from '@corecast/api';
import { signEmbedToken } from '../src/auth/embed.ts';

const [processId, ttl = '3600', base = 'http://127.0.0.1:8080'] = process.argv.slice(2);
const secret = process.env[EGRESS_SECRET_ENV.embedSecret];
if (!processId || !/^\d+$/.test(ttl) || !secret) {
  process.stderr.write(
    `usage: ${EGRESS_SECRET_ENV.embedSecret}=<secret> npm run egress:sign-url -- <process-id> [ttl-seconds] [base-url]\n` +
      (secret ? '' : `${EGRESS_SECRET_ENV.embedSecret} is not set\n`),
  );
  process.exit(2);
}
const token = signEmbedToken(secret, processId, Date.now() / 1000 + Number(ttl));
console.log(`${base.replace(/\/$/, '')}${playerPath(processId)}?token=${token}`);
