/**
 * The Process reconciler: gather → decide → act, safe to run any number of times.
 * Only this file talks to the API server on a reconcile's behalf.
 */
import type { Logger } from 'pino';
import type { OperatorConfig } from '../config.ts';
import { applyChild, applyStatus, deleteChild, KIND_NAMES, readChild } from '../kube/apply.ts';
import { apiMessage, isConflict, type Kube } from '../kube/client.ts';
import type { EventRecorder } from '../kube/recorder.ts';
import type { ChildKind } from '../kube/sources.ts';
import type { Clock } from '../runtime/clock.ts';
import { ConflictError, type Result } from '../runtime/controller.ts';
import { decide } from './decide.ts';
import { type Caches, gather } from './gather.ts';
import type { Resolve } from './load-balancer.ts';
import { type EgressPods, MediaInputs } from './media-inputs.ts';
import { actionEvents } from './events.ts';
import { type ApplyAction, type DeleteAction, type EventSpec, type Observed, type Plan, writeKey } from './types.ts';

/** Some of a reconcile's writes failed; each failure is listed (the others ran to their end). */
export class WritesFailedError extends AggregateError {
  constructor(failures: readonly { what: string; err: unknown }[], total: number) {
    const why = failures.map((f) => `${f.what}: ${apiMessage(f.err)}`);
    super(
      failures.map((f) => f.err),
      `${failures.length} of ${total} writes failed: ${why.join('; ')}`,
    );
    this.name = 'WritesFailedError';
  }
}

/** The writes of a pass that went through, and those that failed. */
interface Written {
  readonly applies: ApplyAction[];
  readonly deletes: DeleteAction[];
  readonly failures: { what: string; err: unknown }[];
}

const deleteWhat = (d: DeleteAction) => `delete ${KIND_NAMES[d.kind]}/${d.name}`;
const applyWhat = (a: ApplyAction) => `${a.verb} ${KIND_NAMES[a.kind]}/${a.object.metadata?.name}${a.drift ? ` at ${a.drift}` : ''}`;

/** What the reconciler needs. */
export interface ReconcilerDeps {
  readonly kube: Kube;
  readonly caches: Caches;
  readonly config: OperatorConfig;
  readonly recorder: EventRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  readonly baseUrl: string | undefined;
  /** Resolves a load balancer's host name (media.mode loadBalancer); dns.lookup by default. */
  readonly resolve?: Resolve;
  /** Every egress pod in the caches, for the slots of host ports they hold (media.mode hostNetwork); none by default. */
  readonly egressPods?: EgressPods;
  /** The viewers an egress pod (by uid) reported lately, undefined while unknown (progress/viewers.ts); none by default. */
  readonly podViewers?: (podUid: string) => number | undefined;
}

