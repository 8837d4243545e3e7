import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ring } from '../src/ring.js';

describe('Ring', () => {
  it('keeps the newest items up to its capacity and hands back the one it pushes out', () => {
    const ring = new Ring<string>(3);
    expect([ring.push('a'), ring.push('b'), ring.push('c')]).toEqual([undefined, undefined, undefined]);
    expect(ring.full).toBe(true);
    expect(ring.push('d')).toBe('a');
    expect([...ring]).toEqual(['b', 'c', 'd']);
    expect(ring.length).toBe(3);
    expect(ring.capacity).toBe(3);
  });

  it('reads by index from the oldest, or from the newest with a negative index', () => {
    const ring = new Ring<number>(4);
    for (let i = 1; i <= 6; i++) ring.push(i);
    expect([ring.at(0), ring.at(3), ring.at(-1), ring.at(-4)]).toEqual([3, 6, 6, 3]);
    expect([ring.at(4), ring.at(-5), ring.at(0.5)]).toEqual([undefined, undefined, undefined]);
  });

  it('shifts the oldest first and reuses the freed room', () => {
    const ring = new Ring<number>(2);
    ring.push(1);
    ring.push(2);
    expect(ring.shift()).toBe(1);
    expect(ring.push(3)).toBeUndefined();
    expect([...ring]).toEqual([2, 3]);
    expect([ring.shift(), ring.shift(), ring.shift()]).toEqual([2, 3, undefined]);
    expect(ring.length).toBe(0);
  });

  it('finds the newest equal item, and slices from an index, clamped', () => {
    const ring = new Ring<string>(5);
    for (const id of ['x', 'y', 'x', 'z', 'w', 'v']) ring.push(id);
    // Holds y x z w v: the first x was pushed out.
    expect(ring.lastIndexOf('x')).toBe(1);
    expect(ring.lastIndexOf('q')).toBe(-1);
    expect(ring.slice(3)).toEqual(['w', 'v']);
    expect(ring.slice(-2)).toEqual(['y', 'x', 'z', 'w', 'v']);
    expect(ring.slice(99)).toEqual([]);
    expect(ring.slice(Number.NaN)).toEqual([]);
  });

  it('forgets everything on clear and starts again', () => {
    const ring = new Ring<object>(2);
    ring.push({});
    ring.push({});
    ring.push({});
    ring.clear();
    expect(ring.length).toBe(0);
    expect(ring.at(0)).toBeUndefined();
    const item = {};
    ring.push(item);
    expect([...ring]).toEqual([item]);
  });

  it('refuses a capacity that is not a positive integer, with the value', () => {
    expect(() => new Ring(0)).toThrow('Ring: capacity must be a positive integer, got 0');
    expect(() => new Ring(1.5)).toThrow(/got 1\.5/);
  });

  it('behaves as a drop-oldest list for any sequence of operations', () => {
    type Op = { push: number } | { shift: true } | { clear: true };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.record({ push: fc.integer() }), weight: 6 },
      { arbitrary: fc.constant({ shift: true as const }), weight: 3 },
      { arbitrary: fc.constant({ clear: true as const }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 80 }), (capacity, ops) => {
        const ring = new Ring<number>(capacity);
        const model: number[] = [];
        for (const o of ops) {
          if ('push' in o) {
            model.push(o.push);
            const out = model.length > capacity ? model.shift() : undefined;
            expect(ring.push(o.push)).toBe(out);
          } else if ('shift' in o) {
            expect(ring.shift()).toBe(model.shift());
          } else {
            ring.clear();
            model.length = 0;
          }
          expect([...ring]).toEqual(model);
          expect(ring.length).toBe(model.length);
          expect(ring.at(-1)).toBe(model.at(-1));
          expect(ring.slice(1)).toEqual(model.slice(1));
          if (model.length > 0) expect(ring.lastIndexOf(model[0] as number)).toBe(model.lastIndexOf(model[0] as number));
        }
      }),
    );
  });
});
