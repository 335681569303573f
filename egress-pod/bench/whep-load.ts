/**
 * Load client: holds N WHEP viewers against any WHEP URL and reports what they received.
 *
 *   node egress-pod/bench/whep-load.ts --url http://127.0.0.1:8080/api/v3/process/demo/whep \
 *     --viewers 200 --seconds 30 [--ramp 20] [--verify 2] [--token T] [--srtp ctr|gcm] [--server-offer]
 *
 * Prints one JSON object per line ({name, value, unit}); the last line is a summary object.
 * Run it in its own process, so the server is measured, not the load generator.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WhepViewer } from './whep-viewer.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    ramp: { type: 'string', default: '20' },
    verify: { type: 'string', default: '1' },
    token: { type: 'string' },
    label: { type: 'string', default: 'whep-load' },
    srtp: { type: 'string', default: 'ctr' },
    // Each viewer socket's kernel receive buffer (MiB): large enough that bursts are not dropped here.
    rcvbuf: { type: 'string', default: '8' },
    // The server makes the offer (Janus's streaming plugin behind bench/janus-whep.ts).
    'server-offer': { type: 'boolean', default: false },
    // The local address ICE uses on both sides (whep-viewer.ts), 127.0.0.1 unless given.
    address: { type: 'string' },
  },
});
if (!values.url) {
  console.error('--url is required (a WHEP endpoint)');
  process.exit(2);
}
const count = Number(values.viewers);
const seconds = Number(values.seconds);
const ramp = Number(values.ramp);
const verify = Number(values.verify);

const emit = (name: string, value: number, unit: string) =>
  console.log(JSON.stringify({ name: `${values.label}.${name}`, value: Math.round(value * 1000) / 1000, unit }));

/** The event-loop monitor's timer interval (ms); the histogram records whole intervals. */
const LOOP_RESOLUTION_MS = 10;
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loop.enable();
const viewers: WhepViewer[] = [];
let failed = 0;
const errors = new Map<string, number>();
for (let i = 0; i < count; i++) {
  const v = new WhepViewer({
    url: values.url,
    token: values.token,
    verify: i < verify,
    srtp: values.srtp === 'gcm' ? 'gcm' : 'ctr',
    receiveBuffer: Number(values.rcvbuf) * 2 ** 20,
    serverOffer: values['server-offer'],
    address: values.address,
  });
  try {
    await v.connect();
    viewers.push(v);
  } catch (error) {
    failed++;
    const key = String((error as Error).message).slice(0, 120);
    errors.set(key, (errors.get(key) ?? 0) + 1);
    await v.close().catch(() => undefined);
  }
  if (ramp > 0 && (i + 1) % ramp === 0) await new Promise((r) => setTimeout(r, 1000));
}

// Warm-up: a viewer's first packets may legitimately start mid-stream; measure from here.
await new Promise((r) => setTimeout(r, 2000));
// Tells a driving benchmark that every viewer is connected and the measured window starts now.
console.log(JSON.stringify({ event: 'holding', viewers: viewers.length }));
loop.reset();
const base = viewers.map((v) => structuredClone(v.stats));
const cpuBase = process.cpuUsage();
await new Promise((r) => setTimeout(r, seconds * 1000));
const cpu = process.cpuUsage(cpuBase);
// Tells a driving benchmark that the measured window is over (before viewers are closed).
console.log(JSON.stringify({ event: 'window-end', srtp: viewers[0]?.srtpProfile }));

let packets = 0;
let lost = 0;
let silent = 0;
viewers.forEach((v, i) => {
  const b = base[i]!;
  const p = v.stats.packets.video - b.packets.video + v.stats.packets.audio - b.packets.audio;
  packets += p;
  lost += v.stats.lost.video - b.lost.video + v.stats.lost.audio - b.lost.audio;
  if (p === 0) silent++;
});
const firsts = viewers
  .map((v) => v.stats.firstPacketMs)
  .filter((x): x is number => x !== null)
  .sort((a, b) => a - b);
emit('viewers_connected', viewers.length, 'viewers');
emit('viewers_failed', failed, 'viewers');
emit('viewers_silent', silent, 'viewers');
emit('packets_per_second_per_viewer', viewers.length ? packets / viewers.length / seconds : 0, 'packets/s');
emit('loss_ratio', packets + lost ? lost / (packets + lost) : 0, 'ratio');
emit('first_packet_p50', firsts[Math.floor(firsts.length / 2)] ?? 0, 'ms');
// When a player could show its first frame (verify viewers only: they decrypt the payload).
const keyframes = viewers
  .map((v) => v.stats.firstKeyframeMs)
  .filter((x): x is number => x !== null)
  .sort((a, b) => a - b);
if (keyframes.length > 0) {
  emit('first_keyframe_p50', keyframes[Math.floor(keyframes.length / 2)]!, 'ms');
  emit('first_keyframe_p95', keyframes[Math.min(keyframes.length - 1, Math.floor(keyframes.length * 0.95))]!, 'ms');
  emit('first_keyframe_viewers', keyframes.length, 'viewers');
}
// The delay is what exceeds one interval.
emit('client_event_loop_delay_p99', Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), 'ms');
emit('client_cpu', (cpu.user + cpu.system) / 1e6 / seconds, 'cores');
// What the kernel granted (it caps the request at net.core.rmem_max, then doubles it).
emit('client_receive_buffer', Math.min(...viewers.map((v) => v.receiveBuffer)) / 2 ** 20, 'MiB');
for (const [message, n] of errors) console.error(`${n} viewers failed: ${message}`);
// A driving benchmark reads this process's sockets at window-end: they stay open a moment longer.
await new Promise((r) => setTimeout(r, 1000));
await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
process.exit(0);
