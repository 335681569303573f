/**
 * Core's process config ↔ Process spec, both ways, and the state/report/list views: pure
 * functions, no cluster. Answers are parsed with the strict Core shapes, so a renamed, missing
 * or mistyped field fails here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProcessSpec } from '@corecast/api';
import { ApiException } from '@kubernetes/client-node';
import { CoreApiError, fromApiServer, retryAfterSeconds } from '../src/core-api/errors.ts';
import { CORE_ID_ANNOTATION, processNameFor } from '../src/core-api/ids.ts';
import { toCoreConfig, toProcess } from '../src/core-api/mapping.ts';
import { ConfigOut, ProcessOut, ReportOut, StateOut } from '../src/core-api/schemas.ts';
import {
  METADATA_ANNOTATION,
  type ProcessObject,
  parseFilter,
  processOf,
  reportOf,
  selectProcesses,
  stateOf,
} from '../src/core-api/view.ts';

/** A config as Core's UI sends it, every field set. */
function coreConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'cam-1',
    type: 'ffmpeg',
    reference: 'lobby',
    input: [{ id: 'in', address: 'rtmp://src/live', options: ['-re'], cleanup: [] }],
    output: [
      {
        id: 'hls',
        address: 'rtmp://dst/live',
        options: ['-c', 'copy', '-f', 'flv'],
        cleanup: [{ pattern: 'memfs:/x/*.ts', max_files: 10 }],
      },
    ],
    options: ['-loglevel', 'info'],
    reconnect: true,
    reconnect_delay_seconds: 5,
    autostart: false,
    stale_timeout_seconds: 30,
    limits: { cpu_usage: 150, memory_mbytes: 512, waitfor_seconds: 3 },
    log_patterns: [],
    runtime_duration_seconds: 0,
    scheduler: '',
    ...over,
  };
}

/** The 400's details for a body, or a failure when it is accepted. */
function refused(body: unknown, pathId?: string): string[] {
  try {
    toProcess(body, pathId);
  } catch (err) {
    assert.ok(err instanceof CoreApiError);
    assert.equal(err.status, 400);
    return [...err.details];
  }
  assert.fail('accepted');
}

