/**
 * The progress figures as Prometheus gauges per Process (`namespace`, `process` labels), read
 * from the hub at each scrape, so a Process that stops reporting leaves the output with its
 * figures; and counters of the reports and status writes. Only the leader takes reports, so
 * only the leader exports figures.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { splitKey } from '../kube/types.ts';
import type { LiveStatus, ProgressHub, WriterMetrics } from './hub.ts';

const FIGURES: readonly [string, string, (l: LiveStatus) => number | undefined][] = [
  ['corecast_process_frames', 'Frames encoded (or copied) by the current FFmpeg run.', (l) => l.progress?.frame],
  ['corecast_process_fps', 'Frames per second of the current FFmpeg run.', (l) => l.progress?.fps],
  ['corecast_process_q', 'Quantizer of the first video stream (-1 when copied).', (l) => l.progress?.q],
  ['corecast_process_size_bytes', 'Bytes written by the current FFmpeg run.', (l) => l.progress?.sizeBytes],
  ['corecast_process_time_seconds', 'Media time written by the current FFmpeg run.', (l) => l.progress?.timeSeconds],
  ['corecast_process_bitrate_kbits', 'Output bitrate of the current FFmpeg run, kbit/s.', (l) => l.progress?.bitrateKbit],
  ['corecast_process_speed', 'Media time per wall-clock time of the current FFmpeg run.', (l) => l.progress?.speed],
  ['corecast_process_dropped_frames', 'Frames dropped by the current FFmpeg run.', (l) => l.progress?.drop],
  ['corecast_process_duplicated_frames', 'Frames duplicated by the current FFmpeg run.', (l) => l.progress?.dup],
  [
    'corecast_process_cpu_usage',
    "FFmpeg's CPU use, percent of the CPUs its container may use (Core's cpu_usage).",
    (l) => l.progress?.cpuUsage,
  ],
  ['corecast_process_memory_bytes', "FFmpeg's resident memory.", (l) => l.progress?.memoryBytes],
  ['corecast_process_viewers', 'Viewers of the WebRTC stream now.', (l) => l.viewers],
];

/** Registers the per-Process gauges and the counters; returns the writer's hooks and a report counter. */
export function progressMetrics(registry: Registry, hub: () => ProgressHub | undefined) {
  for (const [name, help, read] of FIGURES) {
    new Gauge({
      name,
      help,
      labelNames: ['namespace', 'process'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, live] of hub()?.live() ?? []) {
          const v = read(live);
          if (v === undefined) continue;
          const { namespace, name: process } = splitKey(key);
          this.set({ namespace, process }, v);
        }
      },
    });
  }
  const reports = new Counter({
    name: 'corecast_progress_reports_total',
    help: 'Progress reports from FFmpeg pods, by result (accepted, refused).',
    labelNames: ['result'],
    registers: [registry],
  });
  const writes = new Counter({
    name: 'corecast_progress_status_writes_total',
    help: 'Progress status writes to the API server, by result (ok, gone, error).',
    labelNames: ['result'],
    registers: [registry],
  });
  const deferred = new Counter({
    name: 'corecast_progress_status_writes_deferred_total',
    help: 'Progress status writes put off to the next round by maxStatusWritesPerSecond.',
    registers: [registry],
  });
  const writer: WriterMetrics = { wrote: (result) => writes.inc({ result }), deferred: (n) => deferred.inc(n) };
  return { writer, report: (accepted: boolean) => reports.inc({ result: accepted ? 'accepted' : 'refused' }) };
}
