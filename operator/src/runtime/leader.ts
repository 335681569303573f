/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package
 * does it (LeaseLock):
 *
 * - a candidate takes the Lease when it is free (no holder, e.g. released) or expired; expiry
 *   is judged by when this candidate last saw the record change, plus leaseDuration, never by
 *   the holder's clock (clocks of different machines disagree);
 * - every write is an update carrying the resourceVersion read, so of two candidates racing
 *   for an expired Lease one wins and the other gets 409;
 * - the leader renews every retryPeriod; if it cannot renew within renewDeadline it has lost
 *   (another may already hold the Lease) and must stop at once. Each renewal attempt (the read
 *   and the replace) is raced against the time left before that deadline, as client-go runs it
 *   under a context that ends there: a request that hangs counts as a failed renewal, so a
 *   leader cannot go on reconciling past the deadline while its Lease expires;
 * - on a clean stop the leader releases the Lease (empty holder), so a standby takes over
 *   without waiting for it to expire.
 *
 * Lease times are MicroTime: client-node's V1MicroTime serialises with microseconds.
 */
import { withTimeout } from '@corecast/api';
import { type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, type Kube } from '../kube/client.ts';
import { type Clock, sleep, systemClock } from './clock.ts';

/** Settings of an election (client-go's LeaderElectionConfig). */
export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  /** This candidate's identity (the pod name). */
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/** Called when this candidate starts or stops leading. */
export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Leadership lost (renewal failed) or released on stop. */
  onStoppedLeading(reason: 'lost' | 'released'): void;
}

/** A comparable form of a Lease's spec. */
function recordOf(lease: V1Lease): string {
  const s = lease.spec ?? {};
  return JSON.stringify([
    s.holderIdentity ?? '',
    s.leaseDurationSeconds,
    String(s.renewTime ?? ''),
    String(s.acquireTime ?? ''),
    s.leaseTransitions,
  ]);
}

/** One candidate. */
export class LeaderElector {
  readonly #kube: Kube;
  readonly #o: LeaderElectionOptions;
  readonly #cb: LeaderCallbacks;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #leading = false;
  #observedRecord = '';
  #observedTime = 0;
  #run: Promise<void> | undefined;

  constructor(kube: Kube, opts: LeaderElectionOptions, callbacks: LeaderCallbacks, log: Logger, clock: Clock = systemClock) {
    this.#kube = kube;
    this.#o = opts;
    this.#cb = callbacks;
    this.#clock = clock;
    this.#log = log.child({ lease: `${opts.namespace}/${opts.name}` });
  }

  /** True while this candidate holds the Lease. */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.#run ??= this.#campaign().catch((err: unknown) => {
      this.#log.error({ err }, 'leader election stopped');
    });
  }

  /** Stops campaigning; a leader releases the Lease first. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('stopping'));
    await this.#run;
    if (this.#leading) {
      this.#leading = false;
      // Bounded like a renewal: a hanging request must not hold up shutdown.
      const released = await this.#answerBefore(
        this.#release().then(() => true),
        this.#clock.now() + this.#o.renewDeadlineMs,
      );
      if (released === undefined) this.#log.warn('releasing the Lease got no answer in time; it expires by itself');
      this.#cb.onStoppedLeading('released');
    }
  }

  async #campaign(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#o;
    const signal = this.#stop.signal;
    // Acquire.
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) break;
      if (!(await this.#pause(retryPeriodMs * (1 + Math.random() * 0.2)))) return;
    }
    if (signal.aborted) return;
    this.#leading = true;
    this.#log.info({ identity: this.#o.identity }, 'became the leader');
    this.#cb.onStartedLeading();
    // Renew, until a renewal fails for renewDeadline.
    while (!signal.aborted) {
      if (!(await this.#pause(retryPeriodMs))) return;
      const deadline = this.#clock.now() + renewDeadlineMs;
      let renewed = false;
      while (!signal.aborted && this.#clock.now() < deadline) {
        if (await this.#renewBefore(deadline)) {
          renewed = true;
          break;
        }
        const left = deadline - this.#clock.now();
        if (left <= 0) break;
        if (!(await this.#pause(Math.min(retryPeriodMs, left)))) return;
      }
      if (signal.aborted) return;
      if (!renewed) {
        this.#leading = false;
        this.#log.error('could not renew the Lease within the renew deadline: leadership lost');
        this.#cb.onStoppedLeading('lost');
        return;
      }
    }
  }

  /**
   * One renewal attempt that must answer before `deadline`: false when it fails, when the
   * deadline passes first (the request is left to finish on its own; its answer no longer
   * counts) or when the elector is stopped meanwhile.
   */
  async #renewBefore(deadline: number): Promise<boolean> {
    const renewed = await this.#answerBefore(this.#tryAcquireOrRenew(), deadline, this.#stop.signal);
    if (renewed === undefined && !this.#stop.signal.aborted) {
      this.#log.warn('renewing the Lease got no answer before the renew deadline');
    }
    return renewed === true;
  }

  /** `work`'s answer, or undefined when the clock reaches `deadline` or `signal` aborts first. */
  #answerBefore<T>(work: Promise<T>, deadline: number, signal?: AbortSignal): Promise<T | undefined> {
    const ms = Math.max(0, deadline - this.#clock.now());
    return withTimeout(work, ms, () => undefined, { signal, timer: this.#clock });
  }

  /** Sleeps unless stopped; false when stopped. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(this.#clock, ms, this.#stop.signal);
      return true;
    } catch {
      return false;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.#o;
    const api = this.#kube.coordination;
    const now = this.#clock.now();
    const leaseDurationSeconds = Math.max(1, Math.round(leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.#log.warn({ err: String(err) }, 'cannot read the Lease');
        return false;
      }
      try {
        const created = await api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: new V1MicroTime(now),
              renewTime: new V1MicroTime(now),
              leaseTransitions: 0,
            },
          },
        });
        this.#observe(created, now);
        return true;
      } catch (createErr) {
        if (!isConflict(createErr)) this.#log.warn({ err: String(createErr) }, 'cannot create the Lease');
        return false;
      }
    }
    const record = recordOf(lease);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedTime = now;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const observedDuration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && this.#observedTime + observedDuration > now) return false;
    const mine = holder === identity;
    try {
      const updated = await api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: mine && spec.acquireTime ? new V1MicroTime(spec.acquireTime) : new V1MicroTime(now),
            renewTime: new V1MicroTime(now),
            leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
          },
        },
      });
      this.#observe(updated, now);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.#log.warn({ err: String(err) }, 'cannot update the Lease');
      return false;
    }
  }

  #observe(lease: V1Lease, now: number): void {
    this.#observedRecord = recordOf(lease);
    this.#observedTime = now;
  }

  /** Gives the Lease up: empty holder, so the next candidate need not wait for expiry. */
  async #release(): Promise<void> {
    const { namespace, name, identity } = this.#o;
    try {
      const lease = await this.#kube.coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const now = this.#clock.now();
      await this.#kube.coordination.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
          spec: {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: new V1MicroTime(now),
            renewTime: new V1MicroTime(now),
            leaseTransitions: lease.spec?.leaseTransitions ?? 0,
          },
        },
      });
      this.#log.info('released the Lease');
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'could not release the Lease; it expires by itself');
    }
  }
}
