/**
 * A ring buffer: a FIFO of at most `capacity` items whose newest push, once
 * the ring is full, pushes out the oldest item and hands it back.
 *
 * The one bounded queue of the package: a run's history in the bus, a
 * subscriber's queue, and any table that must forget its oldest entries.
 * Every operation is O(1) except the searches and copies, which say so.
 * Storage grows with the most items held at once (doubling, up to
 * `capacity` slots), and is then reused in place: a full ring allocates
 * nothing per push, an idle one costs an empty array, and one whose reader
 * keeps up stays a few slots long. Slots that items leave are cleared, so the ring never keeps
 * an item alive after handing it back.
 *
 * Items may not be `undefined` (it is the "nothing" of `push`, `shift` and
 * `at`). To keep two values per entry without allocating a pair per push,
 * keep two rings of the same capacity and push to both: they evict in step,
 * so an index means the same entry in each.
 *
 * @typeParam T - The item type; `undefined` is not allowed.
 */
export class Ring<T extends NonNullable<unknown> | null> {
  /** The most items the ring holds at once. */
  readonly capacity: number;
  // The storage holds as many slots as the most items held at once so far
  // (doubling, from a few, up to `capacity`), not as many as were ever
  // pushed: a queue whose reader keeps up stays a few slots long, however
  // long it lives. The items are `#length` slots from `#head`, wrapping at
  // the storage's end.
  #slots: (T | undefined)[] = [];
  #head = 0;
  #length = 0;

  /**
   * @param capacity - A positive integer.
   * @throws {RangeError} when `capacity` is not a positive integer.
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Ring: capacity must be a positive integer, got ${String(capacity)}`);
    this.capacity = capacity;
  }

  /** The number of items held. */
  get length(): number {
    return this.#length;
  }

  /** True when the next push will push out the oldest item. */
  get full(): boolean {
    return this.#length === this.capacity;
  }

  /**
   * Adds `item` as the newest. When the ring is full, the oldest item leaves
   * to make room and is returned; otherwise returns `undefined`.
   */
  push(item: T): T | undefined {
    let slots = this.#slots;
    if (this.#length === slots.length) {
      if (slots.length === this.capacity) {
        const head = this.#head;
        const oldest = slots[head];
        slots[head] = item;
        this.#head = head + 1 === slots.length ? 0 : head + 1;
        return oldest;
      }
      slots = this.#grow();
    }
    const at = this.#head + this.#length;
    slots[at < slots.length ? at : at - slots.length] = item;
    this.#length++;
    return undefined;
  }

  /** Removes and returns the oldest item, or `undefined` when the ring is empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const slots = this.#slots;
    const head = this.#head;
    const item = slots[head];
    slots[head] = undefined;
    this.#head = head + 1 === slots.length ? 0 : head + 1;
    this.#length--;
    return item;
  }

  /** Doubles the storage (at least 8 slots, at most `capacity`), the items copied oldest first. */
  #grow(): (T | undefined)[] {
    const old = this.#slots;
    const grown: (T | undefined)[] = [];
    for (let i = 0; i < this.#length; i++) {
      const at = this.#head + i;
      grown.push(old[at < old.length ? at : at - old.length]);
    }
    // Filled to its new size with `undefined` (not holes), so the array keeps a packed shape.
    const size = Math.min(this.capacity, Math.max(8, old.length * 2));
    while (grown.length < size) grown.push(undefined);
    this.#slots = grown;
    this.#head = 0;
    return grown;
  }

  /**
   * The item at `index`, counted from the oldest (0) like an array, or from
   * the newest with a negative index (-1 is the newest), as `Array.prototype.at`.
   * `undefined` when out of range.
   */
  at(index: number): T | undefined {
    const i = index < 0 ? this.#length + index : index;
    if (!(i >= 0 && i < this.#length)) return undefined;
    const at = this.#head + i;
    const slots = this.#slots;
    return slots[at < slots.length ? at : at - slots.length];
  }

  /**
   * The index (from the oldest) of the newest item `=== item`, or -1.
   * Searches newest first, O(length): for the rare lookup, not the hot path.
   */
  lastIndexOf(item: T): number {
    const slots = this.#slots;
    for (let i = this.#length - 1; i >= 0; i--) {
      const at = this.#head + i;
      if (slots[at < slots.length ? at : at - slots.length] === item) return i;
    }
    return -1;
  }

  /** A new array of the items from index `start` (from the oldest; default 0) to the newest, oldest first. O(items copied). */
  slice(start = 0): T[] {
    const from = Math.max(0, Math.min(this.#length, Math.trunc(start)));
    const out: T[] = [];
    const slots = this.#slots;
    for (let i = from; i < this.#length; i++) {
      const at = this.#head + i;
      out.push(slots[at < slots.length ? at : at - slots.length] as T);
    }
    return out;
  }

  /** Removes every item and releases the storage. */
  clear(): void {
    this.#slots = [];
    this.#head = 0;
    this.#length = 0;
  }

  /** The items, oldest first. Pushing or shifting while iterating is not supported. */
  *[Symbol.iterator](): IterableIterator<T> {
    const slots = this.#slots;
    for (let i = 0; i < this.#length; i++) {
      const at = this.#head + i;
      yield slots[at < slots.length ? at : at - slots.length] as T;
    }
  }
}
