/** Keys of cached objects filed under an indexed value (client-go's cache.Indexer, keys only). */
export class KeyIndex {
  readonly #byValue = new Map<string, Set<string>>();
  readonly #valueOf = new Map<string, string>();

  /** Files `key` under `value` (moving it if it was filed under another). */
  set(key: string, value: string): void {
    const was = this.#valueOf.get(key);
    if (was === value) return;
    if (was !== undefined) this.delete(key);
    this.#valueOf.set(key, value);
    const keys = this.#byValue.get(value) ?? new Set<string>();
    keys.add(key);
    this.#byValue.set(value, keys);
  }

  /** Removes `key`. */
  delete(key: string): void {
    const value = this.#valueOf.get(key);
    if (value === undefined) return;
    this.#valueOf.delete(key);
    const keys = this.#byValue.get(value);
    keys?.delete(key);
    if (keys?.size === 0) this.#byValue.delete(value);
  }

  /** The keys filed under `value`. */
  keys(value: string): string[] {
    return [...(this.#byValue.get(value) ?? [])];
  }
}
