/**
 * Records events.k8s.io/v1 Events about a Process. eventTime is a MicroTime (the API server
 * refuses the millisecond form a plain Date serialises to), so it is client-node's V1MicroTime.
 *
 * Like client-go's EventCorrelator spam filter, each Process may record a burst of 25 Events,
 * then one more every 5 minutes: a command that fails in a tight reconnect loop cannot flood
 * the namespace.
 */
import { API_VERSION, KIND } from '@corecast/api';
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.ts';
import type { Kube } from './client.ts';

/** events.k8s.io `reportingController`. */
export const REPORTING_CONTROLLER = 'corecast.dev/operator';

/** The object an Event is about. */
export interface EventTarget {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

/** One Event. */
export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

const BURST = 25;
const REFILL_MS = 5 * 60_000;

/** Writes Events for the operator. */
export class EventRecorder {
  readonly #kube: Kube;
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(kube: Kube, instance: string, clock: Clock, log: Logger) {
    this.#kube = kube;
    this.#instance = instance.slice(0, 128);
    this.#clock = clock;
    this.#log = log;
  }

  /** Records an Event; failures are logged, never thrown (an Event is not worth a retry). */
  async record(target: EventTarget, e: EventInput): Promise<void> {
    if (!this.#take(target.uid)) {
      this.#log.debug({ process: `${target.namespace}/${target.name}`, reason: e.reason }, 'event dropped by the spam filter');
      return;
    }
    const now = this.#clock.now();
    const suffix = `${now.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    try {
      await this.#kube.events.createNamespacedEvent({
        namespace: target.namespace,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${target.name}.${suffix}`, namespace: target.namespace },
          eventTime: new V1MicroTime(now),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.#instance,
          action: e.action,
          reason: e.reason,
          type: e.type,
          note: e.note.length > 1024 ? `${e.note.slice(0, 1021)}...` : e.note,
          regarding: { apiVersion: API_VERSION, kind: KIND, name: target.name, namespace: target.namespace, uid: target.uid },
        },
      });
    } catch (err) {
      this.#log.warn({ process: `${target.namespace}/${target.name}`, err: String(err), reason: e.reason }, 'could not record an event');
    }
  }

  #take(key: string): boolean {
    const now = this.#clock.now();
    const b = this.#buckets.get(key) ?? { tokens: BURST, at: now };
    b.tokens = Math.min(BURST, b.tokens + (now - b.at) / REFILL_MS);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
    return true;
  }

  /** Forgets a Process (after it is deleted). */
  forget(uid: string): void {
    this.#buckets.delete(uid);
  }
}
