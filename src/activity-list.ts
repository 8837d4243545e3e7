/**
 * An order of items from least to most recently active: an intrusive doubly
 * linked list, so that reading the least recently active item, moving an
 * item that was just active to the end and taking one out are O(1) and
 * allocate nothing (the run table does the move for every published event).
 *
 * Each item owns one {@link ActivityLink} per order it can stand in, made
 * with the item; a link is in at most one list at a time, and an unlinked
 * link points at itself. A list is a ring through a sentinel link that holds
 * no item, so no operation branches on an empty list or on an end.
 */

/**
 * @internal What the order is by: the tick of the last activity, then the
 * order items were made in. Ticks are unique once an item was active; only
 * items never active yet share one (0), and among them the older goes first.
 */
export interface Activity {
  readonly lastActive: number;
  readonly born: number;
}

/** @internal True when `a` comes after `b` in activity order. */
function isAfter(a: Activity, b: Activity): boolean {
  return a.lastActive > b.lastActive || (a.lastActive === b.lastActive && a.born > b.born);
}

/** @internal One item's place in one {@link ActivityList}. */
export class ActivityLink<T extends Activity> {
  prev: ActivityLink<T> = this;
  next: ActivityLink<T> = this;
  /** The item; undefined only for a list's sentinel. */
  readonly item: T | undefined;

  constructor(item: T | undefined) {
    this.item = item;
  }

  /** Takes the link out of its list; nothing when it is in none. O(1). */
  unlink(): void {
    this.prev.next = this.next;
    this.next.prev = this.prev;
    this.prev = this;
    this.next = this;
  }

  /** Puts the unlinked `link` right after this one. */
  precede(link: ActivityLink<T>): void {
    link.prev = this;
    link.next = this.next;
    this.next.prev = link;
    this.next = link;
  }
}

/** @internal Items ordered from least to most recently active (see the module comment). */
export class ActivityList<T extends Activity> {
  readonly #end = new ActivityLink<T>(undefined);

  /** The least recently active item, or undefined when the list is empty. */
  get first(): T | undefined {
    return this.#end.next.item;
  }

  /** The item after {@link first}, or undefined when there is none. */
  get second(): T | undefined {
    return this.#end.next.next.item;
  }

  /**
   * Moves `link` (in this list, in another or in none) to the most recently
   * active end: its item was just active, so its tick is the highest. O(1).
   */
  moveLast(link: ActivityLink<T>): void {
    const end = this.#end;
    if (link.next === end) return; // already last here: the common case of one run publishing in a row
    link.prev.next = link.next;
    link.next.prev = link.prev;
    end.prev.precede(link);
  }

  /**
   * Moves `link` (in this list, in another or in none) to its place by its
   * item's activity, which need not be the latest (a run changing rank).
   * Walks in from both ends at once, so it costs O(min(items before its
   * place, items after it)): a step or two for an item active recently or
   * long ago, half the list at worst.
   */
  insert(link: ActivityLink<T>): void {
    link.unlink();
    const item = link.item as T;
    const end = this.#end;
    let front = end.next;
    let back = end.prev;
    // When the back walk has not stopped, the last item is after `item`, so
    // the front walk stops on an item before it reaches the end.
    for (;;) {
      if (back === end || !isAfter(back.item as T, item)) {
        back.precede(link);
        return;
      }
      if (isAfter(front.item as T, item)) {
        front.prev.precede(link);
        return;
      }
      front = front.next;
      back = back.prev;
    }
  }

  /** The items, least recently active first. O(items); for tests and reports, not the hot path. */
  *items(): IterableIterator<T> {
    for (let link = this.#end.next; link !== this.#end; link = link.next) yield link.item as T;
  }
}