/** Reconciles one Process per call. */
export class ProcessReconciler {
  readonly #d: ReconcilerDeps;
  readonly #media: MediaInputs;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#media = new MediaInputs(deps.config, deps.egressPods ?? (() => []), deps.resolve);
  }

  /** The reconcile function for the controller. */
  readonly reconcile = async (key: string): Promise<Result> => {
    const { caches, config, clock, baseUrl } = this.#d;
    const log = this.#d.log.child({ process: key });

    // 1. Read the Process and its children from the caches, and ask the API server whose the
    //    names of wanted children the caches do not show are. Gone or being deleted: the
    //    garbage collector removes the children (owner references), nothing to do.
    const read = (kind: ChildKind, namespace: string, name: string) => readChild(this.#d.kube, kind, namespace, name);
    const gathered = await gather(key, caches, { config, read });
    // With a media Service its load balancer's address (a host name is resolved here, so decide
    // stays pure); with host networking the slot of host ports the egress pod holds.
    const media = await this.#media.observe(key, gathered);
    if (!media) return {};
    // The viewers each egress pod reported lately (the autoscaler and status.webrtc read them).
    const observed = { ...media, viewers: this.#viewers(media) };

    // 2. Decide.
    const plan = decide(observed, { config, now: clock.now(), baseUrl });

    // 3. Act: deletes and applies (independent of each other, so at once). The Events for the
    //    writes that went through are recorded before a failed one is thrown: the retry does not
    //    plan those writes again, so it could not tell them.
    const { applies, deletes, failures } = await this.#write(observed, plan, log);
    const done = new Set([
      ...applies.map((a) => writeKey(a.kind, a.object.metadata?.name)),
      ...deletes.map((d) => writeKey(d.kind, d.name)),
    ]);
    await this.#record(observed, [
      ...actionEvents(applies, deletes),
      ...plan.events.filter((e) => e.afterWrite !== undefined && done.has(e.afterWrite)),
    ]);
    if (failures.length > 0) throw new WritesFailedError(failures, plan.applies.length + plan.deletes.length);

    // 4. Status (only when it changed) and 5. Events.
    await this.#finish(observed, plan, log);

    // 6. Look again when a reconnect is due.
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
  };

  #viewers(o: Observed): Map<string, number> {
    const counts = new Map<string, number>();
    for (const pod of [o.egressPod, ...(o.egressReplicas ?? [])]) {
      const uid = pod?.metadata?.uid;
      const n = uid ? this.#d.podViewers?.(uid) : undefined;
      if (uid && n !== undefined) counts.set(uid, n);
    }
    return counts;
  }

  async #finish(observed: Observed, plan: Plan, log: Logger): Promise<void> {
    const { name, namespace } = observed.process;
    if (plan.status) {
      try {
        await applyStatus(this.#d.kube, namespace, name, observed.resourceVersion, plan.status);
      } catch (err) {
        // The Process changed after it was read (often: the cache has not yet seen our own last write).
        if (isConflict(err)) throw new ConflictError(`status of ${namespace}/${name}: the Process changed since it was read`);
        throw err;
      }
      log.debug({ exec: plan.status.exec, ready: plan.status.conditions?.[0]?.reason }, 'status written');
    }
    await this.#record(
      observed,
      plan.events.filter((e) => e.afterWrite === undefined),
    );
  }

  async #record(observed: Observed, events: readonly EventSpec[]): Promise<void> {
    const { name, namespace, uid } = observed.process;
    await Promise.all(events.map((e) => this.#d.recorder.record({ name, namespace, uid }, e)));
  }

  /**
   * Runs every write of the plan at once and waits for all of them: a refused write neither
   * hides another's failure nor leaves writes running unseen behind an early rejection. What
   * succeeded is logged and returned; the caller throws the failures together once it has told
   * the rest (the reconcile is retried, and the status waits for a pass whose writes all went
   * through). A create never lands on a stranger's object: gather found taken names, and decide
   * plans no write then.
   */
  async #write(observed: Observed, plan: Plan, log: Logger): Promise<Written> {
    const { kube } = this.#d;
    const ns = observed.process.namespace;
    const [deletes, applies] = await Promise.all([
      Promise.allSettled(plan.deletes.map((d) => deleteChild(kube, d.kind, ns, d.name, d.uid))),
      Promise.allSettled(plan.applies.map((a) => applyChild(kube, a.kind, a.object, a.force))),
    ]);
    const written: Written = { applies: [], deletes: [], failures: [] };
    plan.deletes.forEach((d, i) => {
      const r = deletes[i];
      if (r?.status === 'fulfilled') written.deletes.push(d);
      else written.failures.push({ what: deleteWhat(d), err: r?.reason as unknown });
    });
    plan.applies.forEach((a, i) => {
      const r = applies[i];
      if (r?.status === 'fulfilled') written.applies.push(a);
      else written.failures.push({ what: applyWhat(a), err: r?.reason as unknown });
    });
    const done = [...written.deletes.map(deleteWhat), ...written.applies.map(applyWhat)];
    if (done.length > 0) log.info({ done }, 'children changed');
    return written;
  }
}
