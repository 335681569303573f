/**
 * `node operator/bench/core-api-ids-bench.ts`: what Core ids cost the Core API, against a fresh
 * real control plane (test/kit) with BENCH_IDS_PROCESSES (default 1000) Processes in the
 * served namespace (objects only, no operator), half of them with Core UI ids (mapped names and
 * the id annotation). Prints one JSON object per line: {name, value, unit}; each figure is the
 * median of BENCH_IDS_RUNS (default 20) requests, one at a time, after one untimed warm-up:
 *
 * - a state read by a Core UI id (one read: the Process has the mapped name)
 * - a state read by an id that is its own name (one read)
 * - a state read by an unknown id (the read misses; the namespace's list is read)
 * - a state read by the id of a Process kubectl named otherwise (the list is read)
 * - a create with a Core UI id (the list is read, then one apply)
 * - the process list (`GET /api/v3/process?filter=state`), for comparison
 */
import type { AddressInfo } from 'node:net';
import { startControlPlane } from '@corecast/testkit/control-plane';
import { installCrds } from '@corecast/testkit/control-plane-crds';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { process as processFixture } from '../../api/test/fixtures/processes.ts';
import { createCoreApi } from '../src/core-api/app.ts';
import { CORE_ID_ANNOTATION, idAnnotations, processNameFor } from '../src/core-api/ids.ts';
import { makeKube } from '../src/kube/client.ts';
import { systemClock } from '../src/runtime/clock.ts';

const PROCESSES = Number(process.env.BENCH_IDS_PROCESSES ?? 1000);
const RUNS = Number(process.env.BENCH_IDS_RUNS ?? 20);

const uiId = (i: number) => `restreamer-ui:ingest:${i.toString(16).padStart(8, '0')}-7f0a-4e94-8c3a-f17d6be4a6d6`;

const cp = await startControlPlane();
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const ns = await cp.newNamespace('bench-ids');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: 'corecast.dev', version: 'v1alpha1', namespace: ns, plural: 'processes' };

  // Half plain names, half Core UI ids; a few requests at a time, as the API server takes them.
  const make = async (i: number) => {
    const id = i % 2 ? uiId(i) : `plain-${i}`;
    const name = processNameFor(id);
    const manifest = processFixture(name);
    const annotations = idAnnotations(id, name);
    await custom.createNamespacedCustomObject({
      ...ref,
      body: { ...manifest, metadata: { name, ...(annotations ? { annotations } : {}) } },
    });
  };
  for (let i = 0; i < PROCESSES; i += 16) await Promise.all(Array.from({ length: Math.min(16, PROCESSES - i) }, (_, k) => make(i + k)));
  const kubectlMade = processFixture('lobby-cam');
  await custom.createNamespacedCustomObject({
    ...ref,
    body: { ...kubectlMade, metadata: { name: 'lobby-cam', annotations: { [CORE_ID_ANNOTATION]: 'restreamer-ui:ingest:lobby' } } },
  });

  const app = createCoreApi({
    kube: makeKube(kc),
    namespace: ns,
    credentials: { username: 'admin', password: 'bench' },
    tokens: { secret: Buffer.from('a bench key of at least thirty-two bytes') },
    clock: systemClock,
    log: pino({ level: 'warn' }),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'bench' }),
  });
  const { access_token: token } = (await login.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  /** Median milliseconds of RUNS requests; each must answer `status`. */
  const median = async (status: number, request: (run: number) => Promise<Response>): Promise<number> => {
    const times: number[] = [];
    await (await request(RUNS)).arrayBuffer(); // one untimed warm-up
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      const rsp = await request(run);
      await rsp.arrayBuffer();
      times.push(performance.now() - started);
      if (rsp.status !== status) throw new Error(`answered ${rsp.status}, expected ${status}`);
    }
    times.sort((a, b) => a - b);
    return Math.round(times[Math.floor(times.length / 2)]! * 10) / 10;
  };
  const state = (id: string) => () => fetch(`${base}/api/v3/process/${encodeURIComponent(id)}/state`, { headers });
  const body = (id: string) =>
    JSON.stringify({
      id,
      input: [{ id: 'in', address: 'testsrc2', options: ['-f', 'lavfi'] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
    });

  const figures: [string, number][] = [
    ['core_api_state_by_ui_id_ms', await median(200, state(uiId(1)))],
    ['core_api_state_by_name_id_ms', await median(200, state('plain-0'))],
    ['core_api_state_unknown_id_ms', await median(404, state('restreamer-ui:ingest:nobody'))],
    ['core_api_state_kubectl_named_ms', await median(200, state('restreamer-ui:ingest:lobby'))],
    [
      'core_api_create_ui_id_ms',
      await median(200, (run) =>
        fetch(`${base}/api/v3/process`, { method: 'POST', headers, body: body(`restreamer-ui:egress:rtmp:bench-${run}`) }),
      ),
    ],
    ['core_api_list_ms', await median(200, () => fetch(`${base}/api/v3/process?filter=state`, { headers }))],
  ];
  console.log(JSON.stringify({ name: 'core_api_processes_in_namespace', value: PROCESSES + 1, unit: 'count' }));
  for (const [name, value] of figures) console.log(JSON.stringify({ name, value, unit: 'ms' }));
  server.close();
} finally {
  await cp.stop();
}
