/**
 * The fan-out delays of a thread's batches since the figures were last read (a metrics scrape):
 * a uniform sample of at most `size` of them (reservoir sampling, Vitter's algorithm R) and the
 * exact largest. A fixed buffer, whatever the batch rate and however long between two scrapes:
 * an array of every delay grew by a few KB a second with nobody reading it, and its backing
 * stores, reallocated as it grew, were old-generation garbage in an idle thread.
 */
export class DelaySample {
  readonly #values: Float64Array;
  #seen = 0;
  #max = 0;

  constructor(size = 4096) {
    this.#values = new Float64Array(size);
  }

  /** Delays recorded since the last reset. */
  get count(): number {
    return this.#seen;
  }

  /** Records one delay (ms). */
  add(ms: number): void {
    const n = this.#seen++;
    if (ms > this.#max) this.#max = ms;
    if (n < this.#values.length) this.#values[n] = ms;
    else {
      const j = Math.floor(Math.random() * (n + 1));
      if (j < this.#values.length) this.#values[j] = ms;
    }
  }

  /** The p-th percentile (0–100) of the sample, and the largest delay; 0 when none. */
  figures(p: number): { readonly percentile: number; readonly max: number } {
    const n = Math.min(this.#seen, this.#values.length);
    if (n === 0) return { percentile: 0, max: 0 };
    const sorted = this.#values.slice(0, n).sort();
    return { percentile: sorted[Math.min(n - 1, Math.floor((n * p) / 100))]!, max: this.#max };
  }

  /** Starts a new window. */
  reset(): void {
    this.#seen = 0;
    this.#max = 0;
  }
}
