/**
 * What a bus remembers of the runs it no longer retains: the last `seq` each
 * one used, so that a run that comes back (an evicted run that is still
 * executing, a dropped history, a run id used again) continues its sequence
 * and no event id (`runId:seq`) is ever issued twice by the bus.
 *
 * Memory stays bounded: the last `capacity` finished runs are remembered
 * exactly (a returning one continues right after its last seq); older ones
 * are folded into a Bloom filter and a floor, the highest seq any of them
 * reached. A run the filter may have seen continues after the floor: its
 * sequence has a gap, but every id stays unique. Runs still executing
 * (pinned) are never forgotten; there are as many of them as the caller
 * runs at once.
 */

// 2^23 bits (1 MiB, allocated on the first overflow) and 3 probes: about 2%
// false positives after a million forgotten runs. A false positive only
// makes a new run's sequence start after the floor instead of at 1.
const BLOOM_BITS = 1 << 23;
const PROBES = 3;

// The filter's probes, from one pass over the id: two 32-bit hashes (FNV-1a
// and a multiply-xorshift of the same characters) combined as h1 + i*h2
// (Kirsch and Mitzenmacher), as good as independent hashes for a Bloom
// filter and a third of the work of hashing the id once per probe.
const probes = new Uint32Array(PROBES);

function probesOf(text: string): Uint32Array {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  // An odd step, so that the probes differ even when h2 is a multiple of a power of two.
  h2 |= 1;
  for (let i = 0; i < PROBES; i++) probes[i] = (h1 + Math.imul(i, h2)) & (BLOOM_BITS - 1);
  return probes;
}

/** One run remembered exactly: its last seq, whether its stream was closed, and its place in the line to be forgotten. */
interface Remembered {
  seq: number;
  closed: boolean;
  order: number;
}

/** @internal Seq memory of runs a bus no longer retains. */
export class PastRuns {
  readonly #capacity: number;
  // Insertion-ordered, as the line below: the first entry is the one remembered longest.
  readonly #exact = new Map<string, Remembered>();
  readonly #pinned = new Set<string>();
  // The line to be forgotten, oldest first, from #head: run ids and the
  // order each was queued with. An id remembered again, taken back or sent
  // to the back is queued anew, and its earlier place goes stale (skipped).
  // Finding the oldest never walks the map: iterating a Map from its start
  // after many deletions skips every deleted slot, which made each eviction
  // cost O(capacity) once this memory was full.
  #lineIds: (string | undefined)[] = [];
  #lineOrders: number[] = [];
  #head = 0;
  #order = 0;
  #bloom: Uint32Array | undefined;
  #floor = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Remembers that `runId` used sequence numbers up to `lastSeq`, and whether its stream was closed. */
  remember(runId: string, lastSeq: number, closed: boolean): void {
    this.#exact.delete(runId);
    const entry = { seq: lastSeq, closed, order: ++this.#order };
    this.#exact.set(runId, entry);
    this.#queue(runId, entry.order);
    if (this.#exact.size > this.#capacity + this.#pinned.size) this.#forgetOldest();
  }

  /**
   * The seq `runId` must continue after (0 for a run never seen) and whether
   * its stream was closed, and forgets it: the caller retains the run again
   * from now on. A run folded into the filter comes back open: only the
   * exactly remembered ones keep their state.
   */
  take(runId: string): { readonly seq: number; readonly closed: boolean } | undefined {
    const entry = this.#exact.get(runId);
    if (entry !== undefined) {
      this.#exact.delete(runId);
      return entry;
    }
    return this.#bloom !== undefined && this.#mayHaveSeen(runId) ? { seq: this.#floor, closed: false } : undefined;
  }

  /** True when `runId` is remembered exactly and its stream was closed when it was given up. */
  wasClosed(runId: string): boolean {
    return this.#exact.get(runId)?.closed === true;
  }

  /** A `runContext` enters `runId` again: its stream is no longer remembered as closed. */
  reopen(runId: string): void {
    const entry = this.#exact.get(runId);
    if (entry !== undefined) entry.closed = false;
  }

  /** Marks a run as executing: it is never forgotten until {@link unpin}. */
  pin(runId: string): void {
    this.#pinned.add(runId);
  }

  /** The run finished executing: it may be forgotten like any other. */
  unpin(runId: string): void {
    this.#pinned.delete(runId);
  }

  /** Runs remembered exactly. */
  get size(): number {
    return this.#exact.size;
  }

  /** @internal Places in the line to forget, stale ones included (its bound is tested). */
  get lineLength(): number {
    return this.#lineIds.length - this.#head;
  }

  #forgetOldest(): void {
    // Terminates: there are more unpinned runs remembered than the capacity, and each is in the line.
    while (this.#head < this.#lineIds.length) {
      const runId = this.#lineIds[this.#head] as string;
      const order = this.#lineOrders[this.#head] as number;
      this.#lineIds[this.#head] = undefined;
      this.#head++;
      const entry = this.#exact.get(runId);
      if (entry === undefined || entry.order !== order) continue;
      this.#exact.delete(runId);
      if (this.#pinned.has(runId)) {
        // Executing runs go to the back of the line, never out of it.
        entry.order = ++this.#order;
        this.#exact.set(runId, entry);
        this.#queue(runId, entry.order);
        continue;
      }
      this.#fold(runId, entry.seq);
      return;
    }
  }

  #queue(runId: string, order: number): void {
    this.#lineIds.push(runId);
    this.#lineOrders.push(order);
    const queued = this.#lineIds.length - this.#head;
    // Keep the line within a constant factor of what is remembered: rebuilt
    // from the map (which holds the same order) once stale places or the
    // consumed head dominate it; amortized O(1) per call.
    if (this.#head > Math.max(4096, this.#exact.size) || queued > 2 * this.#exact.size + 4096) {
      const ids: (string | undefined)[] = [];
      const orders: number[] = [];
      for (const [id, entry] of this.#exact) {
        ids.push(id);
        orders.push(entry.order);
      }
      this.#lineIds = ids;
      this.#lineOrders = orders;
      this.#head = 0;
    }
  }

  #fold(runId: string, seq: number): void {
    const bloom = (this.#bloom ??= new Uint32Array(BLOOM_BITS / 32));
    const bits = probesOf(runId);
    for (let i = 0; i < PROBES; i++) {
      const bit = bits[i] as number;
      bloom[bit >>> 5] = (bloom[bit >>> 5] as number) | (1 << (bit & 31));
    }
    if (seq > this.#floor) this.#floor = seq;
  }

  #mayHaveSeen(runId: string): boolean {
    const bloom = this.#bloom as Uint32Array;
    const bits = probesOf(runId);
    for (let i = 0; i < PROBES; i++) {
      const bit = bits[i] as number;
      if (((bloom[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}
