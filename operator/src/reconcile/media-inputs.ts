/**
 * What a reconcile must know about how viewers reach a Process's media before it can decide,
 * found here so decide stays pure: a load balancer's address (a host name is resolved), and with
 * host networking the slot of host ports the egress pod holds (taken here, since taking one is a
 * side effect). A NodePort Service's node ports need nothing more: decide reads them from the
 * Service in the cache.
 */
import { LABELS } from '@corecast/api';
import { mediaMode } from '../children/media-ports.ts';
import type { OperatorConfig } from '../config.ts';
import type { DeepReadonly, Pod } from '../kube/types.ts';
import { replicaIndex } from './decide-replicas.ts';
import { HostPortSlots } from './host-ports.ts';
import { mediaAddress, type Resolve, systemResolve } from './load-balancer.ts';
import type { Observed } from './types.ts';

/** Every egress pod in the caches (the slots they hold). */
export type EgressPods = () => readonly DeepReadonly<Pod>[];

/** Keeps the egress pods among a list of cached pods. */
export function egressPodsOf(pods: readonly DeepReadonly<Pod>[]): DeepReadonly<Pod>[] {
  return pods.filter((p) => p.metadata?.labels?.[LABELS.component] === 'egress');
}

/** The media inputs of one operator instance's reconciles. */
export class MediaInputs {
  readonly #config: OperatorConfig;
  readonly #resolve: Resolve;
  readonly #egressPods: EgressPods;
  readonly slots: HostPortSlots;

  constructor(config: OperatorConfig, egressPods: EgressPods, resolve: Resolve = systemResolve) {
    this.#config = config;
    this.#egressPods = egressPods;
    this.#resolve = resolve;
    this.slots = new HostPortSlots(config);
  }

  /**
   * The observed state of Process `key` with its media inputs; undefined (and its slot given up)
   * when the Process is gone. The slot is held only while the Process has WebRTC on under host
   * networking; its pod keeps it from other Processes for as long as it exists.
   */
  async observe(key: string, gathered: Observed | undefined): Promise<Observed | undefined> {
    const mode = mediaMode(this.#config);
    if (!gathered || mode !== 'hostNetwork' || !gathered.process.spec.webrtc.enabled) this.slots.release(key);
    if (!gathered) return undefined;
    if (mode === 'loadBalancer' && gathered.mediaService) {
      return { ...gathered, mediaAddress: await mediaAddress(gathered.mediaService, this.#config.egress.ice.ipv6, this.#resolve) };
    }
    if (mode === 'hostNetwork' && gathered.process.spec.webrtc.enabled) {
      const hostSlot = this.slots.take(key, gathered.egressPod, this.#egressPods());
      return { ...gathered, hostSlot, replicaSlots: this.#replicaSlots(key, gathered) };
    }
    return gathered;
  }

  /**
   * The slots of the other replicas: one for each replica running (its pod's) and each one the
   * last decision wanted (status.webrtc.replicas, else spec.webrtc.replicas). A scale-up is
   * recorded in the status first, so its new pods get their slots on the next pass; slots past
   * both are given up. A replica whose slot cannot be had is left out (decide waits for it).
   */
  #replicaSlots(key: string, o: Observed): Map<number, number> {
    const pods = new Map((o.egressReplicas ?? []).map((pod) => [replicaIndex(pod), pod]));
    const wanted = Math.max(o.status.webrtc?.replicas ?? o.process.spec.webrtc.replicas ?? 1, 1);
    const count = Math.max(wanted, ...[...pods.keys()].map((i) => i + 1));
    const slots = new Map<number, number>();
    for (let index = 1; index < count; index++) {
      const taken = this.slots.take(`${key}#${index}`, pods.get(index), this.#egressPods());
      if ('slot' in taken) slots.set(index, taken.slot);
    }
    this.slots.releaseReplicas(key, count);
    return slots;
  }
}
