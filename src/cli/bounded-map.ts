/**
 * A `Map` with a capacity: adding past it evicts the least recently used
 * entry. `agentbus tail` keeps per-run and per-span state keyed by ids that
 * come from the stream; a hostile or runaway stream can invent ids forever,
 * so every such table has a bound.
 */

/** A `Map` holding at most `capacity` entries; the least recently used goes first. */
export class BoundedMap<K, V> {
  /** The most entries held at once. */
  readonly capacity: number;
  // Insertion order is recency order: a hit is re-inserted, so the first key is the coldest.
  readonly #entries = new Map<K, V>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`BoundedMap: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** The number of entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** True when `key` is held; does not count as a use. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value of `key`, marking it as the most recently used. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  /**
   * Holds `value` under `key` as the most recently used entry. Returns the
   * entry evicted to make room, so the caller can say what it let go of.
   */
  set(key: K, value: V): [K, V] | undefined {
    let evicted: [K, V] | undefined;
    if (!this.#entries.delete(key) && this.#entries.size >= this.capacity) {
      const coldest = this.#entries.entries().next().value;
      if (coldest !== undefined) {
        this.#entries.delete(coldest[0]);
        evicted = coldest;
      }
    }
    this.#entries.set(key, value);
    return evicted;
  }

  /** Forgets `key`; true when it was held. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }
}
