/**
 * Host networking: which slot of host ports (media-ports.ts) each Process's egress pod holds, so
 * that egress pods sharing a node never want the same port.
 *
 * Every replica's pod holds a slot of its own (replica i ≥ 1 under the key `<process>#<i>`), so
 * replicas of one Process can share a node.
 *
 * Slots are unique across every egress pod the operator manages, not only per node: the operator
 * picks a slot before the scheduler picks a node. A running pod's slot is read from the pod itself
 * (its `ice-udp` host port), so a restarted operator, or a new leader, learns every slot from its
 * caches. Between a pod's deletion and its replacement, and before a new pod reaches the cache,
 * the slot is held here, so two Processes reconciled at once never get one slot. JavaScript runs
 * one reconcile step at a time, so taking a slot (read, pick, record) cannot interleave.
 *
 * The pods also declare their ports as host ports, so even a second installation with the same
 * ranges cannot put two pods wanting one port on a node: the scheduler keeps them apart.
 */
import { heldIcePort, hostSlotCapacity, slotOfIcePort } from '../children/media-ports.ts';
import type { OperatorConfig } from '../config.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';

/** What a reconcile learns about its Process's slot. */
export type SlotResult = { readonly slot: number } | { readonly exhausted: number };

/** The slots of one operator instance. */
export class HostPortSlots {
  readonly #config: OperatorConfig;
  /** Slots held by Process key, whether or not their pod exists yet. */
  readonly #held = new Map<string, number>();

  constructor(config: OperatorConfig) {
    this.#config = config;
  }

  /**
   * The slot of Process `key`: its egress pod's, else the one it holds, else the lowest one no
   * other Process holds and no other egress pod uses (`pods`: every egress pod in the caches).
   * `{exhausted: n}` when all n slots are taken.
   */
  take(key: string, own: DeepReadonly<Pod> | undefined, pods: readonly DeepReadonly<Pod>[]): SlotResult {
    const ownSlot = slotOfIcePort(this.#config, heldIcePort(own));
    if (ownSlot !== undefined) {
      this.#held.set(key, ownSlot);
      return { slot: ownSlot };
    }
    const used = new Set<number>();
    for (const [k, slot] of this.#held) if (k !== key) used.add(slot);
    for (const pod of pods) {
      const slot = slotOfIcePort(this.#config, heldIcePort(pod));
      if (slot !== undefined) used.add(slot);
    }
    const mine = this.#held.get(key);
    if (mine !== undefined && !used.has(mine)) return { slot: mine };
    const capacity = hostSlotCapacity(this.#config);
    for (let slot = 0; slot < capacity; slot++) {
      if (!used.has(slot)) {
        this.#held.set(key, slot);
        return { slot };
      }
    }
    this.#held.delete(key);
    return { exhausted: capacity };
  }

  /** Gives up the slot of Process `key` (deleted, WebRTC off) and its replicas': their pods are gone or going. */
  release(key: string): void {
    this.#held.delete(key);
    this.releaseReplicas(key, 1);
  }

  /** Gives up the slots of Process `key`'s replicas from index `from` on (scaled down, their pods gone). */
  releaseReplicas(key: string, from: number): void {
    for (const k of [...this.#held.keys()]) {
      const m = k.startsWith(`${key}#`) ? Number(k.slice(key.length + 1)) : Number.NaN;
      if (m >= from) this.#held.delete(k);
    }
  }

  /** The number of slots held (for tests). */
  get size(): number {
    return this.#held.size;
  }
}
