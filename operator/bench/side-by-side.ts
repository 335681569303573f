/**
 * `npm run bench:operator -- --side-by-side`: the operator beside kube-controller-manager on one
 * fresh control plane, in one run, at the same client rate limit.
 *
 * The operator's client has no rate limit (client-node has none and the operator adds none;
 * its only limiter is the work queue's retry backoff), so kube-controller-manager runs
 * unthrottled too: a dedicated one (`--kube-api-qps`/`--kube-api-burst` 10000) with only the
 * controllers measured, `job,statefulset`. The harness's own controller manager runs
 * `deployment,replicaset` (plus garbage collection, namespaces, service accounts) and never
 * touches Jobs or StatefulSets, so it does not interfere; its garbage collector does see every
 * object created, for both sides alike. BENCH_KCM_LIMITS adds rows at other limits, e.g.
 * `unthrottled,20/30` (20/30 is kube-controller-manager's default; the operator stays unthrottled).
 *
 * Work, each in its own namespace, N = BENCH_SIDE_SIZES (default 100,1000):
 * - operator: N Processes with WebRTC off, then N with WebRTC on, until every child is seen;
 * - kube-controller-manager: N Jobs (→ Pod), then N StatefulSets of one replica
 *   (→ ControllerRevision, Pod), until every child is seen.
 * At the first limit the two take turns (Processes off, Jobs, Processes on, StatefulSets), so
 * drifting load on a shared machine hits both. No node exists, so no Pod ever runs: only
 * creation is measured. One warm-up object of each kind first (its informers synced; it tells
 * how many children one object has).
 *
 * Per row: time from the first create request to the last child seen by a watch; children per
 * second; API requests the API server counted (apiserver_request_total, all verbs) from the first
 * create until it has been quiet for 2 s, less the benchmark's own N creates; CPU seconds of the
 * controller process (/proc/<pid>/stat) and of kube-apiserver + etcd over the same window; the
 * controller's resident memory (VmRSS) at the end and its peak (VmHWM). JSON lines, then a table.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '@corecast/testkit/control-plane';
import { ensureControlPlaneBinaries } from '@corecast/testkit/control-plane-binaries';
import { installCrds } from '@corecast/testkit/control-plane-crds';
import { freeLoopbackPorts, probe, waitUntil } from '@corecast/testkit/control-plane-net';
import { died, ProcessGroup } from '@corecast/testkit/control-plane-processes';
import { kubectl } from '@corecast/testkit/kube-tools';
import { AppsV1Api, BatchV1Api, CustomObjectsApi, type KubeConfig, Watch } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { jobWork, type Obj, operatorWork, statefulSetWork, type Work } from './side-by-side-work.ts';

const SIZES = (process.env.BENCH_SIDE_SIZES ?? '100,1000').split(',').map(Number);
const KCM_LIMITS = (process.env.BENCH_KCM_LIMITS ?? 'unthrottled').split(',');
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const UNTHROTTLED = 10_000;
const repo = fileURLToPath(new URL('../../', import.meta.url));
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const emit = (name: string, value: number, unit: string) =>
  process.stdout.write(`${JSON.stringify({ name, value: Number(value.toFixed(3)), unit })}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The operator image's Node flags (operator/Dockerfile's NODE_OPTIONS), as operator-bench.ts uses. */
function imageNodeFlags(): string[] {
  const flags = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(repo, 'operator/Dockerfile'), 'utf8'))?.[1];
  if (flags === undefined) throw new Error('operator/Dockerfile sets no NODE_OPTIONS');
  return (process.env.BENCH_NODE_FLAGS ?? flags).split(' ').filter(Boolean);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? Number.NaN) / 1024;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** Watches the children in `ns`; an owner is complete once `children()` of its children were seen. */
