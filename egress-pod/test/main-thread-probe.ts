/**
 * Run by http-cjs.test.ts in a process of its own: an egress started in this process as main.ts
 * starts it (one fan-out worker), asked for /readyz and for a stream it does not serve over
 * plain `node:http` (CommonJS: `fetch` would load what is looked for); prints what it got and
 * whether undici was loaded in this thread, and the copies of MIME's database koa's
 * dependencies loaded, as one JSON line.
 */
import { createRequire } from 'node:module';
import type * as http from 'node:http';
import { resolveConfig, startEgress } from '../src/index.ts';
import { testConfig } from './helpers.ts';

const require = createRequire(import.meta.url);
const { get, request } = require('node:http') as typeof http;

function ask(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (method === 'GET' ? get : request)(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    if (method !== 'GET') req.end('v=0\r\n');
  });
}

/** Node's own modules loaded so far (`process.moduleLoadList`, not in @types/node). */
const undici = () => (process as unknown as { moduleLoadList: string[] }).moduleLoadList.some((m) => m.includes('undici'));
const egress = await startEgress(resolveConfig(testConfig({ media: { workers: 1 } } as never), {}), { defaultMetrics: false });
const started = undici();
const readyz = await ask(`${egress.url}/readyz`);
const problem = await ask(`${egress.url}/api/v3/process/nowhere/whep`, 'POST');
const mimeDbs = Object.keys(require.cache).filter((path) => /\/mime-db\/db\.json$/.test(path));
process.stdout.write(`${JSON.stringify({ started, readyz, problem, undici: undici(), mimeDbs })}\n`);
await egress.stop();
