/**
 * What replica 0 knows of its siblings: the relay-targets list (who they are, which are
 * draining) and each one's room (`GET /room`: viewers, cap, draining), polled every second and
 * corrected by every answer to a forwarded POST. `placementOrder` turns that into the order in
 * which a new viewer's POST is tried.
 */
import type { RelayTarget } from '@corecast/api';
import type { Logger } from '../log.ts';

/** A replica's viewers, its cap and whether it drains (the body of GET /room). */
export interface Room {
  readonly viewers: number;
  readonly max: number;
  readonly draining: boolean;
}

/** A sibling as placement sees it: its index, its last known room (undefined: never answered, or not lately), its drain flag. */
export interface SiblingRoom {
  readonly index: number;
  readonly room: Room | undefined;
  readonly draining: boolean;
}

/**
 * Where a new viewer is tried, in order: `'local'` (this replica) or a sibling's index. This
 * replica first when it has room and holds no more viewers than the least loaded sibling that
 * can take one; then the siblings with room, least loaded first (ties: lowest index); this
 * replica last if it has room but was not first (a sibling's count may be stale and its answer
 * a 503). Draining replicas and siblings whose room is unknown are never tried.
 */
export function placementOrder(local: Room, siblings: readonly SiblingRoom[]): ('local' | number)[] {
  const open = siblings
    .filter(
      (s): s is SiblingRoom & { room: Room } => s.room !== undefined && !s.draining && !s.room.draining && s.room.viewers < s.room.max,
    )
    .sort((a, b) => a.room.viewers - b.room.viewers || a.index - b.index)
    .map((s) => ({ index: s.index, viewers: s.room.viewers }));
  const localOpen = !local.draining && local.viewers < local.max;
  const order: ('local' | number)[] = open.map((s) => s.index);
  if (!localOpen) return order;
  return open.length === 0 || local.viewers <= open[0]!.viewers ? ['local', ...order] : [...order, 'local'];
}

/** How often each sibling's room is asked (ms). */
export const ROOM_POLL_MS = 1000;

/** A sibling: its target entry, its room as last heard. */
interface Sibling {
  target: RelayTarget;
  room: Room | undefined;
}

/** The siblings of replica 0 and their rooms. */
export class Siblings {
  readonly #log: Logger | undefined;
  readonly #pollMs: number;
  #byIndex = new Map<number, Sibling>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;

  constructor(options: { log?: Logger | undefined; pollMs?: number } = {}) {
    this.#log = options.log;
    this.#pollMs = options.pollMs ?? ROOM_POLL_MS;
  }

  /** Starts polling every sibling's room. */
  start(): void {
    this.#timer = setInterval(() => void this.poll(), this.#pollMs);
    this.#timer.unref();
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** A new targets list: siblings keep their last room while listed; new ones are asked at once. */
  setTargets(targets: readonly RelayTarget[]): void {
    const next = new Map<number, Sibling>();
    for (const target of targets) {
      const known = this.#byIndex.get(target.index);
      const same = known && known.target.address === target.address && known.target.httpPort === target.httpPort;
      next.set(target.index, { target, room: same ? known.room : undefined });
    }
    this.#byIndex = next;
    void this.poll();
  }

  /** The target entry of replica `index`, if listed (a session's owner, draining or not). */
  target(index: number): RelayTarget | undefined {
    return this.#byIndex.get(index)?.target;
  }

  /** Every sibling as placement sees it. */
  rooms(): SiblingRoom[] {
    return [...this.#byIndex.values()].map((s) => ({ index: s.target.index, room: s.room, draining: s.target.draining }));
  }

  /**
   * A forwarded request's answer, between two polls: a POST's 201 took a slot, its 503 means
   * full until the next poll says otherwise, a DELETE's 200 freed a slot.
   */
  answered(index: number, method: string, status: number): void {
    const s = this.#byIndex.get(index);
    if (!s?.room) return;
    const { viewers, max } = s.room;
    if (method === 'POST' && status === 201) s.room = { ...s.room, viewers: viewers + 1 };
    else if (method === 'POST' && status === 503) s.room = { ...s.room, viewers: Math.max(viewers, max) };
    else if (method === 'DELETE' && status === 200) s.room = { ...s.room, viewers: Math.max(0, viewers - 1) };
  }

  /** A sibling that could not be reached: not tried again until it answers a poll. */
  unreachable(index: number): void {
    const s = this.#byIndex.get(index);
    if (s) s.room = undefined;
  }

  /** Asks every sibling for its room once (also what the timer does); a call during a poll waits for that one. */
  poll(): Promise<void> {
    this.#polling ??= Promise.all([...this.#byIndex.values()].map((s) => this.#ask(s))).then(
      () => {
        this.#polling = undefined;
      },
      () => {
        this.#polling = undefined;
      },
    );
    return this.#polling;
  }

  async #ask(s: Sibling): Promise<void> {
    const { address, httpPort, index } = s.target;
    try {
      const res = await fetch(`http://${hostOf(address)}:${httpPort}/room`, {
        signal: AbortSignal.timeout(Math.max(200, this.#pollMs - 100)),
      });
      const body = (await res.json()) as Partial<Room>;
      if (!res.ok || typeof body.viewers !== 'number' || typeof body.max !== 'number' || typeof body.draining !== 'boolean') {
        throw new Error(`answered ${res.status}`);
      }
      if (this.#byIndex.get(index) !== s) return;
      if (!s.room) this.#log?.info({ replica: index, ...body }, 'replica answers');
      s.room = { viewers: body.viewers, max: body.max, draining: body.draining };
    } catch (err) {
      if (s.room) this.#log?.warn({ replica: index, err: (err as Error).message }, 'replica does not answer: no viewer is placed there');
      s.room = undefined;
    }
  }
}

/** An address as the host of a URL (IPv6 in brackets). */
export function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
