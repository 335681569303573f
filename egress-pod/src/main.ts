/**
 * The egress pod's entry point: read the configuration from the environment, start, and stop
 * gracefully on SIGTERM/SIGINT (Kubernetes sends SIGTERM, then SIGKILL after the grace period).
 */
import { ValidationError } from '@corecast/api/light';
import type { ResolvedConfig } from './config-resolve.ts';
import { loadConfigInThread } from './config-thread.ts';
import { startEgress } from './egress.ts';
import { createLogger } from './log.ts';

async function main(): Promise<void> {
  let resolved: ResolvedConfig;
  try {
    // Checked in a thread of its own: zod and the schemas never stay in this thread's heap.
    resolved = await loadConfigInThread(process.env);
  } catch (err) {
    // One line a person can act on, naming the field; exit code 2 = bad configuration.
    process.stderr.write(`${err instanceof ValidationError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const log = createLogger(resolved.config.logLevel);
  // CORECAST_EGRESS_ICE_MUX=off: werift's socket per viewer instead of ice.udpPort (benchmarks only).
  const egress = await startEgress(resolved, { log, iceMux: process.env.CORECAST_EGRESS_ICE_MUX !== 'off' });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    egress.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

await main();