function watchChildren(kc: KubeConfig, ns: string, work: Work, children: () => number) {
  const seen = new Map<string, Set<string>>();
  const doneAt = new Map<string, number>();
  const aborts: AbortController[] = [];
  const started = work.childPaths(ns).map(async (path) => {
    const w = new Watch(kc);
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 3_600_000;
    const opts = work.labelSelector ? { labelSelector: work.labelSelector } : {};
    const abort = await w.watch(
      path,
      opts,
      (type, obj: Obj) => {
        const owner = work.ownerOf(obj);
        if (type !== 'ADDED' || !owner) return;
        const set = seen.get(owner) ?? new Set<string>();
        set.add(`${path}/${obj.metadata?.name}`);
        seen.set(owner, set);
        if (!owner.startsWith('warm-up') && set.size >= children() && !doneAt.has(owner)) doneAt.set(owner, performance.now());
      },
      (err) => {
        if (err && (err as Error).name !== 'AbortError') log(`watch ${path} ended: ${String(err)}`);
      },
    );
    aborts.push(abort);
  });
  return {
    ready: Promise.all(started),
    seen: (owner: string) => seen.get(owner)?.size ?? 0,
    complete: () => doneAt.size,
    last: () => Math.max(...doneAt.values()),
    stop: () => aborts.forEach((a) => a.abort()),
  };
}

/** One measured row. */
interface Row {
  controller: string;
  what: string;
  limit: string;
  n: number;
  children: number;
  seconds: number;
  requests: number;
  cpu: number;
  serverCpu: number;
  rss: number;
  peakRss: number;
}

interface Env {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** kube-apiserver and etcd. */
  serverPids: number[];
}

