/**
 * `npm run bench:operator`: the operator against a fresh real control plane (test/kit), run as
 * its own process (`node operator/src/main.ts --config …`, as in a cluster), measured from the
 * outside through watches. Prints one JSON object per line: {name, value, unit}.
 *
 * - apply → children: a WebRTC Process is created, then the time until all five children
 *   (two pods, Service, Ingress, NetworkPolicy) have been seen by a watch; one at a time,
 *   BENCH_LATENCY_RUNS times (default 40); p50 and p95.
 * - 1000 at once: BENCH_BULK (default 1000) Processes created as fast as the API server takes
 *   them; the time until every one has its FFmpeg pod. Then BENCH_BULK_WEBRTC (default 1000)
 *   WebRTC Processes the same way, until each has its five children (one ClusterIP each; the
 *   harness's Service CIDR is a /16). The operator's peak RSS (VmHWM) over the run.
 * - progress flowing: one sender per plain bulk Process posts a progress block every
 *   BENCH_PROGRESS_REPORT_SECONDS (default 2) to the operator's progress port
 *   (progress-load.ts); after a warm-up, the API server's own count of Process status writes
 *   (apiserver_request_total) over BENCH_PROGRESS_SECONDS (default 30) gives status writes per
 *   second, against the configured ceiling (BENCH_STATUS_INTERVAL, default 5 s;
 *   BENCH_MAX_STATUS_WRITES, default 100/s).
 * - the same count of Deployments (replicas 0) in the same control plane: the time until
 *   kube-controller-manager's Deployment controller has made a ReplicaSet for each; and the
 *   ratio of both times.
 *
 * `--side-by-side` runs side-by-side.ts instead: the operator beside a kube-controller-manager
 * of the same client rate limit (none), with API requests, CPU and memory per controller.
 *
 * Environment: BENCH_WORKERS (operator workers, default 4), BENCH_NODE_FLAGS (V8/Node flags of
 * the operator process; default: the operator image's NODE_OPTIONS from operator/Dockerfile,
 * "" for none), BENCH_LATENCY_RUNS, BENCH_BULK, BENCH_BULK_WEBRTC.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '@corecast/testkit/control-plane';
import { installCrds } from '@corecast/testkit/control-plane-crds';
import { kubectl } from '@corecast/testkit/kube-tools';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, Watch } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';
import { progressLoad } from './progress-load.ts';
import { runSideBySide } from './side-by-side.ts';

const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 40);
const BULK = Number(process.env.BENCH_BULK ?? 1000);
const BULK_WEBRTC = Number(process.env.BENCH_BULK_WEBRTC ?? 1000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const PROGRESS_SECONDS = Number(process.env.BENCH_PROGRESS_SECONDS ?? 30);
const PROGRESS_REPORT_SECONDS = Number(process.env.BENCH_PROGRESS_REPORT_SECONDS ?? 2);
const STATUS_INTERVAL = Number(process.env.BENCH_STATUS_INTERVAL ?? 5);
const MAX_STATUS_WRITES = Number(process.env.BENCH_MAX_STATUS_WRITES ?? 100);
const repo = fileURLToPath(new URL('../../', import.meta.url));
/** The operator image's Node flags (operator/Dockerfile's NODE_OPTIONS): the default, so the figures are the image's. */
function imageNodeFlags(): string {
  const dockerfile = readFileSync(join(repo, 'operator/Dockerfile'), 'utf8');
  const flags = dockerfile.match(/^ENV NODE_OPTIONS="([^"]*)"/m)?.[1];
  if (flags === undefined) throw new Error('operator/Dockerfile sets no NODE_OPTIONS');
  return flags;
}
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? imageNodeFlags()).split(' ').filter(Boolean);
/** Children of a WebRTC Process: two pods, Service, Ingress, NetworkPolicy. */
const WEBRTC_CHILDREN = 5;

