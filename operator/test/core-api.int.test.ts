/**
 * Core's REST API v3 against the real API server and a real operator (the test plays the
 * kubelet): login, every process endpoint and command, every error code, kubectl and the API
 * seeing the same objects, and GitOps safety (a field another manager owns is never overwritten).
 * Every answer is parsed with the strict Core shapes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANNOTATIONS, type ProcessSpec } from '@corecast/api';
import { kubectl } from '@corecast/testkit/kube-tools';
import { process as processFixture, withSpec } from '../../api/test/fixtures/processes.ts';
import { AboutOut, ConfigOut, ErrorOut, JwtOut, JwtRefreshOut, ProcessOut, ReportOut, StateOut } from '../src/core-api/schemas.ts';
import { API_FIELD_MANAGER } from '../src/core-api/store.ts';
import { METADATA_ANNOTATION, type ProcessObject } from '../src/core-api/view.ts';
import { makeKube } from '../src/kube/client.ts';
import type { Operator } from '../src/operator.ts';
import {
  type Cluster,
  createProcess,
  deleteProcess,
  getCluster,
  getPod,
  getProcess,
  namespace,
  patchProcess,
  runningStatus,
  setPodStatus,
  startOperator,
  waitForNoPod,
  waitForPod,
  eventually,
} from './helpers/cluster.ts';
import { serveCoreApi } from './helpers/core-api.ts';

const SECRET = Buffer.from('core-api-integration-test-key-0123456789');

let c: Cluster;
let ns: string;
let op: Operator;
let server: Server;
let base: string;
let token: string;
/** Runs once right before the API's next server-side apply reaches the API server. */
let beforeApply: (() => Promise<void>) | undefined;

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** One request to the API; `auth` false sends no token, a string sends that one. */
async function api(method: string, path: string, opts: { body?: unknown; raw?: string; auth?: boolean | string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const bearer = opts.auth === false ? undefined : typeof opts.auth === 'string' ? opts.auth : token;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const rsp = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await rsp.text();
  return { status: rsp.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: rsp.headers };
}

/** Asserts an error answer in Core's shape; returns its details joined. */
function error(a: Answer, status: number): string {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const e = ErrorOut.parse(a.body);
  assert.equal(e.code, status);
  return [e.message, ...e.details].join('\n');
}

/** A Process as read back, with the fields these tests look at. */
async function read(name: string): Promise<{ metadata: ProcessObject['metadata']; spec: ProcessSpec }> {
  return (await getProcess(c, ns, name)) as unknown as { metadata: ProcessObject['metadata']; spec: ProcessSpec };
}

/** A Core config as a client sends it. */
function config(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    type: 'ffmpeg',
    reference: 'itest',
    input: [{ id: 'in', address: 'testsrc2=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'], cleanup: [] }],
    output: [{ id: 'out', address: '-', options: ['-f', 'null'], cleanup: [] }],
    options: ['-loglevel', 'info'],
    reconnect: true,
    reconnect_delay_seconds: 5,
    autostart: true,
    ...over,
  };
}

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'core-api');
  op = await startOperator(c, [ns]);
  ({ server, base } = await serveCoreApi({
    kube: makeKube(c.kc, [
      {
        async before(req) {
          if (req.getHttpMethod() !== 'PATCH' || !String(req.getHeaders()['Content-Type']).includes('apply-patch')) return;
          const run = beforeApply;
          beforeApply = undefined;
          await run?.();
        },
      },
    ]),
    namespace: ns,
    credentials: { username: 'admin', password: 'secret-pass' },
    tokens: { secret: SECRET },
  }));
});

after(async () => {
  server?.close();
  await op?.stop();
});

