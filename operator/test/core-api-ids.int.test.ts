/**
 * Core ids that are not Kubernetes names, against the real API server: a process created with
 * one of Core UI's ids becomes a Process with the mapped name and the id in its annotation, and
 * every endpoint answers and is addressed by the id; a Process kubectl made under any name with
 * the annotation joins under its id; ids that slug alike stay apart; ids Core refuses are
 * refused. And the WHEP path: Core UI's `/api/v3/process/<id>/whep`, behind a loopback stand-in
 * for the ingest router (the egress's own paths to the egress, the rest of `/api` to the API),
 * plays in a real werift viewer fed by a real FFmpeg, with the token from `/api/login`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANNOTATIONS } from '@corecast/api';
import { kubectl } from '@corecast/testkit/kube-tools';
import type { FfmpegRun } from '@corecast/testkit/ffmpeg';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import { chromiumInstalled, launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import type { PlayerStatus } from '../../egress-pod/src/player/client.ts';
import { type Egress, resolveConfig, startEgress } from '../../egress-pod/src/index.ts';
import { feed, testConfig } from '../../egress-pod/test/helpers.ts';
import { process as processFixture } from '../../api/test/fixtures/processes.ts';
import { CORE_ID_ANNOTATION, processNameFor } from '../src/core-api/ids.ts';
import { ConfigOut, ErrorOut, JwtOut, ProcessOut, StateOut } from '../src/core-api/schemas.ts';
import { METADATA_ANNOTATION } from '../src/core-api/view.ts';
import { makeKube } from '../src/kube/client.ts';
import { type Cluster, getCluster, getProcess, namespace } from './helpers/cluster.ts';
import { serveCoreApi } from './helpers/core-api.ts';

const SECRET = 'core-api-ids-integration-test-key-0123456789';
const UI_ID = 'restreamer-ui:ingest:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6';
const EGRESS_ID = 'restreamer-ui:egress:rtmp:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6';

let c: Cluster;
let ns: string;
let server: Server;
let base: string;
let token: string;

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

async function api(method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const rsp = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await rsp.text();
  return { status: rsp.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: rsp.headers };
}

function error(a: Answer, status: number): string {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const e = ErrorOut.parse(a.body);
  return [e.message, ...e.details].join('\n');
}

/** The URL path of a process endpoint, the id encoded as Core UI encodes it. */
const at = (id: string, rest = '') => `/api/v3/process/${encodeURIComponent(id)}${rest}`;

function config(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    type: 'ffmpeg',
    reference: 'ui-channel',
    input: [{ id: 'in', address: 'testsrc2=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'], cleanup: [] }],
    output: [{ id: 'out', address: '-', options: ['-f', 'null'], cleanup: [] }],
    options: [],
    autostart: false,
    ...over,
  };
}

interface Stored {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { order?: string; reference?: string; reconnectDelaySeconds?: number };
}
const read = async (name: string) => (await getProcess(c, ns, name)) as unknown as Stored;

before(async () => {
  c = await getCluster();
  ns = await namespace(c, 'core-ids');
  ({ server, base } = await serveCoreApi({
    kube: makeKube(c.kc),
    namespace: ns,
    credentials: { username: 'admin', password: 'secret-pass' },
    tokens: { secret: Buffer.from(SECRET) },
  }));
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'secret-pass' }),
  });
  token = JwtOut.parse(await login.json()).access_token;
});

after(() => {
  server?.close();
});

