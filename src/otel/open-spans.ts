/**
 * A run's open spans by span id, oldest first: a map whose newest entry is
 * held apart.
 *
 * A step's closing event usually comes before any other step of its run
 * opens (a tool call, a model call: open, then closed), and keyed by a fresh
 * span id every map operation hashes that id, inserts it, then deletes it
 * again, the most expensive part of the bridge's bookkeeping per step
 * (bench/otel-bridge.bench.ts). Held apart, the newest step is found by one
 * string comparison and goes without touching the map; it joins the map only
 * when another step opens while it is still open.
 */

/** @internal Open entries by span id, oldest first (see the module comment). */
export class OpenSpans<E> {
  // Every entry but the newest, oldest first.
  readonly #older = new Map<string, E>();
  #newestId: string | undefined = undefined;
  #newest: E | undefined = undefined;

  /** Entries held. */
  get size(): number {
    return this.#newestId === undefined ? this.#older.size : this.#older.size + 1;
  }

  /** The entry of `spanId`, if open. */
  get(spanId: string): E | undefined {
    if (spanId === this.#newestId) return this.#newest;
    // An empty map would still hash the id to look it up.
    return this.#older.size === 0 ? undefined : this.#older.get(spanId);
  }

  /** Adds the newest entry (the caller has checked that `spanId` is not open). */
  add(spanId: string, entry: E): void {
    if (this.#newestId !== undefined) this.#older.set(this.#newestId, this.#newest as E);
    this.#newestId = spanId;
    this.#newest = entry;
  }

  /** Removes the entry of `spanId`; false when it is not open. */
  delete(spanId: string): boolean {
    if (spanId === this.#newestId) {
      this.#newestId = undefined;
      this.#newest = undefined;
      return true;
    }
    return this.#older.size !== 0 && this.#older.delete(spanId);
  }

  /** The oldest entry and its span id, if any. */
  oldest(): [string, E] | undefined {
    if (this.#older.size !== 0) return this.#older.entries().next().value;
    return this.#newestId === undefined ? undefined : [this.#newestId, this.#newest as E];
  }

  /** Every entry with its span id, oldest first (a copy: removing them while iterating is safe). */
  entries(): Array<[string, E]> {
    const all = [...this.#older];
    if (this.#newestId !== undefined) all.push([this.#newestId, this.#newest as E]);
    return all;
  }
}
