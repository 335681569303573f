/**
 * `corecast-operator --config <path>`: reads and checks the configuration, connects with the
 * in-cluster service account (or $KUBECONFIG / ~/.kube/config outside a cluster), and runs
 * until SIGTERM or SIGINT. Exit codes: 0 after a clean stop, 1 when leadership is lost or the
 * start fails, 2 for a bad configuration.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { configPathFromArgs, identityFromEnv, loadConfig } from './config.ts';
import { Operator } from './operator.ts';

const identity = identityFromEnv();
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(configPathFromArgs(process.argv.slice(2)), identity);
} catch (err) {
  process.stderr.write(`corecast-operator: ${(err as Error).message}\n`);
  process.exit(2);
}

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const operator = new Operator({
  config,
  identity,
  kubeConfig,
  processMetrics: true,
  onFatal: (reason) => {
    operator.log.fatal({ reason }, 'exiting');
    process.exit(1);
  },
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    operator.log.info({ signal }, 'stopping');
    operator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        operator.log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  });
}

try {
  await operator.start();
} catch (err) {
  operator.log.fatal({ err }, 'could not start');
  process.exit(1);
}
