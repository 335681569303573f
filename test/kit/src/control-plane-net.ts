/** Loopback ports and health probes for the control plane's processes. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';

/**
 * `count` distinct free TCP ports on 127.0.0.1. All listeners stay open until every port is
 * known, so the kernel cannot hand out the same one twice.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** TLS and auth for `probe`. */
export interface ProbeOptions {
  /** PEM bundle to verify the server with. */
  ca?: string;
  /**
   * Skip verification. Only for the controller manager's health port, whose serving
   * certificate it generates in memory and never writes anywhere we could read it.
   */
  insecure?: boolean;
  token?: string;
}

/** One GET; resolves with the status and body, or rejects on a connection error or after 3 s. */
export function probe(url: string, opts: ProbeOptions = {}): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  return new Promise((resolve, reject) => {
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { headers, ca: opts.ca, rejectUnauthorized: !opts.insecure, timeout: 3000 })
        : httpRequest(u, { headers, timeout: 3000 });
    req.once('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.end();
  });
}

/** What `waitUntil` polls. */
export interface WaitOptions {
  what: string;
  deadline: number;
  /** Polled first each round: a message when waiting is pointless (the process died). */
  failFast?: () => string | undefined;
}

/** Polls `check` every 100 ms until it returns true; throws at the deadline with the last error. */
export async function waitUntil(check: () => Promise<boolean>, { what, deadline, failFast }: WaitOptions): Promise<void> {
  let last = 'no answer yet';
  for (;;) {
    const fatal = failFast?.();
    if (fatal !== undefined) throw new Error(`${what}: ${fatal}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready in time (${last})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