describe('Core config → Process spec', () => {
  test('every carried field maps to its spec field; ignored ones are dropped', () => {
    const { name, spec } = toProcess(coreConfig({ webrtc: { enabled: true, force_transcode: true, max_viewers: 20 } }));
    assert.equal(name, 'cam-1');
    assert.deepEqual(spec, {
      reference: 'lobby',
      input: [{ id: 'in', address: 'rtmp://src/live', options: ['-re'] }],
      output: [{ id: 'hls', address: 'rtmp://dst/live', options: ['-c', 'copy', '-f', 'flv'] }],
      options: ['-loglevel', 'info'],
      reconnect: true,
      reconnectDelaySeconds: 5,
      autostart: false,
      staleTimeoutSeconds: 30,
      limits: { cpuUsage: 150, memoryMbytes: 512, waitforSeconds: 3 },
      webrtc: { enabled: true, forceTranscode: true, maxViewers: 20 },
    });
  });

  test('fields left out stay out of the applied spec (the API does not claim them)', () => {
    const { spec } = toProcess({ id: 'x', input: [{ id: 'a', address: 'rtmp://a' }], output: [{ id: 'b', address: 'rtmp://b' }] });
    assert.deepEqual(spec, {
      input: [{ id: 'a', address: 'rtmp://a', options: [] }],
      output: [{ id: 'b', address: 'rtmp://b', options: [] }],
    });
  });

  test('a config without an id gets a usable generated one (its own name)', () => {
    const { id, name } = toProcess(coreConfig({ id: undefined }));
    assert.match(name, /^p-[0-9a-f]{16}$/);
    assert.equal(id, name);
  });

  test("Core UI's ids are kept as the id, with the mapped Process name", () => {
    const uiId = 'restreamer-ui:egress:rtmp:4186b095-7f0a-4e94-8c3a-f17d6be4a6d6';
    const intent = toProcess(coreConfig({ id: uiId }));
    assert.equal(intent.id, uiId);
    assert.equal(intent.name, processNameFor(uiId));
    assert.notEqual(intent.name, uiId);
    assert.equal(toProcess(coreConfig({ id: undefined }), uiId).id, uiId, 'a replace without an id in the body: the URL id');
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['type other than ffmpeg', { type: 'exec' }, /^type: only "ffmpeg" processes run here, not "exec"$/],
    ['log_patterns', { log_patterns: ['error'] }, /^log_patterns: not carried/],
    ['runtime_duration_seconds', { runtime_duration_seconds: 60 }, /^runtime_duration_seconds: not carried: put "-t <seconds>"/],
    ['scheduler', { scheduler: '@hourly' }, /^scheduler: not carried/],
    ['limits.gpu_usage', { limits: { gpu_usage: 50 } }, /^limits\.gpu_usage: not carried: Corecast has no GPU limits$/],
    ['owner', { owner: 'alice' }, /^owner: not carried/],
    ['domain', { domain: 'tenant' }, /^domain: not carried/],
    ['an input without id', { input: [{ address: 'rtmp://a' }] }, /^input\[0\]\.id: required$/],
    ['a blank id (Core: an empty ID is not allowed)', { id: '  ' }, /^id: " {2}" is not a usable process id: an empty \(or blank\) id/],
    ['an id past the length cap', { id: 'x'.repeat(1025) }, /^id: "x+…" is not a usable process id: at most 1024 characters$/],
    ['a mistyped field', { reconnect: 'yes' }, /^reconnect: Invalid input: expected boolean, received string$/],
    ['a missing output list', { output: undefined }, /^output: Invalid input: expected array, received undefined$/],
    ['a value out of range', { reconnect_delay_seconds: -1 }, /^reconnect_delay_seconds: Too small/],
    ['a limit out of range', { limits: { cpu_usage: 7000 } }, /^limits\.cpu_usage: Too big/],
    [
      'equal payload types',
      { webrtc: { enabled: true, video_payload_type: 100, audio_payload_type: 100 } },
      /^webrtc\.audio_payload_type: videoPayloadType/,
    ],
    ['an unknown webrtc field', { webrtc: { enable: true } }, /^webrtc: Unrecognized key: "enable"$/],
    [
      'duplicate input ids',
      {
        input: [
          { id: 'a', address: 'x' },
          { id: 'a', address: 'y' },
        ],
      },
      /^input: /,
    ],
  ];
  for (const [what, over, message] of refusals) {
    test(`400 naming the field: ${what}`, () => {
      const details = refused(coreConfig(over));
      assert.ok(
        details.some((d) => message.test(d)),
        details.join('\n'),
      );
    });
  }

  test('replace: an id in the body must match the URL', () => {
    assert.deepEqual(refused(coreConfig({ id: 'other' }), 'cam-1'), [
      'id: "other" differs from the id in the URL ("cam-1"); a process cannot be renamed',
    ]);
    assert.equal(toProcess(coreConfig({ id: undefined }), 'cam-1').name, 'cam-1');
  });

  test('neutral values of uncarried fields are accepted (what Core UI sends)', () => {
    assert.doesNotThrow(() => toProcess(coreConfig({ type: '', limits: { gpu_usage: 0, gpu_encoder: 0 }, owner: '', domain: '' })));
  });
});

describe('Process spec → Core config', () => {
  test('every field, with Core neutral values for what Corecast does not carry', () => {
    const stored = ProcessSpec.parse({
      input: [{ id: 'in', address: 'testsrc2', options: ['-f', 'lavfi'] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
    });
    const config = ConfigOut.parse(toCoreConfig('demo', stored));
    assert.deepEqual(config, {
      id: 'demo',
      type: 'ffmpeg',
      reference: '',
      input: [{ id: 'in', address: 'testsrc2', options: ['-f', 'lavfi'], cleanup: [] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'], cleanup: [] }],
      options: [],
      reconnect: true,
      reconnect_delay_seconds: 15,
      autostart: true,
      stale_timeout_seconds: 0,
      limits: { cpu_usage: 0, memory_mbytes: 0, waitfor_seconds: 0 },
      log_patterns: [],
      runtime_duration_seconds: 0,
      scheduler: '',
      webrtc: { enabled: false, video_payload_type: 102, audio_payload_type: 111, force_transcode: false, max_viewers: 8 },
    });
  });

  test('round trip: config → spec → config keeps every carried field', () => {
    const sent = coreConfig({
      webrtc: { enabled: true, video_payload_type: 100, audio_payload_type: 101, force_transcode: true, max_viewers: 3 },
    });
    const back = toCoreConfig('cam-1', ProcessSpec.parse(toProcess(sent).spec));
    const output = sent.output as { cleanup?: unknown }[];
    assert.deepEqual(back, { ...sent, output: output.map((o) => ({ ...o, cleanup: [] })) });
  });

  test('a stored spec this release cannot read is a 500, not a crash', () => {
    assert.throws(
      () => toCoreConfig('x', { input: 'nope' }),
      (e: unknown) => e instanceof CoreApiError && e.status === 500,
    );
  });
});

function obj(name: string, over: Partial<ProcessObject> = {}, spec: Record<string, unknown> = {}): ProcessObject {
  return {
    metadata: { name, creationTimestamp: '2026-01-01T00:00:00Z', ...over.metadata },
    spec: ProcessSpec.parse({ input: [{ id: 'i', address: 'a' }], output: [{ id: 'o', address: 'b' }], ...spec }),
    status: over.status,
  };
}

describe('state, report and list views', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');

  test('a running process: exec, order, runtime from startedAt, command', () => {
    const state = StateOut.parse(
      stateOf(obj('a', { status: { exec: 'running', startedAt: '2026-01-01T00:08:20Z', command: ['-nostdin', '-i', 'a'] } }), now),
    );
    assert.equal(state.exec, 'running');
    assert.equal(state.order, 'start');
    assert.equal(state.runtime_seconds, 100);
    assert.deepEqual(state.command, ['-nostdin', '-i', 'a']);
    assert.equal(state.reconnect_seconds, -1);
  });

  test('a stopped process that was never reported: finished, order stop, no runtime', () => {
    const state = stateOf(obj('a', {}, { order: 'stop' }), now);
    assert.equal(state.exec, 'finished');
    assert.equal(state.order, 'stop');
    assert.equal(state.runtime_seconds, 0);
  });

  test('a failed run: the report holds its last error line and when it ended', () => {
    const status = {
      exec: 'failed',
      startedAt: '2026-01-01T00:05:00Z',
      lastError: 'rtmp://src/live: Connection refused',
      conditions: [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'x', lastTransitionTime: '2026-01-01T00:05:02Z' }],
    };
    const report = ReportOut.parse(reportOf(obj('a', { status })));
    const exited = Date.parse('2026-01-01T00:05:02Z') / 1000;
    assert.equal(report.created_at, Date.parse('2026-01-01T00:05:00Z') / 1000);
    assert.equal(report.exit_state, 'failed');
    assert.equal(report.exited_at, exited);
    assert.deepEqual(report.log, [[String(exited), 'rtmp://src/live: Connection refused']]);
    assert.equal(stateOf(obj('a', { status }), now).last_logline, 'rtmp://src/live: Connection refused');
  });

  test('filter picks the parts; metadata comes from the annotation', () => {
    const p = obj('a', { metadata: { name: 'a', annotations: { [METADATA_ANNOTATION]: '{"ui":{"x":1}}' } } });
    const full = ProcessOut.parse(processOf(p, parseFilter(undefined), now));
    assert.deepEqual(Object.keys(full).sort(), ['config', 'created_at', 'id', 'metadata', 'reference', 'report', 'state', 'type']);
    assert.deepEqual(full.metadata, { ui: { x: 1 } });
    const some = processOf(p, parseFilter('state,metadata,bogus'), now);
    assert.deepEqual(Object.keys(some).sort(), ['created_at', 'id', 'metadata', 'reference', 'state', 'type']);
    assert.equal(processOf(obj('b'), parseFilter('metadata'), now).metadata, null);
  });

  test('list selection: id wins over reference; patterns narrow', () => {
    const all = [obj('b', {}, { reference: 'r1' }), obj('a', {}, { reference: 'r1' }), obj('c', {}, { reference: 'r2' })];
    const names = (q: Parameters<typeof selectProcesses>[1]) => selectProcesses(all, q).map((p) => p.metadata.name);
    assert.deepEqual(names({}), ['a', 'b', 'c']);
    assert.deepEqual(names({ reference: 'r1' }), ['a', 'b']);
    assert.deepEqual(names({ id: 'c, a', reference: 'r1' }), ['a', 'c']);
    assert.deepEqual(names({ idpattern: '?', refpattern: 'r*' }), ['a', 'b', 'c']);
    assert.deepEqual(names({ refpattern: '*2' }), ['c']);
  });

  test('Core ids from the annotation: shown as the id, selected and sorted by it', () => {
    const uiId = 'restreamer-ui:ingest:1';
    const mapped = obj(processNameFor(uiId), { metadata: { name: processNameFor(uiId), annotations: { [CORE_ID_ANNOTATION]: uiId } } });
    const kubectlMade = obj('zz-made-by-kubectl', {
      metadata: { name: 'zz-made-by-kubectl', annotations: { [CORE_ID_ANNOTATION]: 'a:first' } },
    });
    const all = [mapped, kubectlMade, obj('plain')];
    const p = ProcessOut.parse(processOf(mapped, parseFilter(undefined), now));
    assert.equal(p.id, uiId);
    assert.equal(p.config?.id, uiId);
    const ids = (q: Parameters<typeof selectProcesses>[1]) =>
      selectProcesses(all, q).map((x) => processOf(x, parseFilter('config'), now).id);
    assert.deepEqual(ids({}), ['a:first', 'plain', uiId]);
    assert.deepEqual(ids({ id: `${uiId},plain` }), ['plain', uiId]);
    assert.deepEqual(ids({ id: processNameFor(uiId) }), [], 'the name is not the id');
    assert.deepEqual(ids({ idpattern: 'restreamer-ui:*' }), [uiId]);
  });
});

describe("the API server's refusals in Core's shape", () => {
  test('429 (its storage initializing, or overload) → 503 with the Retry-After it asked for', () => {
    const status = { kind: 'Status', code: 429, message: 'storage is (re)initializing', details: { retryAfterSeconds: 2 } };
    const err = new ApiException(429, 'GET …/processes: HTTP 429', status, { 'retry-after': '2' });
    assert.equal(retryAfterSeconds(err), 2);
    const mapped = fromApiServer(err, 'restreamer-ui:ingest:1');
    assert.ok(mapped instanceof CoreApiError);
    assert.equal(mapped.status, 503);
    assert.equal(mapped.headers['Retry-After'], '2');
    assert.deepEqual(mapped.details, ['storage is (re)initializing']);
    assert.equal(retryAfterSeconds(new ApiException(404, 'x', {}, {})), undefined, 'only a 429 asks to wait');
  });

  test('404 names the Core id as sent', () => {
    const mapped = fromApiServer(new ApiException(404, 'x', { kind: 'Status', code: 404 }, {}), 'restreamer-ui:ingest:1');
    assert.ok(mapped instanceof CoreApiError);
    assert.equal(mapped.message, 'Unknown process ID "restreamer-ui:ingest:1"');
  });
});
