/**
 * Core ids ↔ Process names: ids that are names map to themselves, every other id Core accepts
 * to a name the API server accepts (checked with the Process schema's own name rule), the same
 * name every time, different names for ids that differ only in what the slug drops; the id is
 * read back from the annotation. And the WHEP redirect of an id that is not a name, answered
 * without a token from the mapping alone.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { PROCESS_NAME_MAX, Process } from '@corecast/api';
import { KubeConfig } from '@kubernetes/client-node';
import {
  CORE_ID_ANNOTATION,
  CORE_ID_MAX,
  coreIdOf,
  coreIdProblem,
  idAnnotations,
  isProcessName,
  processNameFor,
} from '../src/core-api/ids.ts';
import { makeKube } from '../src/kube/client.ts';
import { serveCoreApi } from './helpers/core-api.ts';

/** Core UI's ids, as restreamer-ui makes them. */
const UI_IDS = [
  'restreamer-ui:ingest:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6',
  'restreamer-ui:ingest:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6_snapshot',
  'restreamer-ui:egress:rtmp:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6',
  'restreamer-ui:egress:youtube:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6',
];

/** Ids Core accepts that are no Process name, each an edge of the slug. */
const ODD_IDS = [
  'Bad_Id',
  'vytxeTZskVKR7C7WgdSP3d', // Core's generated shortuuid
  '123-starts-with-a-digit',
  ':::',
  '日本語のストリーム',
  'Café Crème',
  ' padded ',
  'a/b?c#d%20e',
  'x'.repeat(CORE_ID_MAX),
  'line\nbreak',
];

describe('Core id → Process name', () => {
  test('an id that is a Process name is its own name, with no annotation', () => {
    for (const id of ['demo', 'cam-1', 'a', `a${'b'.repeat(PROCESS_NAME_MAX - 1)}`]) {
      assert.equal(processNameFor(id), id);
      assert.equal(idAnnotations(id, processNameFor(id)), undefined);
    }
  });

  test('every other id Core accepts maps to a name the Process schema accepts, readable where the id is', () => {
    // The Process schema's own name rule, the one the CRD's CEL rule is generated from.
    const nameOk = (name: string) => Process.shape.metadata.safeParse({ name }).success;
    assert.equal(nameOk('restreamer-ui:x'), false, 'the rule refuses a colon');
    for (const id of [...UI_IDS, ...ODD_IDS, `a${'b'.repeat(PROCESS_NAME_MAX)}`]) {
      const name = processNameFor(id);
      assert.ok(isProcessName(name), `${JSON.stringify(id)} → ${name}`);
      assert.ok(nameOk(name), `the Process schema accepts ${name}`);
      assert.notEqual(name, id);
      assert.equal(processNameFor(id), name, 'the same name every time');
    }
    assert.match(processNameFor(UI_IDS[0]!), /^restreamer-ui-ingest-4186b095-7f0a-4e94-8c3a-[a-z2-7]{10}$/);
    assert.match(processNameFor('Café Crème'), /^cafe-creme-[a-z2-7]{10}$/);
    assert.match(processNameFor('123-starts-with-a-digit'), /^p-123-starts-with-a-digit-[a-z2-7]{10}$/);
    assert.match(processNameFor(':::'), /^p-[a-z2-7]{10}$/);
  });

  test('ids that slug alike get different names', () => {
    const alike = ['restreamer-ui:ingest:x', 'restreamer-ui_ingest_x', 'Restreamer-UI:Ingest:X', 'restreamer-ui::ingest::x'];
    const names = alike.map(processNameFor);
    assert.equal(new Set(names).size, alike.length, names.join('\n'));
    // Long ids that differ only past the cut: the hash still tells them apart.
    const long = (tail: string) => `restreamer-ui:egress:rtmp:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6:${tail}`;
    assert.notEqual(processNameFor(long('a')), processNameFor(long('b')));
  });

  test('ids Core refuses (empty, blank) and ids over the length cap are refused, naming why', () => {
    assert.match(coreIdProblem('') ?? '', /empty/);
    assert.match(coreIdProblem(' \t\n') ?? '', /empty/);
    assert.match(coreIdProblem('x'.repeat(CORE_ID_MAX + 1)) ?? '', new RegExp(`at most ${CORE_ID_MAX}`));
    for (const id of [...UI_IDS, ...ODD_IDS]) assert.equal(coreIdProblem(id), undefined, id);
  });
});

