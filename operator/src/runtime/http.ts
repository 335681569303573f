/**
 * The operator's two small HTTP servers: /metrics (Prometheus) on the metrics port, /healthz
 * and /readyz on the health port, as controller-runtime serves them (8080 and 8081 by default).
 * Port 0 binds a free port (tests run several operators in one process).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A health check: undefined when fine, else what is wrong. */
export type Check = () => string | undefined;

/** A started server and its port. */
export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free one); resolves once listening, with a close that also ends kept-alive connections. */
export function listen(server: Server, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Serves /metrics from a registry. */
export function serveMetrics(registry: Registry, port: number): Promise<Listening> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(`${String(err)}\n`),
    );
  });
  return listen(server, port);
}

/** Serves /healthz (liveness) and /readyz (readiness) from checks; 200 "ok" or 500 with the failures. */
export function serveHealth(checks: { healthz: Record<string, Check>; readyz: Record<string, Check> }, port: number): Promise<Listening> {
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0] ?? '';
    const set = path === '/healthz' ? checks.healthz : path === '/readyz' ? checks.readyz : undefined;
    if (req.method !== 'GET' || !set) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const failures = Object.entries(set)
      .map(([name, check]) => [name, check()] as const)
      .filter(([, problem]) => problem !== undefined);
    if (failures.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    else res.writeHead(500, { 'content-type': 'text/plain' }).end(`${failures.map(([n, p]) => `[-]${n} failed: ${p}`).join('\n')}\n`);
  });
  return listen(server, port);
}
