/**
 * `node:http` and @koa/router as CommonJS loads them, for the pod's main thread.
 *
 * Node's `http` module has three lazy exports from its fetch implementation (`WebSocket`,
 * `CloseEvent`, `MessageEvent`: undici). An ES module import of `node:http` — or of @koa/router,
 * whose ES build imports `http` — builds the module's ES namespace, reads every export, and so
 * loads undici: ~2 MiB of heap in the thread (its 0.75 MiB of source and what it sets up) that
 * the pod never uses, since it has no fetch to make unless it runs replicas. `require` hands out
 * the exports object itself and reads nothing (test/http-cjs.test.ts checks that undici stays
 * out). Koa is CommonJS already.
 */
import { createRequire } from 'node:module';
import type * as http from 'node:http';
import type KoaRouter from '@koa/router';

const require = createRequire(import.meta.url);

/** `node:http`'s createServer. */
export const createServer: typeof http.createServer = (require('node:http') as typeof http).createServer;

/** @koa/router's Router, from its CommonJS build. */
export const Router = require('@koa/router') as typeof KoaRouter;
export type Router = KoaRouter;
