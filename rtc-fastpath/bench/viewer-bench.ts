/**
 * CPU and JavaScript heap bytes per `ViewerSender.send` (one packet to one viewer: header, SRTP,
 * the batched send, the sender-report counters), with a real werift viewer over loopback that
 * counts the datagrams at its ICE transport. Run once with SRTP in the addon and once in
 * JavaScript (CORECAST_NATIVE_SRTP=off), each in a child process of its own (the path is chosen
 * when the module loads), alternating, best of the rounds. Heap bytes are what V8's sampling heap
 * profiler saw allocated during a round by the sending side (stacks through this workspace's
 * sources), collected objects included (every 64 bytes sampled). The viewer receives in this
 * process, so the CPU figure includes its receiving (the same in both runs).
 *
 *   node rtc-fastpath/bench/viewer-bench.ts [--sends 20000] [--rounds 3] [--profile ctr|gcm]
 *
 * Prints JSON lines {name, value, unit}.
 */
import { execFileSync } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { RTCPeerConnection, RtpHeader, RtpPacket, useH264, useOPUS } from 'werift';
import {
  answerAsDtlsServer,
  interceptIceData,
  loopbackOnly,
  loopbackPeerConfig,
  offerOnlySrtpProfile,
  recycleArena,
  removeDefaultStun,
  type SrtpProfileName,
  srtpPath,
  ViewerSender,
} from '../src/index.ts';

const { values } = parseArgs({
  options: {
    sends: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    profile: { type: 'string', default: 'ctr' },
    child: { type: 'boolean', default: false },
  },
});

if (!values.child) {
  const best: Record<string, { cpu: number; bytes: number }> = {};
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of ['off', 'on']) {
      const out = execFileSync(
        process.execPath,
        [new URL(import.meta.url).pathname, '--child', '--sends', values.sends, '--profile', values.profile],
        { env: { ...process.env, CORECAST_NATIVE_SRTP: mode }, encoding: 'utf8' },
      );
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as { srtp: string; cpu: number; bytes: number };
      const b = (best[r.srtp] ??= { cpu: Infinity, bytes: Infinity });
      b.cpu = Math.min(b.cpu, r.cpu);
      b.bytes = Math.min(b.bytes, r.bytes);
    }
  }
  for (const [srtp, b] of Object.entries(best)) {
    console.log(
      JSON.stringify({ name: `viewer_send.${srtp}.cpu`, value: Math.round(b.cpu * 100) / 100, unit: 'µs/send', profile: values.profile }),
    );
    console.log(
      JSON.stringify({ name: `viewer_send.${srtp}.heap`, value: Math.round(b.bytes), unit: 'bytes/send', profile: values.profile }),
    );
  }
} else {
  const peer = () => new RTCPeerConnection(loopbackPeerConfig({ video: [useH264()], audio: [useOPUS()] }));
  const viewer = peer();
  const server = peer();
  viewer.addTransceiver('video', { direction: 'recvonly' });
  const offer = await viewer.createOffer();
  removeDefaultStun(viewer);
  offerOnlySrtpProfile(viewer, values.profile as SrtpProfileName);
  await viewer.setLocalDescription(offer);
  server.addTransceiver('video', { direction: 'sendonly' });
  await server.setRemoteDescription({ type: 'offer', sdp: loopbackOnly(viewer.localDescription!.sdp) });
  removeDefaultStun(server);
  answerAsDtlsServer(server);
  await server.setLocalDescription(await server.createAnswer());
  const connected = Promise.all(
    [viewer, server].map((pc) => new Promise<void>((resolve) => pc.connectionStateChange.subscribe((s) => s === 'connected' && resolve()))),
  );
  await viewer.setRemoteDescription({ type: 'answer', sdp: loopbackOnly(server.localDescription!.sdp) });
  await connected;
  let received = 0;
  interceptIceData(viewer, () => {
    received++;
    return true;
  });
  const sender = new ViewerSender(server.getTransceivers()[0]!.sender);
  // A GOP's worth of distinct 1188-byte packets, as the fan-out's shared packets.
  const packets = Array.from(
    { length: 64 },
    (_, i) =>
      new RtpPacket(
        new RtpHeader({ payloadType: 96, sequenceNumber: i, timestamp: i, ssrc: 1, marker: i % 8 === 7 }),
        Buffer.alloc(1188, i),
      ),
  );
  const sends = Number(values.sends);
  let seq = 0;
  /** `sends` packets, in slices like a fan-out worker's, a turn of the event loop between them. */
  const round = async (): Promise<void> => {
    for (let i = 0; i < sends; i++) {
      sender.send(packets[i & 63]!, seq, (seq * 90) >>> 0);
      seq = (seq + 1) & 0xffff;
      if (i % 500 === 499) {
        recycleArena();
        await new Promise((r) => setImmediate(r));
      }
    }
    recycleArena();
  };
  await round();
  const cpu0 = process.cpuUsage();
  await round();
  const cpu = process.cpuUsage(cpu0);
  // A second round under the sampling heap profiler (it costs CPU, so not in the timed one).
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await round();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  // Only what the sending side allocates: stacks through this workspace's sources other than
  // the viewer's receive hook (the viewer receives in this process too).
  type Node = { selfSize: number; callFrame: { url: string }; children: Node[] };
  const sending = (url: string): boolean => url.includes('/rtc-fastpath/src/') && !url.endsWith('/load-client.ts');
  const allocated = (n: Node, inSender: boolean): number => {
    const here = inSender || sending(n.callFrame.url);
    return (here ? n.selfSize : 0) + n.children.reduce((sum, c) => sum + allocated(c, here), 0);
  };
  const heap = allocated(profile.head as Node, false);
  console.log(JSON.stringify({ srtp: srtpPath().path, cpu: (cpu.user + cpu.system) / sends, bytes: heap / sends, received }));
  sender.close();
  await Promise.allSettled([viewer.close(), server.close()]);
  process.exit(0);
}
