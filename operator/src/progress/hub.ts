/**
 * The latest progress of every running Process, and the one writer that puts it into the
 * status. FFmpeg pods report (server.ts) about every `reportIntervalSeconds`; egress pods are
 * asked for their viewers (viewers.ts). Nothing is written per report: every
 * `statusIntervalSeconds` the writer compares each Process's latest figures with the status the
 * cache shows and writes those that differ, oldest write first, at most
 * `maxStatusWritesPerSecond × statusIntervalSeconds` per round, so however many reports arrive
 * the API server sees at most one write per Process per round and a fixed ceiling overall.
 * Figures go stale (and are removed from the status) when their pod stops reporting or is no
 * longer the Process's FFmpeg pod.
 *
 * The writes are server-side applies of `status.progress` and `status.viewers` only, under a
 * field manager of their own: the reconciler's status applies never touch them, and these never
 * touch the reconciler's fields. No resourceVersion precondition: the figures are the latest
 * whatever else changed.
 */
import { GROUP, KIND, PLURAL, type ProcessProgress, VERSION } from '@corecast/api';
import { PatchStrategy } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { stableStringify } from '../children/hash.ts';
import { isNotFound, type Kube } from '../kube/client.ts';
import { splitKey } from '../kube/types.ts';
import { rfc3339 } from '../reconcile/status.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { type Endpoints, headerLines, parseProgressBlock, toStatusProgress } from './parse.ts';
import { type Headers, parseHeaders } from './streams.ts';

/** The field manager of the progress writes. */
export const PROGRESS_FIELD_MANAGER = 'corecast-progress';

/** What the hub reads from the operator's caches. */
export interface ProgressSources {
  /** A cached Process's inputs and outputs and the uid of its FFmpeg pod (undefined: no such Process). */
  process(key: string): { endpoints: Endpoints; ffmpegPodUid: string | undefined } | undefined;
  /** The live part (`progress`, `viewers`) of a cached Process's status. */
  shown(key: string): LiveStatus;
  /** Keys of cached Processes whose status shows progress or viewers. */
  showing(): readonly string[];
}

/** The part of the status this module owns. */
export interface LiveStatus {
  progress?: ProcessProgress;
  viewers?: number;
}

/** Settings (config.progress). */
export interface HubSettings {
  readonly reportIntervalSeconds: number;
  readonly statusIntervalSeconds: number;
  readonly maxStatusWritesPerSecond: number;
}

interface Report {
  readonly progress: ProcessProgress;
  readonly podUid: string;
  readonly at: number;
  /** What FFmpeg's header lines said, once the pod sent them (kept for the pod's later reports). */
  readonly headers: Headers | undefined;
}

/** Why a report was refused (the HTTP answer says the same). */
export type Refusal = 'unknown-process' | 'not-its-pod' | 'not-a-block';

/** Counters the writer reports to (metrics.ts). */
export interface WriterMetrics {
  wrote(result: 'ok' | 'gone' | 'error'): void;
  deferred(n: number): void;
}

/** Latest figures per Process key, and the status writer. */
export class ProgressHub {
  readonly #reports = new Map<string, Report>();
  readonly #viewers = new Map<string, { n: number; at: number }>();
  /** Each egress pod's latest count, by pod uid (a Process with several replicas has several). */
  readonly #podViewers = new Map<string, { key: string; n: number; at: number }>();
  readonly #lastWrite = new Map<string, number>();
  readonly #s: HubSettings;
  readonly #sources: ProgressSources;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  #round: Promise<void> = Promise.resolve();
  #running = false;
  /** When this replica started writing: a new leader has no reports yet, and clears nothing until they had time to come. */
  #since = 0;
  /** Write rounds run so far (tests bound the writes by it). */
  rounds = 0;

  constructor(settings: HubSettings, sources: ProgressSources, clock: Clock) {
    this.#s = settings;
    this.#sources = sources;
    this.#clock = clock;
  }

