/**
 * The RTP ingest pinned to its source (docs/security.md, "RTP ingest"). Before the pin, any
 * sender was accepted, an RTCP BYE from anyone took the source down, and a foreign SSRC with
 * the right payload type restarted the source (a viewer fell from 56 to 9 video packets/s).
 * Real UDP senders on loopback: 127.0.0.1 is FFmpeg (the pinned source), 127.0.0.2 and
 * 127.0.0.3 are other senders (Linux answers every 127/8 address on lo).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WhepTestClient, waitUntil } from '@corecast/testkit/whep-client';
import type { Egress } from '../src/index.ts';
import { feed, metric, startTestEgress, whepUrl } from './helpers.ts';

/** A UDP sender bound to one loopback address. */
async function sender(address: string): Promise<Socket & { to(port: number, datagrams: Buffer[]): Promise<void> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return Object.assign(socket, {
    to: (port: number, datagrams: Buffer[]) =>
      Promise.all(datagrams.map((d) => new Promise<void>((resolve) => socket.send(d, port, '127.0.0.1', () => resolve())))).then(() => {}),
  });
}

/** An RTP packet: payload type, SSRC, sequence number; an H.264 non-IDR slice as payload. */
function rtp(pt: number, ssrc: number, seq: number): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 3000) % 2 ** 32, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  b[12] = 0x41;
  b[13] = 0x9a;
  return b;
}

/** An RTCP BYE (PT 203) for `ssrc`. */
function bye(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x81;
  b[1] = 203;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  return b;
}

/** Writes the pin file the way the kubelet does: a new file renamed over the old one. */
async function writePin(file: string, content: string): Promise<void> {
  await writeFile(`${file}.tmp`, content);
  await rename(`${file}.tmp`, file);
}

const drops = (egress: Egress, reason: string, kind = 'video') =>
  metric(egress, 'corecast_egress_rtp_dropped_total', { process: 'demo', kind, reason });
