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

function hash(text: string, seed: number): number {
  // FNV-1a, 32 bits.
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** @internal Seq memory of runs a bus no longer retains. */
export class PastRuns {
  readonly #capacity: number;
  // Insertion-ordered: the first entry is the one remembered longest.
  readonly #exact = new Map<string, number>();
  readonly #pinned = new Set<string>();
  #bloom: Uint32Array | undefined;
  #floor = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Remembers that `runId` used sequence numbers up to `lastSeq`. */
  remember(runId: string, lastSeq: number): void {
    this.#exact.delete(runId);
    this.#exact.set(runId, lastSeq);
    if (this.#exact.size > this.#capacity + this.#pinned.size) this.#forgetOldest();
  }

  /**
   * The seq `runId` must continue after (0 for a run never seen), and
   * forgets it: the caller retains the run again from now on.
   */
  take(runId: string): number {
    const seq = this.#exact.get(runId);
    if (seq !== undefined) {
      this.#exact.delete(runId);
      return seq;
    }
    return this.#bloom !== undefined && this.#mayHaveSeen(runId) ? this.#floor : 0;
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

  #forgetOldest(): void {
    for (const [runId, seq] of this.#exact) {
      this.#exact.delete(runId);
      if (this.#pinned.has(runId)) {
        // Executing runs go to the back of the line, never out of it.
        this.#exact.set(runId, seq);
        continue;
      }
      this.#fold(runId, seq);
      return;
    }
  }

  #fold(runId: string, seq: number): void {
    const bloom = (this.#bloom ??= new Uint32Array(BLOOM_BITS / 32));
    for (let i = 0; i < PROBES; i++) {
      const bit = hash(runId, i) & (BLOOM_BITS - 1);
      bloom[bit >>> 5] = (bloom[bit >>> 5] as number) | (1 << (bit & 31));
    }
    if (seq > this.#floor) this.#floor = seq;
  }

  #mayHaveSeen(runId: string): boolean {
    const bloom = this.#bloom as Uint32Array;
    for (let i = 0; i < PROBES; i++) {
      const bit = hash(runId, i) & (BLOOM_BITS - 1);
      if (((bloom[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}