  /** How old a report or viewer count may be before it no longer counts. */
  get staleMs(): number {
    return Math.max(3 * this.#s.reportIntervalSeconds, 2 * this.#s.statusIntervalSeconds) * 1000;
  }

  /** Takes one report from the FFmpeg pod `podUid` of Process `key`. */
  report(key: string, podUid: string, text: string): Refusal | undefined {
    const proc = this.#sources.process(key);
    if (!proc) return 'unknown-process';
    if (!podUid || proc.ffmpegPodUid !== podUid) return 'not-its-pod';
    const figures = parseProgressBlock(text);
    if (!figures) return 'not-a-block';
    const now = this.#clock.now();
    const lines = headerLines(text);
    const prev = this.#reports.get(key);
    const headers = lines ? parseHeaders(lines) : prev?.podUid === podUid ? prev.headers : undefined;
    const progress = toStatusProgress(figures, proc.endpoints, rfc3339(now), headers);
    this.#reports.set(key, { progress, podUid, at: now, headers });
    return undefined;
  }

  /** Whether the hub lacks the header lines of pod `podUid` (the answer to its report asks for them). */
  wantsHeaders(key: string, podUid: string): boolean {
    const r = this.#reports.get(key);
    return !r || r.podUid !== podUid || r.headers === undefined;
  }

  /** Records the viewer count of Process `key`'s egress pod. */
  setViewers(key: string, n: number): void {
    this.#viewers.set(key, { n, at: this.#clock.now() });
  }

  /**
   * Records the viewer count of one egress pod of Process `key`; the Process's count is the sum
   * over its pods whose counts are fresh. True when this pod's count is new or changed.
   */
  setPodViewers(key: string, podUid: string, n: number): boolean {
    const now = this.#clock.now();
    const prev = this.#podViewers.get(podUid);
    this.#podViewers.set(podUid, { key, n, at: now });
    let total = 0;
    for (const [uid, v] of this.#podViewers) {
      if (now - v.at > this.staleMs) this.#podViewers.delete(uid);
      else if (v.key === key) total += v.n;
    }
    this.setViewers(key, total);
    return prev?.n !== n || prev.key !== key;
  }

  /** The fresh viewer count of the egress pod `podUid`, or undefined while none is known. */
  podViewers(podUid: string): number | undefined {
    const v = this.#podViewers.get(podUid);
    return v && this.#clock.now() - v.at <= this.staleMs ? v.n : undefined;
  }

  /** What the status should show for `key` now. */
  desired(key: string): LiveStatus {
    const now = this.#clock.now();
    const out: LiveStatus = {};
    const r = this.#reports.get(key);
    if (r && now - r.at <= this.staleMs && this.#sources.process(key)?.ffmpegPodUid === r.podUid) out.progress = r.progress;
    else if (r) this.#reports.delete(key);
    const v = this.#viewers.get(key);
    if (v && now - v.at <= this.staleMs && this.#sources.process(key)) out.viewers = v.n;
    else if (v) this.#viewers.delete(key);
    return out;
  }

  /** Every Process with live figures now (for /metrics). */
  live(): [string, LiveStatus][] {
    const keys = new Set([...this.#reports.keys(), ...this.#viewers.keys()]);
    return [...keys].map((k) => [k, this.desired(k)] as [string, LiveStatus]).filter(([, l]) => l.progress || l.viewers !== undefined);
  }

  /**
   * The writes one round would make now: keys whose status differs from what it should show,
   * oldest write first, cut at the round's budget. Pure apart from reading the caches.
   */
  plan(): { due: { key: string; status: LiveStatus }[]; deferred: number } {
    const keys = new Set([...this.#reports.keys(), ...this.#viewers.keys(), ...this.#sources.showing()]);
    const differing: { key: string; status: LiveStatus; last: number }[] = [];
    for (const key of keys) {
      const status = this.desired(key);
      if (stableStringify(status) === stableStringify(this.#sources.shown(key))) continue;
      if (!status.progress && status.viewers === undefined && this.#clock.now() - this.#since < this.staleMs) continue;
      if (!this.#sources.process(key)) continue;
      differing.push({ key, status, last: this.#lastWrite.get(key) ?? 0 });
    }
    differing.sort((a, b) => a.last - b.last || a.key.localeCompare(b.key));
    const budget = Math.max(1, Math.floor(this.#s.maxStatusWritesPerSecond * this.#s.statusIntervalSeconds));
    return {
      due: differing.slice(0, budget).map(({ key, status }) => ({ key, status })),
      deferred: Math.max(0, differing.length - budget),
    };
  }

  /**
   * Starts writing rounds (the leader only). `poll`, when given, runs at the start of each round
   * (the viewer counts); its results reach the status in the rounds after it finishes.
   */
  start(kube: Kube, log: Logger, metrics?: WriterMetrics, poll?: () => Promise<void>): void {
    if (this.#running) return;
    this.#running = true;
    this.#since = this.#clock.now();
    let polling = false;
    const tick = () => {
      if (!this.#running) return;
      if (poll && !polling) {
        polling = true;
        void poll()
          .catch((err: unknown) => log.warn({ err }, 'viewer poll failed'))
          .finally(() => (polling = false));
      }
      this.#round = this.writeRound(kube, log, metrics).then(
        () => undefined,
        () => undefined,
      );
      void this.#round.finally(() => {
        if (this.#running) this.#timer = this.#clock.after(this.#s.statusIntervalSeconds * 1000, tick);
      });
    };
    this.#timer = this.#clock.after(this.#s.statusIntervalSeconds * 1000, tick);
  }

  /** Stops after the round in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    await this.#round;
  }

  /** One round: plans, then writes with a few requests in flight. */
  async writeRound(kube: Kube, log: Logger, metrics?: WriterMetrics): Promise<number> {
    this.rounds++;
    const { due, deferred } = this.plan();
    metrics?.deferred(deferred);
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const { key, status } = due[next++]!;
        this.#lastWrite.set(key, this.#clock.now());
        try {
          await applyLiveStatus(kube, key, status);
          metrics?.wrote('ok');
        } catch (err) {
          if (isNotFound(err)) {
            this.#reports.delete(key);
            this.#viewers.delete(key);
            metrics?.wrote('gone');
          } else {
            metrics?.wrote('error');
            log.warn({ err, process: key }, 'progress status write failed');
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, due.length) }, worker));
    return due.length;
  }
}

/** Server-side apply of the live part of a Process's status (an empty one removes it). */
export async function applyLiveStatus(kube: Kube, key: string, status: LiveStatus): Promise<void> {
  const { namespace, name } = splitKey(key);
  await kube.send('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}/status`, {
    query: { fieldManager: PROGRESS_FIELD_MANAGER, force: 'true' },
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace }, status },
    contentType: PatchStrategy.ServerSideApply,
  });
}