describe('Process → Core id', () => {
  const named = (name: string, annotations?: Record<string, string>) => ({ metadata: { name, ...(annotations ? { annotations } : {}) } });

  test('the annotation when it holds a usable id, else the name', () => {
    for (const id of UI_IDS) {
      const name = processNameFor(id);
      assert.equal(coreIdOf(named(name, idAnnotations(id, name))), id, 'round trip');
    }
    assert.equal(coreIdOf(named('demo')), 'demo');
    assert.equal(coreIdOf(named('my-stream', { [CORE_ID_ANNOTATION]: 'restreamer-ui:ingest:1' })), 'restreamer-ui:ingest:1');
    assert.equal(coreIdOf(named('my-stream', { [CORE_ID_ANNOTATION]: '  ' })), 'my-stream', 'a blank annotation is no id');
  });
});

describe('the WHEP path of a Core id that is no name', () => {
  let server: Server;
  let base: string;

  before(async () => {
    // A kubeconfig for a server that is never contacted: without a token nothing is read.
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
      users: [{ name: 'none' }],
      contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
      currentContext: 'none',
    });
    ({ server, base } = await serveCoreApi({
      kube: makeKube(kc),
      namespace: 'media',
      credentials: { username: 'admin', password: 'let-me-in' },
      tokens: { secret: Buffer.from('a key of at least thirty-two bytes, for the test') },
    }));
  });

  after(() => server?.close());

  const id = UI_IDS[0]!;
  const path = (rest = '') => `/api/v3/process/${encodeURIComponent(id)}/whep${rest}`;

  test('POST and GET answer 307 to the same path under the mapped name, the rest of the path and the query kept', async () => {
    const name = processNameFor(id);
    for (const [method, rest, to] of [
      ['POST', '', `/api/v3/process/${name}/whep`],
      ['GET', '/player?embed=1', `/api/v3/process/${name}/whep/player?embed=1`],
      ['GET', '/', `/api/v3/process/${name}/whep/`],
    ] as const) {
      const rsp = await fetch(`${base}${path(rest)}`, { method, redirect: 'manual', ...(method === 'POST' ? { body: 'v=0' } : {}) });
      assert.equal(rsp.status, 307, `${method} ${rest}`);
      assert.equal(rsp.headers.get('location'), to);
    }
  });

  test('an id that is its own name has no redirect (its path is the egress pod’s): 404, no loop', async () => {
    const rsp = await fetch(`${base}/api/v3/process/demo/whep`, { method: 'POST', redirect: 'manual', body: 'v=0' });
    assert.equal(rsp.status, 404);
    assert.match(((await rsp.json()) as { message: string }).message, /no WHEP endpoint/);
    const mapped = await fetch(`${base}/api/v3/process/${processNameFor(id)}/whep`, { redirect: 'manual' });
    assert.equal(mapped.status, 404, 'the mapped name does not redirect again');
  });

  test('the rest of the path is what follows the id\'s own segment, even when the id holds "whep"', async () => {
    for (const odd of ['whep:1', 'cam/whep/1']) {
      const rsp = await fetch(`${base}/api/v3/process/${encodeURIComponent(odd)}/whep/player`, { redirect: 'manual' });
      assert.equal(rsp.headers.get('location'), `/api/v3/process/${processNameFor(odd)}/whep/player`, odd);
    }
  });
});