describe('login and about', () => {
  test('login → tokens; wrong password 403; malformed 400; refresh by GET and POST', async () => {
    error(await api('POST', '/api/login', { body: { username: 'admin', password: 'nope' }, auth: false }), 403);
    assert.match(error(await api('POST', '/api/login', { body: { username: 'admin' }, auth: false }), 400), /username and password/);
    error(await api('POST', '/api/login', { raw: '{not json', auth: false }), 400);
    const login = await api('POST', '/api/login', { body: { username: 'admin', password: 'secret-pass' }, auth: false });
    assert.equal(login.status, 200);
    const pair = JwtOut.parse(login.body);
    token = pair.access_token;
    for (const method of ['GET', 'POST']) {
      const r = await api(method, '/api/login/refresh', { auth: pair.refresh_token });
      assert.equal(r.status, 200);
      JwtRefreshOut.parse(r.body);
    }
    error(await api('GET', '/api/login/refresh', { auth: pair.access_token }), 401);
    error(await api('GET', '/api/login/refresh', { auth: false }), 401);
  });

  test('GET /api: the name only without a token, everything with one', async () => {
    const anon = AboutOut.parse((await api('GET', '/api', { auth: false })).body);
    assert.equal(anon.name, `corecast/${ns}`);
    assert.equal(anon.version.number, '');
    assert.deepEqual(anon.auths, ['localjwt']);
    const full = AboutOut.parse((await api('GET', '/api')).body);
    assert.equal(full.version.number, '16.7.2');
    assert.equal(full.id, `corecast-${ns}`);
  });

  test('401 without a token, with a garbled one, and with a refresh token', async () => {
    const none = await api('GET', '/api/v3/process', { auth: false });
    error(none, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="corecast"');
    error(await api('GET', '/api/v3/process', { auth: 'not.a.token' }), 401);
    const login = await api('POST', '/api/login', { body: { username: 'admin', password: 'secret-pass' }, auth: false });
    error(await api('GET', '/api/v3/process', { auth: JwtOut.parse(login.body).refresh_token }), 401);
  });

  test('CORS: a preflight is answered without a token; answers carry the allowed origin', async () => {
    const pre = await fetch(`${base}/api/v3/process`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://ui.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const anon = await fetch(`${base}/api/v3/process`, { headers: { Origin: 'https://ui.example' } });
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('access-control-allow-origin'), '*', 'the page can read the 401 and show a login');
  });

  test('an unknown endpoint is a 404, a wrong method a 405, both in Core error shape', async () => {
    error(await api('GET', '/api/v3/nothing-here'), 404);
    const wrongMethod = await api('PATCH', '/api/v3/process');
    error(wrongMethod, 405);
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
  });
});

describe('processes', () => {
  test('create with WebRTC on → the Process exists, applied by the API field manager, its pods are built; create again → 409', async () => {
    const r = await api('POST', '/api/v3/process', { body: config('made-by-api', { webrtc: { enabled: true, force_transcode: true } }) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const answered = ConfigOut.parse(r.body);
    assert.equal(answered.reconnect_delay_seconds, 5);
    const p = await read('made-by-api');
    assert.equal(p.spec.reference, 'itest');
    assert.deepEqual(p.spec.options, ['-loglevel', 'info']);
    const managers = p.metadata.managedFields ?? [];
    assert.ok(
      managers.some((m) => m.manager === API_FIELD_MANAGER && m.operation === 'Apply'),
      JSON.stringify(managers),
    );
    assert.match(error(await api('POST', '/api/v3/process', { body: config('made-by-api') }), 409), /already exists/);
    assert.deepEqual(p.spec.webrtc, { enabled: true, forceTranscode: true, videoPayloadType: 102, audioPayloadType: 111, maxViewers: 8 });
    assert.equal(answered.webrtc.enabled, true);
    await waitForPod(c, ns, 'made-by-api-ffmpeg');
    await waitForPod(c, ns, 'made-by-api-egress');
  });

  test('400 naming the field: refused, mistyped and out-of-range fields; 413 for a huge body', async () => {
    assert.match(
      error(await api('POST', '/api/v3/process', { body: config('bad', { scheduler: '@hourly' }) }), 400),
      /^scheduler: not carried/m,
    );
    assert.match(error(await api('POST', '/api/v3/process', { body: config('bad', { autostart: 'yes' }) }), 400), /^autostart: /m);
    assert.match(error(await api('POST', '/api/v3/process', { body: config(' ') }), 400), /^id: " " is not a usable process id: an empty/m);
    assert.match(
      error(await api('POST', '/api/v3/process', { body: config('bad', { stale_timeout_seconds: 100000 }) }), 400),
      /^stale_timeout_seconds: Too big/m,
    );
    error(await api('POST', '/api/v3/process', { raw: 'x'.repeat(2 << 20) }), 413);
    await assert.rejects(getProcess(c, ns, 'bad'));
  });

  test('a Process made with kubectl is in the API list, and one made by the API is in kubectl get', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'core-api-'));
    const file = join(dir, 'p.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...processFixture('made-by-kubectl', withSpec({ reference: 'other' })),
        metadata: { name: 'made-by-kubectl', namespace: ns },
      }),
    );
    await kubectl(c.cp.kubeconfigPath, ['apply', '-f', file]);
    const list = (await api('GET', '/api/v3/process')).body as unknown[];
    const ids = list.map((x) => ProcessOut.parse(x).id);
    assert.ok(ids.includes('made-by-kubectl') && ids.includes('made-by-api'), ids.join());
    const table = await kubectl(c.cp.kubeconfigPath, ['get', 'proc', '-n', ns, '-o', 'name']);
    assert.match(table, /process\.corecast\.dev\/made-by-api/);
    const kubectlConfig = ConfigOut.parse((await api('GET', '/api/v3/process/made-by-kubectl/config')).body);
    assert.equal(kubectlConfig.reference, 'other');
    assert.equal(kubectlConfig.input[0]?.address, 'testsrc2=size=320x240:rate=25');
  });

  test('list parameters: reference, id (wins over reference), filter', async () => {
    const byRef = ((await api('GET', '/api/v3/process?reference=other')).body as unknown[]).map((x) => ProcessOut.parse(x).id);
    assert.deepEqual(byRef, ['made-by-kubectl']);
    const byId = ((await api('GET', '/api/v3/process?id=made-by-api&reference=other')).body as unknown[]).map(
      (x) => ProcessOut.parse(x).id,
    );
    assert.deepEqual(byId, ['made-by-api']);
    const filtered = (await api('GET', '/api/v3/process?filter=state&id=made-by-api')).body as Record<string, unknown>[];
    assert.deepEqual(Object.keys(filtered[0] ?? {}).sort(), ['created_at', 'id', 'reference', 'state', 'type']);
    const one = ProcessOut.parse((await api('GET', '/api/v3/process/made-by-api?filter=config')).body);
    assert.equal(one.config?.id, 'made-by-api');
    assert.equal(one.state, undefined);
  });

  test("a Process made with kubectl: fields it left at their defaults are the API's to change, fields it set are not", async () => {
    const stop = await api('PUT', '/api/v3/process/made-by-kubectl/command', { body: { command: 'stop' } });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assert.equal((await read('made-by-kubectl')).spec.order, 'stop');
    const kubectlIo = { input: processFixture('x').spec.input, output: processFixture('x').spec.output, options: undefined };
    const same = config('made-by-kubectl', { ...kubectlIo, reference: 'other', reconnect_delay_seconds: 5 });
    const r = await api('PUT', '/api/v3/process/made-by-kubectl', { body: same });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await read('made-by-kubectl')).spec.reconnectDelaySeconds, 5, 'was at its default: the API may set it');
    const clash = error(await api('PUT', '/api/v3/process/made-by-kubectl', { body: { ...same, reference: 'mine' } }), 409);
    assert.match(clash, /^\.spec\.reference: managed by "kubectl-client-side-apply"$/m);
    assert.equal((await read('made-by-kubectl')).spec.reference, 'other');

    // Handing the Process over: clear the managers, and the API's next replace owns what it sends.
    await patchProcess(c, ns, 'made-by-kubectl', { metadata: { managedFields: [{}] } });
    const mine = await api('PUT', '/api/v3/process/made-by-kubectl', { body: { ...same, reference: 'mine' } });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal((await read('made-by-kubectl')).spec.reference, 'mine');
  });

  test('state and report follow the status the operator writes', async () => {
    await setPodStatus(c, ns, 'made-by-api-ffmpeg', runningStatus('ffmpeg'));
    const state = await eventually('state running', async () => {
      const s = StateOut.parse((await api('GET', '/api/v3/process/made-by-api/state')).body);
      return s.exec === 'running' ? s : undefined;
    });
    assert.equal(state.order, 'start');
    assert.equal(state.command[0], '-nostdin');
    assert.ok(state.command.includes('testsrc2=size=320x240:rate=25'));
    const report = ReportOut.parse((await api('GET', '/api/v3/process/made-by-api/report')).body);
    assert.ok(report.created_at > 0);
    assert.equal(report.exit_state, '');
  });

  test('replace: the config changes; a field left out goes back to its default; 404 and 400 cases', async () => {
    const r = await api('PUT', '/api/v3/process/made-by-api', {
      body: config('made-by-api', { reference: 'changed', reconnect_delay_seconds: undefined }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = await read('made-by-api');
    assert.equal(p.spec.reference, 'changed');
    assert.equal(p.spec.reconnectDelaySeconds, 15, 'given up by the API → the default');
    error(await api('PUT', '/api/v3/process/nobody', { body: config('nobody') }), 404);
    error(await api('GET', '/api/v3/process/..%2F..%2Fsecrets'), 404);
    error(await api('GET', '/api/v3/process/restreamer-ui:ingest:1/state'), 404);
    assert.match(error(await api('PUT', '/api/v3/process/made-by-api', { body: config('renamed') }), 400), /cannot be renamed/);
  });

  test('every command: stop, start, restart and reload, acted on by the operator', async () => {
    const cmd = (command: string, id = 'made-by-api') => api('PUT', `/api/v3/process/${id}/command`, { body: { command } });
    const stop = await cmd('stop');
    assert.equal(stop.status, 200);
    assert.equal(stop.body, 'OK');
    assert.equal((await read('made-by-api')).spec.order, 'stop');
    await waitForNoPod(c, ns, 'made-by-api-ffmpeg');
    assert.equal(StateOut.parse((await api('GET', '/api/v3/process/made-by-api/state')).body).order, 'stop');
    assert.equal((await cmd('start')).status, 200);
    const pod = await waitForPod(c, ns, 'made-by-api-ffmpeg');
    assert.equal((await cmd('restart')).status, 200);
    const token1 = (await read('made-by-api')).metadata.annotations?.[ANNOTATIONS.restart];
    assert.ok(token1);
    const restarted = await waitForPod(c, ns, 'made-by-api-ffmpeg', pod.metadata?.uid);
    assert.equal(restarted.metadata?.annotations?.[ANNOTATIONS.restartedFor], token1);
    assert.equal((await cmd('reload')).status, 200);
    const reloadToken = (await read('made-by-api')).metadata.annotations?.[ANNOTATIONS.reload];
    assert.ok(reloadToken);
    await eventually('pod rebuilt for the reload', async () => {
      const p = await getPod(c, ns, 'made-by-api-ffmpeg');
      return p?.metadata?.annotations?.[ANNOTATIONS.reloadedFor] === reloadToken;
    });
    assert.match(error(await cmd('pause'), 400), /^command: /m);
    error(await cmd('start', 'nobody'), 404);
  });

  test('metadata: put, get one, get all, null removes, unknown key 404; kept in an annotation', async () => {
    const put = await api('PUT', '/api/v3/process/made-by-api/metadata/restreamer-ui', { body: { name: 'Lobby', n: 2 } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { name: 'Lobby', n: 2 });
    await api('PUT', '/api/v3/process/made-by-api/metadata/other', { body: 'x' });
    assert.deepEqual((await api('GET', '/api/v3/process/made-by-api/metadata/restreamer-ui')).body, { name: 'Lobby', n: 2 });
    assert.deepEqual((await api('GET', '/api/v3/process/made-by-api/metadata')).body, {
      'restreamer-ui': { name: 'Lobby', n: 2 },
      other: 'x',
    });
    const all = { 'restreamer-ui': { name: 'Lobby', n: 2 }, other: 'x' };
    assert.deepEqual((await api('GET', '/api/v3/process/made-by-api/metadata/')).body, all, 'an empty key: every key');
    const stored = (await read('made-by-api')).metadata.annotations?.[METADATA_ANNOTATION];
    assert.deepEqual(JSON.parse(stored ?? '{}'), { 'restreamer-ui': { name: 'Lobby', n: 2 }, other: 'x' });
    assert.equal((await api('PUT', '/api/v3/process/made-by-api/metadata/other', { raw: 'null' })).status, 200);
    error(await api('GET', '/api/v3/process/made-by-api/metadata/other'), 404);
    const listed = ProcessOut.parse((await api('GET', '/api/v3/process/made-by-api?filter=metadata')).body);
    assert.deepEqual(listed.metadata, { 'restreamer-ui': { name: 'Lobby', n: 2 } });
    error(await api('GET', '/api/v3/process/nobody/metadata/x'), 404);
    error(await api('PUT', '/api/v3/process/nobody/metadata/x', { body: 1 }), 404);
  });

  test('delete → gone; again → 404; get, config, state and report of it → 404', async () => {
    const del = await api('DELETE', '/api/v3/process/made-by-api');
    assert.equal(del.status, 200);
    assert.equal(del.body, 'OK');
    await assert.rejects(getProcess(c, ns, 'made-by-api'));
    error(await api('DELETE', '/api/v3/process/made-by-api'), 404);
    for (const part of ['', '/config', '/state', '/report']) error(await api('GET', `/api/v3/process/made-by-api${part}`), 404);
  });
});

describe('GitOps safety', () => {
  test('fields another manager applied are kept, and never overwritten with another value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'core-api-'));
    const file = join(dir, 'p.json');
    const manifest = processFixture('gitops', withSpec({ reconnectDelaySeconds: 7, order: 'start', webrtc: { enabled: true } }));
    writeFileSync(file, JSON.stringify({ ...manifest, metadata: { name: 'gitops', namespace: ns, labels: { team: 'video' } } }));
    await kubectl(c.cp.kubeconfigPath, ['apply', '--server-side', '--field-manager=flux', '-f', file]);

    // The API's config sets the same reconnect delay (shared ownership), another reference, no webrtc.
    const same = config('gitops', { reference: 'ui', reconnect_delay_seconds: 7 });
    const clashOnInput = error(await api('PUT', '/api/v3/process/gitops', { body: same }), 409);
    assert.match(clashOnInput, /\.spec\.input/, 'the inputs differ from the ones flux applied');
    const fluxIo = { input: manifest.spec.input, output: manifest.spec.output };
    const shared = await api('PUT', '/api/v3/process/gitops', { body: { ...same, ...fluxIo } });
    assert.equal(shared.status, 200, JSON.stringify(shared.body));
    let p = await read('gitops');
    assert.equal(p.spec.reference, 'ui');
    assert.equal(p.spec.webrtc?.enabled, true, 'webrtc, set by flux only, is untouched');
    assert.equal(p.metadata.labels?.team, 'video');

    // Another value for a field flux owns: 409 naming it; nothing changes.
    const before = { generation: p.metadata.generation, spec: p.spec };
    const clash = error(await api('PUT', '/api/v3/process/gitops', { body: { ...same, ...fluxIo, reconnect_delay_seconds: 9 } }), 409);
    assert.match(clash, /^\.spec\.reconnectDelaySeconds: managed by "flux"$/m);
    const stop = error(await api('PUT', '/api/v3/process/gitops/command', { body: { command: 'stop' } }), 409);
    assert.match(stop, /spec\.order is managed by flux/);
    p = await read('gitops');
    assert.deepEqual({ generation: p.metadata.generation, spec: p.spec }, before, 'the spec is untouched');
    assert.equal(p.spec.reconnectDelaySeconds, 7);
    assert.equal(p.spec.order, 'start');

    // A command that asks for the value flux already set changes nothing and succeeds.
    assert.equal((await api('PUT', '/api/v3/process/gitops/command', { body: { command: 'start' } })).status, 200);

    // And flux applying again still owns its fields: no conflict from the API's share.
    await kubectl(c.cp.kubeconfigPath, ['apply', '--server-side', '--field-manager=flux', '-f', file]);
    p = await read('gitops');
    assert.equal(p.spec.reference, 'ui', "the API's own field stays");
  });

  test('a replace meeting a delete does not bring the Process back', async () => {
    await createProcess(c, ns, processFixture('vanishing'));
    beforeApply = () => deleteProcess(c, ns, 'vanishing');
    const r = await api('PUT', '/api/v3/process/vanishing', { body: config('vanishing') });
    assert.equal(beforeApply, undefined, 'the delete ran between the read and the apply');
    error(r, 404);
    await assert.rejects(getProcess(c, ns, 'vanishing'));
  });

  test('a create meeting a kubectl create of the same id takes none of its fields (409)', async () => {
    beforeApply = () => createProcess(c, ns, processFixture('raced', withSpec({ reconnectDelaySeconds: 3 })));
    const clash = error(await api('POST', '/api/v3/process', { body: config('raced') }), 409);
    assert.equal(beforeApply, undefined, 'the kubectl create ran between the check and the apply');
    assert.match(clash, /\.spec\.reconnectDelaySeconds/);
    const p = await read('raced');
    assert.equal(p.spec.reconnectDelaySeconds, 3);
    assert.equal(p.spec.reference, undefined);
  });

  test('creating an id kubectl already made is a 409, and its fields stay as kubectl set them', async () => {
    await createProcess(c, ns, processFixture('taken', withSpec({ reconnectDelaySeconds: 3 })));
    error(await api('POST', '/api/v3/process', { body: config('taken') }), 409);
    assert.equal((await read('taken')).spec.reconnectDelaySeconds, 3);
  });
});
