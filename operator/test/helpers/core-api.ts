/**
 * The Core API served on a loopback port for tests: the app as main.ts wires it, with the real
 * clock and the test log level, listening on a free port.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { type CoreApiOptions, createCoreApi } from '../../src/core-api/app.ts';
import { systemClock } from '../../src/runtime/clock.ts';

/** Serves the Core API on 127.0.0.1 and gives its server and base URL (`http://127.0.0.1:<port>`). */
export async function serveCoreApi(options: Omit<CoreApiOptions, 'clock' | 'log'>): Promise<{ server: Server; base: string }> {
  const app = createCoreApi({ ...options, clock: systemClock, log: pino({ level: process.env.CORECAST_TEST_LOG ?? 'warn' }) });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
