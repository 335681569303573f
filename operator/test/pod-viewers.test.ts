/**
 * Viewer counts per egress pod (progress/hub.ts, progress/viewers.ts): a Process with several
 * replicas shows the sum of its pods' fresh counts, each pod's count is kept for the autoscaler
 * and status.webrtc, and a pod whose count changed is reported so its Process is reconciled.
 * The poll runs against real HTTP servers on loopback serving the Prometheus text of an egress
 * pod's metrics port.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Pod } from '../src/kube/types.ts';
import { ProgressHub, type ProgressSources } from '../src/progress/hub.ts';
import { pollViewers } from '../src/progress/viewers.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const sources: ProgressSources = {
  process: (key) => (key === 'ns/demo' ? { endpoints: { input: [], output: [] }, ffmpegPodUid: undefined } : undefined),
  shown: () => ({}),
  showing: () => [],
};
const settings = { reportIntervalSeconds: 1, statusIntervalSeconds: 5, maxStatusWritesPerSecond: 100 };

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A metrics port on loopback answering `viewers.n` for Process demo; resolves to its port. */
async function metricsPort(viewers: { n: number }): Promise<number> {
  const server = createServer((_req, res) => res.end(`corecast_egress_viewers{process="demo"} ${viewers.n}\n`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

/** An egress pod of Process demo whose metrics port is `port` on loopback. */
const pod = (uid: string, port: number): Pod => ({
  metadata: { name: `demo-${uid}`, namespace: 'ns', uid, labels: { 'corecast.dev/process': 'demo' } },
  spec: { containers: [{ name: 'egress', ports: [{ name: 'metrics', containerPort: port }] }] },
  status: { phase: 'Running', podIP: '127.0.0.1' },
});

describe('viewer counts per egress pod', () => {
  test("the Process's count is the sum of its pods' fresh counts; a stale pod drops out", () => {
    const clock = new ManualClock();
    const hub = new ProgressHub(settings, sources, clock);
    assert.equal(hub.setPodViewers('ns/demo', 'a', 3), true, 'a new count');
    assert.equal(hub.setPodViewers('ns/demo', 'b', 4), true);
    assert.equal(hub.desired('ns/demo').viewers, 7);
    assert.equal(hub.setPodViewers('ns/demo', 'a', 3), false, 'the same count again');
    assert.deepEqual([hub.podViewers('a'), hub.podViewers('b'), hub.podViewers('c')], [3, 4, undefined]);
    clock.advance(hub.staleMs - 1000);
    hub.setPodViewers('ns/demo', 'a', 5);
    clock.advance(2000);
    assert.equal(hub.podViewers('b'), undefined, "b's count went stale");
    hub.setPodViewers('ns/demo', 'a', 5);
    assert.equal(hub.desired('ns/demo').viewers, 5, 'only the fresh pod counts');
  });

  test('pollViewers reads each pod over HTTP and reports the Processes whose pod counts changed', async () => {
    const hub = new ProgressHub(settings, sources, new ManualClock());
    const counts = [{ n: 2 }, { n: 6 }];
    const pods = [pod('a', await metricsPort(counts[0]!)), pod('b', await metricsPort(counts[1]!))];
    /** One poll round; the Process keys it reported as changed. */
    const poll = async () => {
      const changed: string[] = [];
      await pollViewers(pods, hub, 4, (key) => changed.push(key));
      return changed;
    };
    assert.deepEqual(await poll(), ['ns/demo', 'ns/demo'], 'two new counts');
    assert.equal(hub.desired('ns/demo').viewers, 8);
    assert.deepEqual(await poll(), [], 'nothing moved');
    counts[1]!.n = 1;
    assert.deepEqual(await poll(), ['ns/demo']);
    assert.deepEqual([hub.podViewers('a'), hub.podViewers('b'), hub.desired('ns/demo').viewers], [2, 1, 3]);
  });
});
