/**
 * What the whole-product tests need of a cluster with real nodes: its kubeconfig and ingress URL,
 * Helm and kubectl against it, and a browser on the player page.
 *
 * The cluster is the test node the `node` test level starts (test/kit/src/node-global-setup.ts),
 * named by CORECAST_NODE_KUBECONFIG and CORECAST_INGRESS_URL; test/e2e/kind.sh sets the same two
 * variables for a kind cluster, so one test runs on both. CORECAST_HELM_VALUES lists the values
 * files, comma-separated (default helm-values/local-node.yaml).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { launchChromium, type TestBrowser } from '@corecast/testkit/chromium';
import { helm as helmAt, kubectl as kubectlAt } from '@corecast/testkit/kube-tools';
import type { Page } from 'playwright-core';
import type { PlayerStatus } from '../../../egress-pod/src/player/client.ts';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Where the tests find the cluster. */
export interface Cluster {
  kubeconfigPath: string;
  ingressUrl: string;
  kubeConfig(): KubeConfig;
  /** kubectl with this kubeconfig; resolves with stdout. */
  kubectl(...args: string[]): Promise<string>;
  /** helm with this kubeconfig; resolves with stdout. */
  helm(...args: string[]): Promise<string>;
  /** `-f` arguments of the values files these tests install with. */
  valuesArgs: string[];
}

/** The cluster named by the environment (the node test level always sets it). */
export function clusterFromEnv(): Cluster {
  const kubeconfigPath = process.env.CORECAST_NODE_KUBECONFIG;
  const ingressUrl = process.env.CORECAST_INGRESS_URL;
  if (!kubeconfigPath || !ingressUrl) {
    throw new Error('CORECAST_NODE_KUBECONFIG and CORECAST_INGRESS_URL are not set: run these tests with `npm run test:node`');
  }
  const values = (process.env.CORECAST_HELM_VALUES ?? 'helm-values/local-node.yaml').split(',').filter(Boolean);
  return {
    kubeconfigPath,
    ingressUrl,
    kubeConfig: () => {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    },
    kubectl: (...args) => kubectlAt(kubeconfigPath, args),
    helm: (...args) => helmAt(kubeconfigPath, args, repoRoot),
    valuesArgs: values.flatMap((f) => ['-f', join(repoRoot, f)]),
  };
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or throws at `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s (${last})`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A player page open in headless Chromium. */
export interface Player {
  page: Page;
  status(): Promise<PlayerStatus>;
  /** Waits until `framesDecoded` has grown by `frames` past `from` (default: its value now). */
  framesGrow(frames: number, from?: number, timeoutMs?: number): Promise<PlayerStatus>;
  /** The remote address of the ICE candidate pair carrying media (the egress pod's). */
  mediaRemoteAddress(): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Opens the player page. Every RTCPeerConnection the page makes is kept on window.__pcs (an init
 * script runs before the page's own), so the test can read which candidate pair carries media.
 */
export async function openPlayer(url: string): Promise<Player> {
  const browser: TestBrowser = await launchChromium({ reachable: [new URL(url).hostname] });
  const page = await browser.context.newPage();
  await page.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    const pcs: RTCPeerConnection[] = [];
    (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs = pcs;
    window.RTCPeerConnection = class extends Native {
      constructor(config?: RTCConfiguration) {
        super(config);
        pcs.push(this);
      }
    } as typeof RTCPeerConnection;
  });
  await page.goto(url);
  const status = () => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
  return {
    page,
    status,
    framesGrow: async (frames, from, timeoutMs = 120_000) => {
      const start = from ?? (await status()).framesDecoded;
      return eventually(
        `player at ${url} decodes ${frames} more frames than ${start} (last status below)`,
        async () => {
          const s = await status();
          return s.framesDecoded >= start + frames ? s : undefined;
        },
        timeoutMs,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await status().catch(() => null))}`);
      });
    },
    mediaRemoteAddress: () =>
      page.evaluate(async () => {
        const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
        for (const pc of [...pcs].reverse()) {
          if (pc.connectionState !== 'connected') continue;
          const stats: Record<string, unknown>[] = [];
          (await pc.getStats()).forEach((s: Record<string, unknown>) => stats.push(s));
          const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
          const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
          const remote = stats.find((s) => s.id === pair?.remoteCandidateId);
          return (remote?.address ?? remote?.ip) as string | undefined;
        }
        return undefined;
      }),
    close: () => browser.close(),
  };
}

export type { PlayerStatus };
