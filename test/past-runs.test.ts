import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PastRuns } from '../src/past-runs.js';

/** What take() answers, as a number: the seq, negated when the run was closed (0: never seen). */
function taken(past: PastRuns, runId: string): number {
  const entry = past.take(runId);
  return entry === undefined ? 0 : entry.closed ? -entry.seq : entry.seq;
}

/** The rule PastRuns keeps, written the slow, obvious way. */
class Reference {
  readonly exact: Array<[string, number, boolean]> = [];
  readonly pinned = new Set<string>();
  readonly forgotten = new Set<string>();
  floor = 0;
  constructor(readonly capacity: number) {}

  remember(runId: string, seq: number, closed: boolean): void {
    this.#remove(runId);
    this.exact.push([runId, seq, closed]);
    if (this.exact.length > this.capacity + this.pinned.size) {
      // The oldest unpinned run is forgotten; pinned ones met on the way go to the back.
      for (;;) {
        const [id, s, c] = this.exact.shift()!;
        if (this.pinned.has(id)) {
          this.exact.push([id, s, c]);
          continue;
        }
        this.forgotten.add(id);
        this.floor = Math.max(this.floor, s);
        break;
      }
    }
  }

  // As taken() reads PastRuns: a forgotten run comes back open, after the floor.
  take(runId: string): number {
    const i = this.exact.findIndex(([id]) => id === runId);
    if (i >= 0) {
      const [, seq, closed] = this.exact.splice(i, 1)[0]!;
      return closed ? -seq : seq;
    }
    return this.forgotten.has(runId) ? this.floor : 0;
  }

  wasClosed(runId: string): boolean {
    return this.exact.find(([id]) => id === runId)?.[2] === true;
  }

  reopen(runId: string): void {
    const entry = this.exact.find(([id]) => id === runId);
    if (entry !== undefined) entry[2] = false;
  }

  #remove(runId: string): void {
    const i = this.exact.findIndex(([id]) => id === runId);
    if (i >= 0) this.exact.splice(i, 1);
  }
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('remember' as const), id: fc.integer({ min: 0, max: 40 }), seq: fc.integer({ min: 1, max: 1000 }), closed: fc.boolean() }),
  fc.record({ kind: fc.constant('take' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('reopen' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('pin' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('unpin' as const), id: fc.integer({ min: 0, max: 40 }) }),
);

describe('PastRuns', () => {
  it('remembers seq and closed state, forgets the oldest unpinned run first and answers take() as the plain rule does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 400 }), (capacity, ops) => {
        const past = new PastRuns(capacity);
        const ref = new Reference(capacity);
        for (const o of ops) {
          const id = `run-${o.id}`;
          if (o.kind === 'remember') {
            past.remember(id, o.seq, o.closed);
            ref.remember(id, o.seq, o.closed);
          } else if (o.kind === 'take') {
            expect(taken(past, id)).toBe(ref.take(id));
          } else if (o.kind === 'reopen') {
            past.reopen(id);
            ref.reopen(id);
          } else if (o.kind === 'pin') {
            past.pin(id);
            ref.pinned.add(id);
          } else {
            past.unpin(id);
            ref.pinned.delete(id);
          }
          expect(past.size).toBe(ref.exact.length);
          expect(past.wasClosed(id)).toBe(ref.wasClosed(id));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its line of runs to forget bounded through a million evictions and returns', () => {
    const past = new PastRuns(1000);
    for (let i = 0; i < 1_000_000; i++) {
      past.remember(`r${i}`, i + 1, false);
      // Every other run comes back at once: its place in the line goes stale.
      if (i % 2 === 0) expect(taken(past, `r${i}`)).toBe(i + 1);
    }
    expect(past.size).toBe(1000);
    expect(past.lineLength).toBeLessThanOrEqual(2 * 1000 + 4096);
    // The newest 1,000 odd runs are remembered exactly; an older one continues after the floor,
    // the highest seq forgotten (that of r997999).
    expect(taken(past, 'r999999')).toBe(1_000_000);
    expect(taken(past, 'r1')).toBe(998_000);
  });

  it('folds forgotten runs into a filter that never misses one and rarely mistakes a new id for one', () => {
    const past = new PastRuns(1000);
    const forgotten = 200_000;
    for (let i = 0; i < forgotten + 1000; i++) past.remember(`run-${i}`, 7, true);
    // No false negatives: every forgotten run continues after the floor (open: its state was not kept).
    for (let i = 0; i < forgotten; i++) expect(taken(past, `run-${i}`)).toBe(7);
    // False positives at the filter's design rate: 3 probes into 2^23 bits after
    // 200,000 runs is about 0.03%; probes that collapsed into one would read ~7%.
    let mistaken = 0;
    for (let i = 0; i < 200_000; i++) if (past.take(`new-${i}`) !== undefined) mistaken++;
    expect(mistaken / 200_000).toBeLessThan(0.001);
  });
});