describe("Core UI's ids", () => {
  const name = processNameFor(UI_ID);

  test('create → the Process has the mapped name and the id in its annotation; the answer shows the id', async () => {
    const r = await api('POST', '/api/v3/process', config(UI_ID));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(ConfigOut.parse(r.body).id, UI_ID);
    assert.match(name, /^restreamer-ui-ingest-4186b095-/);
    const p = await read(name);
    assert.equal(p.metadata.annotations?.[CORE_ID_ANNOTATION], UI_ID);
    assert.match(error(await api('POST', '/api/v3/process', config(UI_ID)), 409), /already exists/);
  });

  test('get, config, state, report and the list all by the id; the name is no id', async () => {
    const one = ProcessOut.parse((await api('GET', at(UI_ID))).body);
    assert.equal(one.id, UI_ID);
    assert.equal(one.config?.id, UI_ID);
    assert.equal(ConfigOut.parse((await api('GET', at(UI_ID, '/config'))).body).id, UI_ID);
    assert.equal(StateOut.parse((await api('GET', at(UI_ID, '/state'))).body).exec, 'finished');
    assert.equal((await api('GET', at(UI_ID, '/report'))).status, 200);
    const ids = async (q: string) => ((await api('GET', `/api/v3/process?${q}`)).body as unknown[]).map((x) => ProcessOut.parse(x).id);
    assert.deepEqual(await ids(`id=${encodeURIComponent(`${UI_ID},nobody`)}`), [UI_ID]);
    assert.deepEqual(await ids('reference=ui-channel'), [UI_ID]);
    assert.deepEqual(await ids(`idpattern=${encodeURIComponent('restreamer-ui:ingest:*')}`), [UI_ID]);
    assert.deepEqual(await ids(`id=${name}`), [], 'the name is not the id');
    error(await api('GET', at(name)), 404);
  });

  test('replace, command and metadata by the id act on the mapped Process; the annotation stays', async () => {
    const replaced = await api('PUT', at(UI_ID), config(UI_ID, { reconnect_delay_seconds: 9 }));
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(ConfigOut.parse(replaced.body).id, UI_ID);
    assert.equal((await read(name)).spec.reconnectDelaySeconds, 9);
    assert.equal((await read(name)).metadata.annotations?.[CORE_ID_ANNOTATION], UI_ID, 'kept through the replace');
    assert.match(error(await api('PUT', at(UI_ID), config('restreamer-ui:ingest:other')), 400), /cannot be renamed/);

    assert.equal((await api('PUT', at(UI_ID, '/command'), { command: 'start' })).status, 200);
    assert.equal((await read(name)).spec.order, 'start');
    assert.equal((await api('PUT', at(UI_ID, '/command'), { command: 'restart' })).status, 200);
    assert.ok((await read(name)).metadata.annotations?.[ANNOTATIONS.restart]);

    const meta = await api('PUT', at(UI_ID, '/metadata/restreamer-ui'), { meta: { name: 'Lobby' } });
    assert.equal(meta.status, 200);
    assert.deepEqual((await api('GET', at(UI_ID, '/metadata/restreamer-ui'))).body, { meta: { name: 'Lobby' } });
    assert.deepEqual(JSON.parse((await read(name)).metadata.annotations?.[METADATA_ANNOTATION] ?? '{}'), {
      'restreamer-ui': { meta: { name: 'Lobby' } },
    });
  });

  test('two ids that slug alike are two Processes with different names', async () => {
    const twin = 'restreamer-ui_ingest_4186b095-7f0a-4e94-8c3a-f17d6be4a6d6';
    assert.equal((await api('POST', '/api/v3/process', config(twin, { reference: 'twin' }))).status, 200);
    assert.notEqual(processNameFor(twin), name);
    assert.equal((await read(processNameFor(twin))).metadata.annotations?.[CORE_ID_ANNOTATION], twin);
    assert.equal(ProcessOut.parse((await api('GET', at(twin))).body).reference, 'twin');
    assert.equal(ProcessOut.parse((await api('GET', at(UI_ID))).body).reference, 'ui-channel');
  });

  test('ids Core refuses: 400 naming id, nothing created', async () => {
    assert.match(error(await api('POST', '/api/v3/process', config('   ')), 400), /^id: " {3}" is not a usable process id: an empty/m);
    assert.match(error(await api('POST', '/api/v3/process', config('x'.repeat(1025))), 400), /^id: .* at most 1024 characters$/m);
  });

  test('delete by the id → gone; again 404', async () => {
    assert.equal((await api('DELETE', at(UI_ID))).status, 200);
    await assert.rejects(getProcess(c, ns, name));
    error(await api('DELETE', at(UI_ID)), 404);
    error(await api('GET', at(UI_ID, '/state')), 404);
  });
});

