// KeyObjects (and what else is built from a key) kept by the key's string: building one costs
// tens of µs and the same few keys come back for most messages; keeping one costs ~1.5 KiB.
// Bounded: the least recently used goes first.
export class KeyCache<V> {
  readonly #entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  /** The value kept for `key`, which becomes the most recent; undefined when none is. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      // Re-inserted last: the map's order is least recent first.
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, value);
  }
}