const packetsIn = (egress: Egress, kind = 'video') => metric(egress, 'corecast_egress_rtp_packets_in_total', { process: 'demo', kind });
const restarts = (egress: Egress, kind = 'video') => metric(egress, 'corecast_egress_source_restarts_total', { process: 'demo', kind });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(
  'RTP ingest pinned to its source (any sender was accepted, a foreign BYE or SSRC took the source over)',
  { timeout: 180000 },
  () => {
    let dir: string;
    let pinFile: string;
    const sockets: Socket[] = [];
    const open = async (address: string) => {
      const s = await sender(address);
      sockets.push(s);
      return s;
    };
    const pinnedEgress = (
      pin: string,
      source: { timeoutSeconds: number; graceSeconds: number } = { timeoutSeconds: 2, graceSeconds: 30 },
    ) =>
      writePin(pinFile, pin).then(() =>
        startTestEgress({ streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, sourceAddressFile: pinFile }], source }),
      );

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'corecast-pin-'));
      pinFile = join(dir, 'rtp-source');
    });
    after(async () => {
      for (const s of sockets) s.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("pinned ingest: a foreign sender's RTP is dropped and counted, the pinned sender's accepted", async () => {
      const egress = await pinnedEgress('127.0.0.2');
      try {
        const { video } = egress.rtpPorts.get('demo')!;
        assert.deepEqual(egress.streams.get('demo')!.pinned, ['127.0.0.2']);
        const foreign = await open('127.0.0.3');
        await foreign.to(video, [rtp(102, 7, 1), rtp(102, 7, 2), rtp(102, 7, 3)]);
        await waitUntil(async () => (await drops(egress, 'source')) === 3, 10000, 'three drops by source');
        assert.equal(await packetsIn(egress), 0);
        assert.equal(egress.streams.get('demo')!.source.state, 'waiting', 'a foreign sender does not bring the source up');
        const pinned = await open('127.0.0.2');
        await pinned.to(video, [rtp(102, 9, 1)]);
        await waitUntil(async () => (await packetsIn(egress)) === 1, 10000, 'the pinned packet');
        assert.equal(egress.streams.get('demo')!.source.state, 'up');
      } finally {
        await egress.stop();
      }
    });

    it('pinned ingest: an empty pin file (no pin known yet) accepts nobody', async () => {
      const egress = await pinnedEgress('');
      try {
        const { video } = egress.rtpPorts.get('demo')!;
        assert.deepEqual(egress.streams.get('demo')!.pinned, []);
        await (await open('127.0.0.1')).to(video, [rtp(102, 9, 1), rtp(102, 9, 2)]);
        await waitUntil(async () => (await drops(egress, 'source')) === 2, 10000, 'two drops by source');
        assert.equal(egress.streams.get('demo')!.source.state, 'waiting');
      } finally {
        await egress.stop();
      }
    });

    it('pinned ingest: a pin file that does not exist (yet) accepts nobody', async () => {
      const egress = await startTestEgress({
        streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 }, sourceAddressFile: join(dir, 'missing') }],
      });
      try {
        const { video } = egress.rtpPorts.get('demo')!;
        assert.deepEqual(egress.streams.get('demo')!.pinned, []);
        await (await open('127.0.0.1')).to(video, [rtp(102, 9, 1)]);
        await waitUntil(async () => (await drops(egress, 'source')) === 1, 10000, 'one drop by source');
        assert.equal(egress.streams.get('demo')!.source.state, 'waiting');
      } finally {
        await egress.stop();
      }
    });

    it("pinned ingest: a foreign BYE is ignored, even for the source's SSRC; the source's own BYE takes it down", async () => {
      // A long timeout: only a BYE can take the source down within the test.
      const egress = await pinnedEgress('127.0.0.1', { timeoutSeconds: 60, graceSeconds: 60 });
      try {
        const stream = egress.streams.get('demo')!;
        const { video, audio } = egress.rtpPorts.get('demo')!;
        const ffmpeg = await feed(egress, 'demo', { size: '160x120', rate: 10 });
        const ssrc = { video: stream.sourceSsrc('video')!, audio: stream.sourceSsrc('audio') ?? 0 };
        const foreign = await open('127.0.0.2');
        await foreign.to(video, [bye(ssrc.video)]);
        await foreign.to(audio, [bye(ssrc.audio)]);
        await waitUntil(async () => (await drops(egress, 'source')) >= 1, 10000, 'the foreign BYE dropped');
        // From the pinned address but for another SSRC: not this source's goodbye either.
        await (await open('127.0.0.1')).to(video, [bye((ssrc.video ^ 1) >>> 0)]);
        await sleep(500);
        assert.equal(stream.source.state, 'up', 'no BYE but the source own takes it down');
        await ffmpeg.kill('SIGTERM');
        await waitUntil(() => stream.source.state === 'down', 10000, "source down after FFmpeg's own BYE");
      } finally {
        await egress.stop();
      }
    });

    for (const mode of ['pinned', 'unpinned'] as const) {
      it(`${mode} ingest: a foreign SSRC with the right payload type is ignored and a viewer keeps its packet rate`, async () => {
        const egress =
          mode === 'pinned'
            ? await pinnedEgress('127.0.0.1')
            : await startTestEgress({ streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 } }] });
        const client = new WhepTestClient();
        let flooding = true;
        try {
          const stream = egress.streams.get('demo')!;
          const { video } = egress.rtpPorts.get('demo')!;
          const ffmpeg = await feed(egress, 'demo', { size: '320x240', rate: 30 });
          assert.equal((await client.post(whepUrl(egress))).status, 201);
          await client.connected();
          await waitUntil(() => client.received.video.length > 30, 20000, 'video at the viewer');
          const rate = async (ms: number) => {
            const from = client.received.video.length;
            await sleep(ms);
            return ((client.received.video.length - from) * 1000) / ms;
          };
          const before = await rate(2000);
          const ssrc = stream.sourceSsrc('video')!;
          // 1000 packets/s of the right payload type under a foreign SSRC.
          const foreign = await open('127.0.0.2');
          let seq = 0;
          const flood = (async () => {
            while (flooding) {
              await foreign.to(
                video,
                Array.from({ length: 10 }, () => rtp(102, (ssrc ^ 0x5a5a) >>> 0, seq++)),
              );
              await sleep(10);
            }
          })();
          const during = await rate(3000);
          flooding = false;
          await flood;
          assert.ok(seq > 1000, `the flood sent ${seq} packets`);
          assert.ok(during >= before * 0.75, `viewer video packets/s ${during.toFixed(1)} during the flood, ${before.toFixed(1)} before`);
          assert.equal(await restarts(egress), 0, 'the source never restarted');
          assert.equal(stream.sourceSsrc('video'), ssrc, 'the ingest still follows FFmpeg');
          assert.ok((await drops(egress, mode === 'pinned' ? 'source' : 'ssrc')) >= 1000);
          assert.equal(stream.source.state, 'up');
          await ffmpeg.kill('SIGKILL');
        } finally {
          flooding = false;
          await client.pc.close();
          await egress.stop();
        }
      });
    }

    it("pinned ingest: the pinned source's own restart (a new SSRC from its address) still restarts the source", async () => {
      const egress = await pinnedEgress('127.0.0.2');
      try {
        const stream = egress.streams.get('demo')!;
        const { video } = egress.rtpPorts.get('demo')!;
        const pinned = await open('127.0.0.2');
        await pinned.to(video, [rtp(102, 1111, 1), rtp(102, 1111, 2)]);
        await waitUntil(async () => (await packetsIn(egress)) === 2, 10000, 'the first run');
        // FFmpeg started again: same address, new SSRC and sequence base, at once.
        await pinned.to(video, [rtp(102, 2222, 500)]);
        await waitUntil(async () => (await restarts(egress)) === 1, 10000, 'the restart');
        assert.equal(stream.sourceSsrc('video'), 2222);
        assert.equal(await packetsIn(egress), 3);
      } finally {
        await egress.stop();
      }
    });

    it('pinned ingest: a re-pin from the file switches sources without a restart of the egress', async () => {
      const egress = await pinnedEgress('127.0.0.2');
      try {
        const stream = egress.streams.get('demo')!;
        const { video } = egress.rtpPorts.get('demo')!;
        const old = await open('127.0.0.2');
        const next = await open('127.0.0.3');
        await old.to(video, [rtp(102, 1111, 1)]);
        await next.to(video, [rtp(102, 3333, 1)]);
        await waitUntil(async () => (await packetsIn(egress)) === 1 && (await drops(egress, 'source')) === 1, 10000, 'only the pinned one');
        // The FFmpeg pod was replaced: the operator (through the kubelet) writes its new address.
        await writePin(pinFile, '127.0.0.3\n');
        await waitUntil(() => stream.pinned?.[0] === '127.0.0.3', 5000, 're-pinned from the file');
        await old.to(video, [rtp(102, 1111, 2)]);
        await next.to(video, [rtp(102, 3333, 2)]);
        await waitUntil(async () => (await packetsIn(egress)) === 2 && (await drops(egress, 'source')) === 2, 10000, 'the new source only');
        assert.equal(stream.sourceSsrc('video'), 3333);
        assert.equal(await restarts(egress), 1, 'the new source is a source restart');
        // A file naming something other than addresses pins nothing.
        await writePin(pinFile, 'not-an-address');
        await waitUntil(() => stream.pinned?.length === 0, 5000, 'pin cleared');
        await next.to(video, [rtp(102, 3333, 3)]);
        await waitUntil(async () => (await drops(egress, 'source')) === 3, 10000, 'dropped with no pin');
      } finally {
        await egress.stop();
      }
    });

    it('unpinned ingest: a foreign BYE is ignored; a new SSRC from another sender is taken only once the current one is silent', async () => {
      const egress = await startTestEgress({
        streams: [{ processId: 'demo', video: { port: 0 }, audio: { port: 0 } }],
        source: { timeoutSeconds: 1, graceSeconds: 30 },
      });
      try {
        const stream = egress.streams.get('demo')!;
        const { video } = egress.rtpPorts.get('demo')!;
        const first = await open('127.0.0.2');
        const other = await open('127.0.0.3');
        await first.to(video, [rtp(102, 1111, 1)]);
        await waitUntil(() => stream.source.state === 'up', 10000, 'source up');
        await other.to(video, [bye(1111), rtp(102, 4444, 1)]);
        await waitUntil(async () => (await drops(egress, 'ssrc')) === 1, 10000, 'the foreign SSRC dropped');
        assert.equal(stream.source.state, 'up', 'the foreign BYE did not take the source down');
        assert.equal(stream.sourceSsrc('video'), 1111);
        // The current source stops for longer than the timeout: another sender may take over.
        await sleep(1300);
        await other.to(video, [rtp(102, 4444, 2)]);
        await waitUntil(() => stream.sourceSsrc('video') === 4444, 10000, 'the new source taken');
        assert.equal(await restarts(egress), 1);
      } finally {
        await egress.stop();
      }
    });
  },
);
