import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OpenSpans } from '../src/otel/open-spans.js';

describe('OpenSpans', () => {
  it('behaves as a map in insertion order, whatever the order of adds and deletes', () => {
    // A reference Map beside it: same answers to get, delete, size, oldest and entries after every step.
    const op = fc.oneof(
      fc.record({ add: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ del: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ get: fc.integer({ min: 0, max: 12 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const spans = new OpenSpans<number>();
        const model = new Map<string, number>();
        let n = 0;
        for (const o of ops) {
          if ('add' in o) {
            // A fresh string each time (equal content, another object), as ids arrive in events.
            const id = `id-${o.add}`.slice(0);
            if (model.has(id)) continue; // the caller checks first
            spans.add(id, ++n);
            model.set(id, n);
          } else if ('del' in o) {
            expect(spans.delete(`id-${o.del}`)).toBe(model.delete(`id-${o.del}`));
          } else {
            expect(spans.get(`id-${o.get}`)).toBe(model.get(`id-${o.get}`));
          }
          expect(spans.size).toBe(model.size);
          expect(spans.entries()).toEqual([...model]);
          expect(spans.oldest()).toEqual(model.size === 0 ? undefined : [...model][0]);
        }
      }),
    );
  });

  it('keeps the entries it hands out intact when they are deleted while iterated', () => {
    const spans = new OpenSpans<string>();
    spans.add('a', 'A');
    spans.add('b', 'B');
    spans.add('c', 'C');
    const seen: string[] = [];
    for (const [id, entry] of spans.entries()) {
      spans.delete(id);
      seen.push(entry);
    }
    expect(seen).toEqual(['A', 'B', 'C']);
    expect(spans.size).toBe(0);
    expect(spans.oldest()).toBeUndefined();
  });
});
