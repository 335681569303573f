/**
 * A Process's egress replicas in one test process: replica i listens on its own loopback address
 * 127.0.0.(i+1) with free ports, as pods have their own IPs. The files the kubelet would keep from
 * the pods' annotations are written here the way it writes them (a new file renamed over the
 * old, so a read sees one whole content): each sibling's pin names replica 0's address, replica
 * 0's relay-targets file lists the siblings, every replica has a drain file.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatRelayTargets, type RelayTarget } from '@corecast/api';
import { waitUntil, WhepTestClient } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { startTestEgress, whepUrl } from './helpers.ts';

/** A set of replicas and the files that steer them. */
export interface ReplicaSet {
  /** Replica i at index i. */
  readonly replicas: readonly Egress[];
  /** Replica i's address. */
  address(i: number): string;
  /** Replica i as replica 0's relay-targets file names it. */
  target(i: number, draining?: boolean): RelayTarget;
  /** Writes replica 0's relay-targets file. */
  setTargets(targets: readonly RelayTarget[]): void;
  /** Writes replica i's drain file (an RFC 3339 time, or '' to call it off). */
  setDrain(i: number, value: string): void;
  /** Stops every replica and removes the files. */
  stop(): Promise<void>;
}

/** Replica i's address. */
const addressOf = (i: number) => `127.0.0.${i + 1}`;

/** Starts `count` replicas; `maxViewers` is each one's cap. Replica 0 lists no sibling yet. */
export async function startReplicaSet(
  count: number,
  options: { maxViewers?: number; drainSeconds?: number; source?: { timeoutSeconds: number; graceSeconds: number } } = {},
): Promise<ReplicaSet> {
  const dir = mkdtempSync(join(tmpdir(), 'corecast-replicas-'));
  const file = (name: string) => join(dir, name);
  const write = (name: string, text: string) => {
    writeFileSync(file(`${name}.tmp`), text);
    renameSync(file(`${name}.tmp`), file(name));
  };
  const replicas: Egress[] = [];
  try {
    for (let i = 0; i < count; i++) {
      write(`drain-${i}`, '');
      if (i > 0) write(`pin-${i}`, addressOf(0));
      else write('relay-targets', '');
      replicas.push(
        await startTestEgress({
          http: { host: addressOf(i), port: 0 },
          maxViewers: options.maxViewers ?? 200,
          // A machine shared with other work can take its time connecting a viewer.
          session: { connectTimeoutSeconds: 60 },
          ...(options.source ? { source: options.source } : {}),
          streams: [
            {
              processId: 'demo',
              video: { port: 0 },
              audio: { port: 0 },
              maxViewers: 1000,
              ...(i > 0 ? { sourceAddressFile: file(`pin-${i}`) } : {}),
            },
          ],
          replica: {
            index: i,
            ...(i === 0 ? { relayTargetsFile: file('relay-targets') } : {}),
            drainFile: file(`drain-${i}`),
            drainSeconds: options.drainSeconds ?? 30,
          },
        }),
      );
    }
  } catch (err) {
    await Promise.all(replicas.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    replicas,
    address: addressOf,
    target: (i, draining = false) => {
      const r = replicas[i]!;
      const ports = r.rtpPorts.get('demo')!;
      return { index: i, address: addressOf(i), videoPort: ports.video, audioPort: ports.audio, httpPort: r.httpPort, draining };
    },
    setTargets: (targets) => write('relay-targets', formatRelayTargets(targets)),
    setDrain: (i, value) => write(`drain-${i}`, value),
    stop: async () => {
      await Promise.all(replicas.map((r) => r.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until replica 0 knows the room of every listed sibling, and every sibling's source is up. */
export async function siblingsReady(set: ReplicaSet): Promise<void> {
  const [first, ...rest] = set.replicas;
  await waitUntil(() => rest.every((r) => r.streams.get('demo')!.source.state === 'up'), 20000, 'every sibling receives the relayed RTP');
  await first!.replica.siblings!.poll();
  await waitUntil(() => first!.replica.siblings!.rooms().every((s) => s.room !== undefined), 5000, 'replica 0 knows every room');
}

/** A werift viewer that POSTed through `egress` (201 asserted by the caller through `status`). */
export async function viewerOn(egress: Egress, viewers: WhepTestClient[]): Promise<{ client: WhepTestClient; res: Response }> {
  const client = new WhepTestClient();
  viewers.push(client);
  const res = await client.post(whepUrl(egress));
  return { client, res };
}

/** The replica index a session URL names (`r<i>-` after the endpoint; none: 0). */
export function replicaOfUrl(location: string): number {
  const m = /\/whep\/r(\d+)-[^/]+$/.exec(location);
  return m ? Number(m[1]) : 0;
}
