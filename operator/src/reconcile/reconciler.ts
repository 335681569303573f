/**
 * The Process reconciler: gather → decide → act, safe to run any number of times.
 * Only this file talks to the API server on a reconcile's behalf.
 */
import { KIND } from '@corecast/api';
import type { Logger } from 'pino';
import type { OperatorConfig } from '../config.ts';
import { applyChild, applyStatus, deleteChild, KIND_NAMES, readChild } from '../kube/apply.ts';
import { isConflict, type Kube } from '../kube/client.ts';
import type { EventRecorder } from '../kube/recorder.ts';
import type { ChildKind } from '../kube/sources.ts';
import type { Clock } from '../runtime/clock.ts';
import { ConflictError, type Result } from '../runtime/controller.ts';
import { decide } from './decide.ts';
import { type Caches, gather } from './gather.ts';
import type { Resolve } from './load-balancer.ts';
import { type EgressPods, MediaInputs } from './media-inputs.ts';
import type { ApplyAction, Observed, Plan } from './types.ts';

/** A child's name is held by an object that some other owner controls. */
export class NameTakenError extends Error {
  constructor(kind: ChildKind, name: string) {
    super(`${KIND_NAMES[kind]} ${name} already exists and is not managed by this Process`);
    this.name = 'NameTakenError';
  }
}

/** How long to wait before trying again when a child's name is taken (any change to the Process also retries). */
const NAME_TAKEN_RETRY_MS = 60_000;

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

    // 1. Read the Process and its children from the caches. Gone or being deleted: the
    //    garbage collector removes the children (owner references), nothing to do.
    const gathered = gather(key, caches);
    // With a media Service its load balancer's address (a host name is resolved here, so decide
    // stays pure); with host networking the slot of host ports the egress pod holds.
    const observed = await this.#media.observe(key, gathered);
    if (!observed) return {};

    // 2. Decide.
    const ctx = { config, now: clock.now(), baseUrl };
    let plan = decide(observed, ctx);

    // 3. Act: deletes and applies (independent of each other, so at once).
    try {
      await Promise.all([
        ...plan.deletes.map((d) => deleteChild(this.#d.kube, d.kind, observed.process.namespace, d.name, d.uid)),
        ...plan.applies.map((a) => this.#apply(observed, a)),
      ]);
    } catch (err) {
      if (!(err instanceof NameTakenError)) throw err;
      plan = decide(observed, { ...ctx, nameTaken: err.message });
      await this.#finish(observed, plan, log);
      return { requeueAfterMs: NAME_TAKEN_RETRY_MS };
    }
    if (plan.applies.length + plan.deletes.length > 0) {
      log.info(
        {
          applied: plan.applies.map(
            (a) => `${KIND_NAMES[a.kind]}/${a.object.metadata?.name} (${a.verb}${a.drift ? ` at ${a.drift}` : ''})`,
          ),
          deleted: plan.deletes.map((d) => `${KIND_NAMES[d.kind]}/${d.name}`),
        },
        'children changed',
      );
    }

    // 4. Status (only when it changed) and 5. Events.
    await this.#finish(observed, plan, log);

    // 6. Look again when a reconnect is due.
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
  };

  async #finish(observed: Observed, plan: Plan, log: Logger): Promise<void> {
    const { name, namespace, uid } = observed.process;
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
    await Promise.all(plan.events.map((e) => this.#d.recorder.record({ name, namespace, uid }, e)));
  }

  /**
   * Applies a child. Before a create the name is looked up: the caches only hold objects with
   * the operator's label, and a server-side apply would merge into a stranger's object with the
   * same name (adding fields and an owner reference) instead of failing. An existing object is
   * taken over only when it is this Process's (the cache lagged, a label was edited away, or an
   * earlier Process of the same name left it for the garbage collector).
   */
  async #apply(observed: Observed, a: ApplyAction): Promise<void> {
    const { kube } = this.#d;
    if (a.force) {
      await applyChild(kube, a.kind, a.object, true);
      return;
    }
    const name = a.object.metadata?.name ?? '';
    const existing = await readChild(kube, a.kind, observed.process.namespace, name);
    if (existing) {
      const controller = existing.metadata?.ownerReferences?.find((r) => r.controller);
      const ours = controller?.uid === observed.process.uid || (controller?.kind === KIND && controller.name === observed.process.name);
      if (!ours) throw new NameTakenError(a.kind, name);
    }
    await applyChild(kube, a.kind, a.object, existing !== undefined);
  }
}
