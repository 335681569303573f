/**
 * The process endpoints of Core's API v3. Each handler reads in a fixed order: the id, the body
 * (bounded, JSON), the mapping to a Process, the store, the answer in Core's shape.
 */
import { ANNOTATIONS, readBounded } from '@corecast/api';
import type Router from '@koa/router';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.ts';
import { badRequest, CoreApiError, zodFields } from './errors.ts';
import { coreIdOf } from './ids.ts';
import { toCoreConfig, toProcess } from './mapping.ts';
import { CommandIn } from './schemas.ts';
import { type ProcessStore, refOf } from './store.ts';
import { METADATA_ANNOTATION, metadataOf, parseFilter, processOf, type ProcessObject, reportOf, selectProcesses, stateOf } from './view.ts';

/** What the process routes use. */
export interface RouteDeps {
  readonly store: ProcessStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxBody: number;
}

/** Longest metadata key: it becomes a JSON key inside one annotation. */
const MAX_KEY = 256;

/** Reads a JSON body of at most `limit` bytes; 400 when it is not JSON, 413 when too large. */
export async function readJson(ctx: Koa.Context, limit: number): Promise<unknown> {
  const text = await readBounded(ctx.req, Number(ctx.get('content-length') || '0'), limit);
  if (text === undefined) throw tooLarge(ctx, limit);
  if (!text.trim()) throw new CoreApiError(400, 'A JSON body is required');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CoreApiError(400, 'The body is not valid JSON', [(err as Error).message]);
  }
}

function tooLarge(ctx: Koa.Context, limit: number): CoreApiError {
  ctx.set('Connection', 'close');
  return new CoreApiError(413, `The body is larger than ${limit} bytes`);
}

/** A query parameter as one string (the last one when repeated). */
function query(ctx: Koa.Context, name: string): string | undefined {
  const v = ctx.query[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** A new token for the restart and reload annotations: any new value asks the operator to act. */
function actionToken(clock: Clock): string {
  return `${new Date(clock.now()).toISOString()}/${Math.random().toString(36).slice(2, 8)}`;
}

/** Adds the process endpoints to a router mounted at `/api/v3`. */
export function processRoutes(router: Router, deps: RouteDeps): void {
  const { store, clock, log } = deps;
  /** The Core id in the URL (ids.ts maps it to a Process). */
  const id = (ctx: Koa.Context): string => String(ctx.params.id ?? '');
  /** The Process of the Core id in the URL; 404 when there is none. */
  const found = (ctx: Koa.Context): Promise<ProcessObject> => store.find(id(ctx));

  router.get('/process', async (ctx) => {
    const selected = selectProcesses(await store.list(), {
      id: query(ctx, 'id'),
      reference: query(ctx, 'reference'),
      idpattern: query(ctx, 'idpattern'),
      refpattern: query(ctx, 'refpattern'),
    });
    const parts = parseFilter(query(ctx, 'filter'));
    const now = clock.now();
    ctx.body = selected.map((p) => processOf(p, parts, now));
  });

  router.post('/process', async (ctx) => {
    const intent = toProcess(await readJson(ctx, deps.maxBody));
    const created = await store.create(intent, intent.spec);
    log.info({ process: intent.name, id: intent.id, subject: ctx.state.subject }, 'process created');
    ctx.body = toCoreConfig(coreIdOf(created), created.spec);
  });

  router.get('/process/:id', async (ctx) => {
    ctx.body = processOf(await found(ctx), parseFilter(query(ctx, 'filter')), clock.now());
  });

  router.put('/process/:id', async (ctx) => {
    const body = await readJson(ctx, deps.maxBody);
    // An unknown id is 404 before a bad body is judged, as in Core.
    const ref = refOf(await found(ctx));
    const intent = toProcess(body, ref.id);
    const replaced = await store.replace(ref, intent.spec);
    log.info({ process: ref.name, id: ref.id, subject: ctx.state.subject }, 'process replaced');
    ctx.body = toCoreConfig(coreIdOf(replaced), replaced.spec);
  });

  router.delete('/process/:id', async (ctx) => {
    const ref = refOf(await found(ctx));
    await store.delete(ref);
    log.info({ process: ref.name, id: ref.id, subject: ctx.state.subject }, 'process deleted');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify('OK');
  });

  router.put('/process/:id/command', async (ctx) => {
    const parsed = CommandIn.safeParse(await readJson(ctx, 64 * 1024));
    if (!parsed.success) throw badRequest('Invalid command', zodFields(parsed.error));
    const command = parsed.data.command;
    const ref = refOf(await found(ctx));
    if (command === 'start' || command === 'stop') {
      // Core's start and stop, made declarative: the operator acts on spec.order.
      await store.setField(ref, ['spec', 'order'], () => command);
    } else {
      const annotation = command === 'restart' ? ANNOTATIONS.restart : ANNOTATIONS.reload;
      // Action tokens carry no state: any new value asks for the action, whoever wrote the last one.
      await store.setField(ref, ['metadata', 'annotations', annotation], () => actionToken(clock), { guard: false });
    }
    log.info({ process: ref.name, id: ref.id, command, subject: ctx.state.subject }, 'process command');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify('OK');
  });

  router.get('/process/:id/config', async (ctx) => {
    const p = await found(ctx);
    ctx.body = toCoreConfig(coreIdOf(p), p.spec);
  });

  router.get('/process/:id/state', async (ctx) => {
    ctx.body = stateOf(await found(ctx), clock.now());
  });

  router.get('/process/:id/report', async (ctx) => {
    ctx.body = reportOf(await found(ctx));
  });

  const allMetadata = async (ctx: Koa.Context) => {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(metadataOf(await found(ctx)));
  };
  router.get('/process/:id/metadata', allMetadata);
  router.get('/process/:id/metadata/', allMetadata);

  router.get('/process/:id/metadata/:key', async (ctx) => {
    const key = String(ctx.params.key ?? '');
    const all = metadataOf(await found(ctx));
    if (!all || !Object.hasOwn(all, key)) throw new CoreApiError(404, `Unknown metadata key "${key}"`);
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(all[key]);
  });

  router.put('/process/:id/metadata/:key', async (ctx) => {
    const key = String(ctx.params.key ?? '');
    if (key.length > MAX_KEY) throw badRequest('Invalid metadata key', [{ field: 'key', message: `at most ${MAX_KEY} characters` }]);
    const value = await readJson(ctx, deps.maxBody);
    const ref = refOf(await found(ctx));
    await store.setField(ref, ['metadata', 'annotations', METADATA_ANNOTATION], (p: ProcessObject) => {
      const all = { ...(metadataOf(p) ?? {}) };
      // Core: null removes the key.
      if (value === null) delete all[key];
      else all[key] = value;
      return Object.keys(all).length ? JSON.stringify(all) : null;
    });
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(value);
  });
}