/** The API server's count of every request it has served so far, by "VERB resource[/subresource]". */
async function apiRequests(kubeconfigPath: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await kubectl(kubeconfigPath, ['get', '--raw', '/metrics'])).split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? '';
    const key = `${label('verb')} ${label('resource')}${label('subresource') && `/${label('subresource')}`}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return counts;
}
const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);
/** What changed between two counts, largest first. */
const delta = (after: Map<string, number>, before: Map<string, number>) =>
  [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);

/**
 * Creates one object, retrying a dropped connection or a 429/5xx a few times (a loaded API server
 * closes connections now and then); AlreadyExists on a retry means the first attempt got through.
 */
async function createRetrying(work: Work, ns: string, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await work.create(ns, name);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt > 1 && code === 409) return;
      const transient = typeof code !== 'number' || code === 429 || code >= 500;
      if (!transient || attempt === 5) throw err;
      log(`create ${ns}/${name} failed (${(err as Error).message.split('\n')[0]}), retrying`);
      await sleep(200 * attempt);
    }
  }
}

/** Runs one kind of work at size `n` in `ns` (a warm-up object first) against the controller `pid`. */
async function measure(env: Env, work: Work, ns: string, n: number, pid: number, limit: string): Promise<Row> {
  let children = Number.POSITIVE_INFINITY;
  const watch = watchChildren(env.kc, ns, work, () => children);
  await watch.ready;
  // Warm-up: one object, until its count of children has not moved for 1.5 s.
  // Names differ between sizes: two WebRTC Processes of one name in two namespaces would share a
  // route, and the younger would get no Ingress (route-holder.ts).
  const warmUp = `warm-up-${n}`;
  await work.create(ns, warmUp);
  let count = 0;
  for (let still = 0; still < 15 || count === 0;) {
    await sleep(100);
    const now = watch.seen(warmUp);
    still = now === count ? still + 1 : 0;
    count = now;
  }
  children = count;
  const names = Array.from({ length: n }, (_, i) => `o${n}-${i}`);
  const requests0 = await apiRequests(env.kubeconfigPath);
  const cpu0 = cpuSeconds(pid);
  const server0 = env.serverPids.reduce((s, p) => s + cpuSeconds(p), 0);
  const t0 = performance.now();
  await pool(names, 50, (name) => createRetrying(work, ns, name));
  const progress = setInterval(() => log(`${work.what} ×${n}: ${watch.complete()}/${n} complete`), 10_000);
  while (watch.complete() < n) await sleep(20);
  clearInterval(progress);
  const seconds = (watch.last() - t0) / 1000;
  // Trailing writes (status) count too: wait until the API server has been quiet for 2 s (at most 30 s).
  let requests = await apiRequests(env.kubeconfigPath);
  for (let i = 0; i < 15; i++) {
    await sleep(2000);
    const now = await apiRequests(env.kubeconfigPath);
    const quiet = total(now) - total(requests) < 5;
    requests = now;
    if (quiet) break;
  }
  log(
    `${work.what} ×${n}, API requests: ${delta(requests, requests0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  watch.stop();
  const row: Row = {
    controller: work.controller,
    what: work.what,
    limit,
    n,
    children,
    seconds,
    requests: total(requests) - total(requests0) - n,
    cpu: cpuSeconds(pid) - cpu0,
    serverCpu: env.serverPids.reduce((s, p) => s + cpuSeconds(p), 0) - server0,
    rss: memoryMiB(pid, 'VmRSS'),
    peakRss: memoryMiB(pid, 'VmHWM'),
  };
  const key = `side_${work.controller === 'operator' ? 'operator' : 'kcm'}_${work.what.replace(/\W+/g, '_')}_${n}`;
  emit(`${key}_last_child`, row.seconds, 's');
  emit(`${key}_children_per_second`, (n * children) / row.seconds, 'objects/s');
  emit(`${key}_api_requests`, row.requests, 'count');
  emit(`${key}_cpu`, row.cpu, 's');
  emit(`${key}_server_cpu`, row.serverCpu, 's');
  emit(`${key}_rss`, row.rss, 'MiB');
  return row;
}

/** The operator as its own process (as in operator-bench.ts), watching `namespaces`. */
async function startOperator(kubeconfigPath: string, namespaces: string[], dir: string): Promise<ChildProcess> {
  const configPath = join(dir, 'operator.yaml');
  const [metrics, health, progress] = (await freeLoopbackPorts(3)) as [number, number, number];
  const config = {
    namespaces,
    workers: WORKERS,
    logLevel: 'warn',
    images: { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:1' },
    ingress: { host: 'stream.bench' },
    metrics: { port: metrics },
    health: { port: health },
    progress: { port: progress, viewers: false },
  };
  writeFileSync(configPath, stringify(config));
  const child = spawn(process.execPath, [...imageNodeFlags(), join(repo, 'operator/src/main.ts'), '--config', configPath], {
    env: { ...process.env, KUBECONFIG: kubeconfigPath, POD_NAME: 'bench', POD_NAMESPACE: namespaces[0] },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitUntil(async () => (await probe(`http://127.0.0.1:${health}/readyz`).catch(() => ({ status: 0 }))).status === 200, {
    what: 'the operator /readyz',
    deadline: Date.now() + 60_000,
    failFast: () => (child.exitCode !== null ? `the operator exited with ${child.exitCode}` : undefined),
  });
  return child;
}

/** A kube-controller-manager of the benchmark's own: only Jobs and StatefulSets, at `qps`/`burst`. */
async function startKcm(kubeconfigPath: string, dir: string, qps: number, burst: number) {
  const bins = await ensureControlPlaneBinaries();
  const [port] = (await freeLoopbackPorts(1)) as [number];
  const certDir = join(dir, `kcm-${qps}-certs`);
  mkdirSync(certDir);
  const group = new ProcessGroup();
  const kcm = group.spawn(
    'kube-controller-manager (bench)',
    bins.kubeControllerManager,
    [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--controllers=job,statefulset',
      '--use-service-account-credentials=false',
      '--leader-elect=false',
      `--kube-api-qps=${qps}`,
      `--kube-api-burst=${burst}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${certDir}`,
    ],
    join(dir, `kcm-${qps}.log`),
  );
  await waitUntil(async () => (await probe(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200, {
    what: 'the benchmark kube-controller-manager /healthz',
    deadline: Date.now() + 60_000,
    failFast: died(kcm),
  });
  return { pid: kcm.pid, stop: () => group.stop() };
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

function table(rows: Row[]): string {
  const head =
    '| Controller | Work | Client limit | N | Children each | Last child | Children/s | API requests/s | Requests per object | Controller CPU | CPU per child | apiserver + etcd CPU | RSS end / peak |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.controller} | ${r.what} | ${r.limit} | ${r.n} | ${r.children} | ${fmt(r.seconds, 2)} s | ${fmt((r.n * r.children) / r.seconds, 0)} | ` +
          `${fmt(r.requests / r.seconds, 0)} | ${fmt(r.requests / r.n, 2)} | ${fmt(r.cpu, 2)} s | ${fmt((r.cpu * 1000) / (r.n * r.children), 2)} ms | ` +
          `${fmt(r.serverCpu, 2)} s | ${fmt(r.rss, 0)} / ${fmt(r.peakRss, 0)} MiB |`,
      )
      .join('\n')
  );
}

/** The side-by-side run; prints JSON lines, then the table. */
export async function runSideBySide(): Promise<void> {
  const cp = await startControlPlane();
  const dir = mkdtempSync(join(tmpdir(), 'corecast-side-'));
  let operator: ChildProcess | undefined;
  try {
    const kc = cp.kubeConfig();
    await installCrds(kc);
    const serverPids = cp.pids.filter((pid) => {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      return comm === 'etcd' || comm === 'kube-apiserver';
    });
    const env: Env = { kc, kubeconfigPath: cp.kubeconfigPath, serverPids };
    const custom = kc.makeApiClient(CustomObjectsApi);
    const opNs = new Map<string, string>();
    for (const n of SIZES) for (const webrtc of [false, true]) opNs.set(`${n}-${webrtc}`, await cp.newNamespace(`side-op-${n}-${webrtc}`));
    operator = await startOperator(cp.kubeconfigPath, [...opNs.values()], dir);
    const opPid = operator.pid as number;
    log(`operator pid ${opPid} ready (workers ${WORKERS}); server pids ${serverPids.join(', ')}`);
    const rows: Row[] = [];
    const batch = kc.makeApiClient(BatchV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const operatorRow = async (n: number, webrtc: boolean) =>
      rows.push(await measure(env, operatorWork(webrtc, custom), opNs.get(`${n}-${webrtc}`) as string, n, opPid, 'none'));
    // With the first limit the two controllers take turns (the machine's load drifts); later
    // limits (kube-controller-manager alone) follow.
    for (const [i, limit] of KCM_LIMITS.entries()) {
      const [qps, burst] = limit === 'unthrottled' ? [UNTHROTTLED, UNTHROTTLED] : limit.split('/').map(Number);
      if (!qps || !burst) throw new Error(`BENCH_KCM_LIMITS: "${limit}" is neither "unthrottled" nor "<qps>/<burst>"`);
      const kcm = await startKcm(cp.kubeconfigPath, dir, qps, burst);
      const label = limit === 'unthrottled' ? 'none (10000/10000)' : `${qps}/${burst}`;
      log(`kube-controller-manager pid ${kcm.pid} ready (--kube-api-qps=${qps} --kube-api-burst=${burst})`);
      try {
        for (const n of SIZES) {
          if (i === 0) await operatorRow(n, false);
          rows.push(await measure(env, jobWork(batch), await cp.newNamespace(`side-job-${n}`), n, kcm.pid, label));
          if (i === 0) await operatorRow(n, true);
          rows.push(await measure(env, statefulSetWork(apps), await cp.newNamespace(`side-sts-${n}`), n, kcm.pid, label));
        }
      } finally {
        await kcm.stop();
      }
    }
    process.stdout.write(`\n${table(rows.sort((a, b) => a.n - b.n))}\n`);
  } finally {
    operator?.kill('SIGTERM');
    await cp.stop();
  }
}