describe('a Process kubectl made with the annotation', () => {
  const kubectlId = 'restreamer-ui:ingest:made-by-kubectl';

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'core-ids-'));
    const file = join(dir, 'p.json');
    const manifest = processFixture('lobby-cam');
    writeFileSync(
      file,
      JSON.stringify({ ...manifest, metadata: { name: 'lobby-cam', namespace: ns, annotations: { [CORE_ID_ANNOTATION]: kubectlId } } }),
    );
    await kubectl(c.cp.kubeconfigPath, ['create', '-f', file]);
  });

  test('is listed and found under its Core id, whatever its name', async () => {
    const list = ((await api('GET', '/api/v3/process')).body as unknown[]).map((x) => ProcessOut.parse(x).id);
    assert.ok(list.includes(kubectlId), list.join());
    assert.ok(!list.includes('lobby-cam'));
    assert.equal(ProcessOut.parse((await api('GET', at(kubectlId))).body).id, kubectlId);
    assert.equal((await api('PUT', at(kubectlId, '/command'), { command: 'stop' })).status, 200);
    assert.equal((await read('lobby-cam')).spec.order, 'stop');
  });

  test('a replace writes that Process (not the mapped name) and keeps its annotation', async () => {
    const kubectlIo = {
      input: processFixture('x').spec.input,
      output: processFixture('x').spec.output,
      options: undefined,
      reference: undefined,
    };
    const r = await api('PUT', at(kubectlId), config(kubectlId, { ...kubectlIo, reconnect_delay_seconds: 4 }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await read('lobby-cam')).spec.reconnectDelaySeconds, 4);
    assert.equal((await read('lobby-cam')).metadata.annotations?.[CORE_ID_ANNOTATION], kubectlId);
    await assert.rejects(getProcess(c, ns, processNameFor(kubectlId)));
  });

  test('creating its id through the API is a 409; so is an id whose name it holds', async () => {
    assert.match(error(await api('POST', '/api/v3/process', config(kubectlId)), 409), /already exists/);
    assert.match(error(await api('POST', '/api/v3/process', config('lobby-cam')), 409), /name is taken/);
  });

  test('its WHEP path, with a token, points at its own name', async () => {
    const rsp = await fetch(`${base}${at(kubectlId, '/whep')}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
      body: 'v=0',
    });
    assert.equal(rsp.status, 307);
    assert.equal(rsp.headers.get('location'), '/api/v3/process/lobby-cam/whep');
  });
});

describe("Core UI's WHEP path plays", { timeout: 180000 }, () => {
  const name = processNameFor(EGRESS_ID);
  let egress: Egress;
  let ffmpeg: FfmpegRun;
  let front: Server;
  let frontUrl: string;
  const viewers: WhepTestClient[] = [];
  /** Every request the stand-in router passed on: method and path. */
  const seen: string[] = [];

  before(async () => {
    const created = await api('POST', '/api/v3/process', config(EGRESS_ID, { webrtc: { enabled: true } }));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const cfg = testConfig({
      namespace: ns,
      auth: { mode: 'hs256' },
      streams: [{ processId: name, video: { port: 0 }, audio: { port: 0 } }],
    });
    egress = await startEgress(resolveConfig(cfg, { CORECAST_JWT_SECRET: SECRET }), { defaultMetrics: false });
    ffmpeg = await feed(egress, name, { size: '160x120', rate: 10, audio: false });
    // The ingress, as the chart routes it: the Process's own path prefix to its egress pod, the
    // rest of /api to the Core API.
    const egressPrefix = `/api/v3/process/${name}/whep`;
    front = createServer((req, rsp) => {
      const path = req.url ?? '/';
      seen.push(`${req.method} ${path.split('?')[0]}`);
      const target = new URL(
        path === egressPrefix || path.startsWith(`${egressPrefix}/`) || path.startsWith(`${egressPrefix}?`) ? egress.url : base,
      );
      const out = request({ host: target.hostname, port: target.port, method: req.method, path, headers: req.headers }, (answer) => {
        rsp.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(rsp);
      });
      out.on('error', () => rsp.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });

  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    front?.closeAllConnections();
    front?.close();
    await ffmpeg?.kill();
    await egress?.stop();
  });

  test('a WHEP POST to /api/v3/process/<Core id>/whep with the login token: followed to the egress, 201 and video', async () => {
    const viewer = new WhepTestClient({ token });
    viewers.push(viewer);
    const rsp = await viewer.post(`${frontUrl}${at(EGRESS_ID, '/whep')}`);
    assert.equal(rsp.status, 201, await rsp.clone().text());
    assert.equal(new URL(rsp.url).pathname, `/api/v3/process/${name}/whep`, 'answered by the egress path');
    assert.match(viewer.location ?? '', new RegExp(`/api/v3/process/${name}/whep/[^/]+$`), 'the session lives under the name');
    await viewer.connected();
    await waitUntil(() => viewer.received.video.length > 10, 30000, 'video packets at the viewer');
    assert.equal((await viewer.delete()).status, 200, 'the session URL reaches the egress directly');
  });

  test('the player page under the Core id, without a token: redirected to the egress player', async () => {
    const rsp = await fetch(`${frontUrl}${at(EGRESS_ID, '/whep/player')}`);
    assert.equal(rsp.status, 200);
    assert.match(rsp.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(new URL(rsp.url).pathname, `/api/v3/process/${name}/whep/player`);
  });

  describe('in Chromium', () => {
    let browser: TestBrowser;
    let ui: Server;

    before(async () => {
      if (!chromiumInstalled()) throw new Error('chromium is not installed (scripts/setup.sh test installs it)');
      browser = await launchChromium();
      // A page of another origin, as Core's UI is often served apart from the API.
      ui = createServer((_req, rsp) => rsp.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>ui</title>'));
      await new Promise<void>((resolve) => ui.listen(0, '127.0.0.1', resolve));
    });

    after(async () => {
      await browser?.close();
      ui?.close();
    });

    test('the player page opened under the Core id (token in the fragment) plays', async () => {
      const page = await browser.context.newPage();
      await page.goto(`${frontUrl}${at(EGRESS_ID, '/whep/player')}#token=${token}`);
      const status = () => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
      await waitUntil(async () => (await status()).framesDecoded > 10, 60000, 'frames decoded in the player');
      assert.equal(new URL(page.url()).pathname, `/api/v3/process/${name}/whep/player`);
      await page.close();
    });

    test("a page of another origin POSTs its offer to the Core id's WHEP path with the token: CORS and the redirect hold, frames decode", async () => {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${(ui.address() as AddressInfo).port}/`);
      seen.length = 0;
      const result = await page.evaluate(
        async ({ url, bearer }) => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise<void>((done) => {
            if (pc.iceGatheringState === 'complete') done();
            pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
          });
          const rsp = await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/sdp' },
            body: pc.localDescription!.sdp,
          });
          if (rsp.status !== 201) return { status: rsp.status, frames: 0, finalUrl: rsp.url, location: await rsp.text() };
          await pc.setRemoteDescription({ type: 'answer', sdp: await rsp.text() });
          const location = new URL(rsp.headers.get('location') ?? '', rsp.url).pathname;
          let frames = 0;
          for (let i = 0; i < 300 && frames <= 10; i++) {
            await new Promise((r) => setTimeout(r, 100));
            (await pc.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
              if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
            });
          }
          pc.close();
          return { status: rsp.status, frames, finalUrl: rsp.url, location };
        },
        { url: `${frontUrl}${at(EGRESS_ID, '/whep')}`, bearer: token },
      );
      assert.equal(result.status, 201, JSON.stringify(result));
      assert.equal(new URL(result.finalUrl).pathname, `/api/v3/process/${name}/whep`);
      assert.match(result.location, new RegExp(`^/api/v3/process/${name}/whep/[^/]+$`));
      assert.ok(result.frames > 10, JSON.stringify(result));
      // The preflight to the Core id's path (answered by the API), the POST (307), then a
      // second preflight and the POST again, on the egress path.
      const egressPath = `/api/v3/process/${name}/whep`;
      assert.deepEqual(seen.slice(0, 4), [
        `OPTIONS ${at(EGRESS_ID, '/whep')}`,
        `POST ${at(EGRESS_ID, '/whep')}`,
        `OPTIONS ${egressPath}`,
        `POST ${egressPath}`,
      ]);
      await page.close();
    });
  });
});