const emit = (name: string, value: number, unit: string) =>
  process.stdout.write(`${JSON.stringify({ name, value: Number(value.toFixed(3)), unit })}\n`);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/**
 * Watches the managed children in a namespace and resolves, per Process, once its five
 * children have all been seen (the wall time of that moment is recorded).
 */
function watchChildren(kc: KubeConfig, ns: string, children: number) {
  const seen = new Map<string, Set<string>>();
  const doneAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const controllers: AbortController[] = [];
  const paths = [
    `/api/v1/namespaces/${ns}/pods`,
    `/api/v1/namespaces/${ns}/services`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
  ];
  const started = paths.map(async (path) => {
    const w = new Watch(kc);
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 3_600_000;
    const c = await w.watch(
      path,
      { labelSelector: 'app.kubernetes.io/managed-by=corecast-operator' },
      (type, obj: { kind?: string; metadata?: { name?: string; labels?: Record<string, string> } }) => {
        if (type !== 'ADDED') return;
        const owner = obj.metadata?.labels?.['corecast.dev/process'];
        if (!owner) return;
        const set = seen.get(owner) ?? new Set<string>();
        set.add(`${path}/${obj.metadata?.name}`);
        seen.set(owner, set);
        if (set.size === children && !doneAt.has(owner)) {
          doneAt.set(owner, performance.now());
          waiters.get(owner)?.();
        }
      },
      (err) => {
        if (err && (err as Error).name !== 'AbortError') log(`watch ${path} ended: ${String(err)}`);
      },
    );
    controllers.push(c);
  });
  return {
    ready: Promise.all(started),
    /** Resolves with the time all children of `name` were seen. */
    whenComplete(name: string): Promise<number> {
      const t = doneAt.get(name);
      if (t !== undefined) return Promise.resolve(t);
      return new Promise((resolve) => waiters.set(name, () => resolve(doneAt.get(name) as number)));
    },
    complete: () => doneAt.size,
    stop: () => {
      for (const c of controllers) c.abort();
    },
  };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

async function waitReady(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the operator exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (process.argv.includes('--side-by-side')) {
  await runSideBySide();
  process.exit(0);
}

const cp = await startControlPlane();
let operator: ChildProcess | undefined;
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const apps = kc.makeApiClient(AppsV1Api);
  const latNs = await cp.newNamespace('bench-latency');
  const bulkNs = await cp.newNamespace('bench-bulk');
  const bulkWebrtcNs = await cp.newNamespace('bench-bulk-webrtc');
  const deployNs = await cp.newNamespace('bench-deploy');

  const dir = mkdtempSync(join(tmpdir(), 'corecast-bench-'));
  const configPath = join(dir, 'config.yaml');
  const metricsPort = 18080 + Math.floor(Math.random() * 1000);
  const healthPort = metricsPort + 1000;
  const progressPort = metricsPort + 2000;
  writeFileSync(
    configPath,
    stringify({
      namespaces: [latNs, bulkNs, bulkWebrtcNs],
      workers: WORKERS,
      logLevel: 'warn',
      images: { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:1' },
      ingress: { host: 'stream.bench' },
      metrics: { port: metricsPort },
      health: { port: healthPort },
      progress: {
        port: progressPort,
        statusIntervalSeconds: STATUS_INTERVAL,
        maxStatusWritesPerSecond: MAX_STATUS_WRITES,
        viewers: false,
      },
    }),
  );
  operator = spawn(process.execPath, [...NODE_FLAGS, join(repo, 'operator/src/main.ts'), '--config', configPath], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, POD_NAME: 'bench', POD_NAMESPACE: latNs },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = operator.pid as number;
  await waitReady(healthPort, operator);
  log(`operator pid ${pid} ready (workers ${WORKERS}, flags "${NODE_FLAGS.join(' ')}")`);
  emit('operator_idle_rss', peakRssMiB(pid), 'MiB');

  // 1. apply → children, one at a time.
  const lat = watchChildren(kc, latNs, WEBRTC_CHILDREN);
  await lat.ready;
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const name = `lat-${i}`;
    const t0 = performance.now();
    await custom.createNamespacedCustomObject({
      group: 'corecast.dev',
      version: 'v1alpha1',
      plural: 'processes',
      namespace: latNs,
      body: { ...processFixture(name, withWebrtc()), metadata: { name, namespace: latNs } },
    });
    latencies.push((await lat.whenComplete(name)) - t0);
  }
  lat.stop();
  emit('operator_apply_to_children_p50', percentile(latencies, 50), 'ms');
  emit('operator_apply_to_children_p95', percentile(latencies, 95), 'ms');

  // 2. Many Processes at once: BULK plain ones (one child, the FFmpeg pod), then BULK_WEBRTC
  //    WebRTC ones (five children, one of them a Service with a ClusterIP from the harness's
  //    /16 Service CIDR).
  const bulk = async (ns: string, count: number, webrtc: boolean): Promise<number> => {
    const children = webrtc ? WEBRTC_CHILDREN : 1;
    const watch = watchChildren(kc, ns, children);
    await watch.ready;
    const names = Array.from({ length: count }, (_, i) => `p-${i}`);
    const t0 = performance.now();
    await pool(names, 50, async (name) => {
      const manifest = webrtc ? processFixture(name, withWebrtc()) : processFixture(name);
      await custom.createNamespacedCustomObject({
        group: 'corecast.dev',
        version: 'v1alpha1',
        plural: 'processes',
        namespace: ns,
        body: { ...manifest, metadata: { name, namespace: ns } },
      });
    });
    const created = performance.now() - t0;
    const progress = setInterval(() => log(`bulk ${webrtc ? 'webrtc' : 'plain'}: ${watch.complete()}/${count} complete`), 10_000);
    const done = Math.max(...(await Promise.all(names.map((n) => watch.whenComplete(n))))) - t0;
    clearInterval(progress);
    watch.stop();
    const kind = webrtc ? 'webrtc' : 'plain';
    emit(`operator_bulk_${kind}_processes`, count, 'count');
    emit(`operator_bulk_${kind}_create_requests_done`, created / 1000, 's');
    emit(`operator_bulk_${kind}_all_children`, done / 1000, 's');
    emit(`operator_bulk_${kind}_children_per_second`, (count * children) / (done / 1000), 'objects/s');
    return done / 1000;
  };
  const bulkDone = await bulk(bulkNs, BULK, false);
  if (BULK_WEBRTC > 0) await bulk(bulkWebrtcNs, BULK_WEBRTC, true);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const requests = (method: string) =>
    [...metrics.matchAll(new RegExp(`^rest_client_requests_total\\{[^}]*method="${method}"[^}]*\\} (\\d+)`, 'gm'))].reduce(
      (s, m) => s + Number(m[1]),
      0,
    );
  for (const m of ['GET', 'PATCH', 'POST', 'DELETE']) emit(`operator_requests_${m.toLowerCase()}`, requests(m), 'count');
  emit('operator_peak_rss', peakRssMiB(pid), 'MiB');
  const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(metrics)?.[1] ?? Number.NaN);
  emit('operator_rss_after_bulk', gauge('process_resident_memory_bytes') / 1048576, 'MiB');
  emit('operator_heap_used_after_bulk', gauge('nodejs_heap_size_used_bytes') / 1048576, 'MiB');

  // 3. Progress flowing for every plain bulk Process (each has its FFmpeg pod by now).
  if (PROGRESS_SECONDS > 0 && BULK > 0) {
    const pods = await core.listNamespacedPod({ namespace: bulkNs, labelSelector: 'app.kubernetes.io/component=ffmpeg' });
    const uids = new Map(pods.items.map((p) => [p.metadata?.labels?.['corecast.dev/process'] ?? '', p.metadata?.uid ?? '']));
    log(`progress: ${uids.size} senders, one report per ${PROGRESS_REPORT_SECONDS} s, counting for ${PROGRESS_SECONDS} s`);
    // The API server's count of Process status writes (server-side applies and patches), all namespaces.
    const statusWrites = async () =>
      (await kubectl(cp.kubeconfigPath, ['get', '--raw', '/metrics']))
        .split('\n')
        .filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="processes"') && l.includes('subresource="status"'))
        .filter((l) => /verb="(APPLY|PATCH)"/.test(l))
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    const load = await progressLoad(statusWrites, bulkNs, progressPort, uids, {
      reportSeconds: PROGRESS_REPORT_SECONDS,
      warmupSeconds: 2 * STATUS_INTERVAL,
      windowSeconds: PROGRESS_SECONDS,
    });
    emit('progress_senders', uids.size, 'count');
    emit('progress_reports_per_second', load.reportsAccepted / load.seconds, 'reports/s');
    emit('progress_reports_refused', load.reportsRefused, 'count');
    emit('progress_status_writes_per_second', load.statusWrites / load.seconds, 'writes/s');
    emit('progress_status_writes_ceiling', Math.min(MAX_STATUS_WRITES, uids.size / STATUS_INTERVAL), 'writes/s');
    emit('progress_status_writes_per_process_interval', load.statusWrites / uids.size / (load.seconds / STATUS_INTERVAL), 'writes');
    const after = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const rss = Number(/^process_resident_memory_bytes ([0-9.e+]+)/m.exec(after)?.[1] ?? Number.NaN);
    for (const result of ['ok', 'gone', 'error']) {
      const n = new RegExp(`^corecast_progress_status_writes_total\\{result="${result}"\\} (\\d+)`, 'm').exec(after)?.[1];
      emit(`progress_status_writes_${result}_total`, Number(n ?? 0), 'count');
    }
    emit(
      'progress_status_writes_deferred_total',
      Number(/^corecast_progress_status_writes_deferred_total (\d+)/m.exec(after)?.[1] ?? 0),
      'count',
    );
    emit('operator_rss_with_progress', rss / 1048576, 'MiB');
  }

  // 4. The Deployment controller on the same control plane: BULK Deployments → ReplicaSets.
  const rsSeen = new Set<string>();
  let rsResolve: () => void = () => {};
  const rsAll = new Promise<void>((r) => (rsResolve = r));
  let tRsDone = 0;
  const w = new Watch(kc);
  (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 3_600_000;
  const rsWatch = await w.watch(
    `/apis/apps/v1/namespaces/${deployNs}/replicasets`,
    {},
    (type, obj: { metadata?: { ownerReferences?: { name: string }[] } }) => {
      const owner = obj.metadata?.ownerReferences?.[0]?.name;
      if (type !== 'ADDED' || !owner) return;
      rsSeen.add(owner);
      if (rsSeen.size === BULK) {
        tRsDone = performance.now();
        rsResolve();
      }
    },
    () => {},
  );
  const tDeploy = performance.now();
  await pool(
    Array.from({ length: BULK }, (_, i) => `d-${i}`),
    50,
    async (name) => {
      await apps.createNamespacedDeployment({
        namespace: deployNs,
        body: {
          metadata: { name },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: name } },
            template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.test/x:1' }] } },
          },
        },
      });
    },
  );
  const progressRs = setInterval(() => log(`deployments: ${rsSeen.size}/${BULK} ReplicaSets`), 10_000);
  await rsAll;
  clearInterval(progressRs);
  rsWatch.abort();
  const deployDone = (tRsDone - tDeploy) / 1000;
  emit('kcm_deployments_to_replicasets', deployDone, 's');
  emit('operator_bulk_vs_deployment_controller', bulkDone / deployDone, 'ratio');
} finally {
  operator?.kill('SIGTERM');
  await cp.stop();
}
process.exit(0);
