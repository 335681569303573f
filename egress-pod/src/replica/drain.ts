/**
 * Draining a replica (docs/scale-out.md): the operator writes a deadline into the pod's
 * `corecast.dev/drain` annotation when it scales down, and deletes the pod once its viewers are
 * gone or the deadline has passed. Until then this replica takes no new viewer (its POSTs get
 * 503 + Retry-After, /room says draining, replica 0 places nobody here) and closes the viewers
 * it has one at a time, evenly spread over the time left, so their reconnects reach replica 0
 * as a trickle rather than all at once. A closed viewer sees its session end as at any other
 * server-side close; the player page reconnects through the same URL and replica 0 places it on
 * another replica (egress-pod/README.md, "Replicas").
 */
import type { Logger } from '../log.ts';
import type { CloseReason, WhepSession } from '../whep/session-types.ts';

/** RFC 3339 date-time (with a zone, as the operator writes it). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The drain file's content: `undefined` for not draining (empty), a deadline in ms since the
 * epoch, or `'unspecified'` for draining by a value that is not an RFC 3339 time (it drains
 * over drainSeconds from when it was read).
 */
export function parseDrain(text: string): number | 'unspecified' | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const ms = RFC3339.test(t) ? Date.parse(t) : Number.NaN;
  return Number.isNaN(ms) ? 'unspecified' : ms;
}

/** What a drain acts on: the replica's sessions. */
export interface DrainTarget {
  /** The sessions open now (ones still being answered are not among them yet). */
  sessions(): readonly WhepSession[];
}

/** The drain of this replica: on or off, and its schedule of closes. */
export class Drain {
  readonly #target: DrainTarget;
  readonly #maxMs: number;
  readonly #log: Logger | undefined;
  readonly #onChange: (draining: boolean) => void;
  readonly #now: () => number;
  #deadline: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** `maxSeconds`: replica.drainSeconds, the longest a drain is spread over. */
  constructor(
    target: DrainTarget,
    maxSeconds: number,
    options: { log?: Logger | undefined; onChange?: (draining: boolean) => void; now?: () => number } = {},
  ) {
    this.#target = target;
    this.#maxMs = maxSeconds * 1000;
    this.#log = options.log;
    this.#onChange = options.onChange ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /** True while draining: no new viewer is taken. */
  get draining(): boolean {
    return this.#deadline !== undefined;
  }

  /** The drain file's value (parseDrain): starts, moves or ends the drain. */
  set(value: number | 'unspecified' | undefined): void {
    const was = this.draining;
    clearTimeout(this.#timer);
    if (value === undefined) {
      this.#deadline = undefined;
      if (was) this.#log?.info('drain called off: taking viewers again');
    } else {
      const now = this.#now();
      // A deadline further away than drainSeconds (or none) is held to drainSeconds from now.
      this.#deadline = value === 'unspecified' ? now + this.#maxMs : Math.min(value, now + this.#maxMs);
      this.#log?.info(
        { deadline: new Date(this.#deadline).toISOString(), viewers: this.#target.sessions().length },
        'draining: no new viewers; the ones here are closed one by one until the deadline',
      );
      this.#schedule();
    }
    if (was !== this.draining) this.#onChange(this.draining);
  }

  /** Stops the schedule (the pod stops). */
  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The next close: the time left shared evenly by the viewers left (all at once past the deadline). */
  #schedule(): void {
    const deadline = this.#deadline;
    if (deadline === undefined) return;
    const count = this.#target.sessions().length;
    const left = deadline - this.#now();
    // Nobody left: look again in a second (a session being answered may still land here).
    const delay = count === 0 ? 1000 : Math.max(0, left / count);
    this.#timer = setTimeout(() => {
      const sessions = this.#target.sessions();
      const closing = this.#now() >= deadline ? sessions : sessions.slice(0, 1);
      for (const s of closing) void s.close(DRAIN_REASON);
      this.#schedule();
    }, delay);
    this.#timer.unref();
  }
}

/** The close reason of a session a drain ended. */
export const DRAIN_REASON: CloseReason = 'drain';
