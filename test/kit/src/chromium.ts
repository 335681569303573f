/**
 * Debian's Chromium for tests, driven by playwright-core (never a downloaded browser): headless,
 * a fresh profile per launch, every background service that would call home turned off, and
 * WebRTC allowed on loopback so a closed machine can play a stream.
 */

import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** The Chromium binary (Debian package `chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags of every test browser: no outside traffic, WebRTC on loopback, autoplay allowed. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-breakpad',
  '--no-pings',
  '--dns-prefetch-disable',
  // Chromium still resolves a few Google host names (update and sign-in services) despite
  // the flags above; no name resolves at all, so no DNS query ever leaves (loopback still works).
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  // Host candidates as plain addresses, not mDNS names: registering a name sends multicast DNS
  // to the local network. (The egress drops .local candidates anyway; tests cover that.)
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/** CHROMIUM_FLAGS with more hosts excluded from the resolver rules that block every other name. */
function withReachable(flags: readonly string[], hosts: readonly string[]): string[] {
  return flags.map((f) => (f.startsWith('--host-resolver-rules=') ? [f, ...hosts.map((h) => `EXCLUDE ${h}`)].join(', ') : f));
}

/** A running browser with its own throw-away profile. */
export interface TestBrowser {
  /** The persistent context (one browser, one profile). */
  readonly context: BrowserContext;
  /** Closes the browser and deletes the profile. */
  close(): Promise<void>;
}

/** Launch options. */
export interface LaunchOptions {
  /** Run Chromium through this command prefix (e.g. `ip netns exec <ns>`). */
  readonly prefix?: readonly string[];
  /** Flags added to CHROMIUM_FLAGS. */
  readonly extraFlags?: readonly string[];
  /**
   * Hosts besides localhost and 127.0.0.1 the browser may reach (the resolver rules map every
   * other name, IP literals included, to "not found"), e.g. the test node's ingress address.
   */
  readonly reachable?: readonly string[];
}

/** True when Debian's Chromium is installed. */
export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM);
}

/** Launches headless Chromium with a new empty profile. */
export async function launchChromium(options: LaunchOptions = {}): Promise<TestBrowser> {
  if (!chromiumInstalled()) throw new Error(`${CHROMIUM} is not installed (Debian: apt-get install chromium)`);
  const dir = await mkdtemp(join(tmpdir(), 'corecast-chromium-'));
  let executablePath = CHROMIUM;
  if (options.prefix && options.prefix.length > 0) {
    // playwright talks to Chromium over inherited pipes, which a wrapper that execs keeps.
    executablePath = join(dir, 'chromium-wrapper.sh');
    const quoted = [...options.prefix, CHROMIUM].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    await writeFile(executablePath, `#!/bin/sh\nexec ${quoted} "$@"\n`);
    await chmod(executablePath, 0o755);
  }
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath,
    headless: true,
    args: [...withReachable(CHROMIUM_FLAGS, options.reachable ?? []), ...(options.extraFlags ?? [])],
    timeout: 60000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
