import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/events.js';
import { QueueSubscription } from '../src/subscription.js';

function event(seq: number): StreamEvent {
  return { eventId: `r:${seq}`, runId: 'r', seq, eventType: 'test.tick', timestamp: seq, spanId: undefined, parentSpanId: undefined, data: {} };
}

type Op = { push: number } | { read: number };

describe('a subscription queue', () => {
  it('delivers exactly what a drop-oldest model predicts, for any interleaving of pushes and reads', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ read: fc.integer({ min: 1, max: 60 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 40 }), async (highWaterMark, ops) => {
        const sub = new QueueSubscription(highWaterMark, 'r', () => {});
        // The model: a plain list, a pending gap, and what a reader saw.
        const model: number[] = [];
        let gap: number[] = [];
        const expected: string[] = [];
        const actual: string[] = [];
        let seq = 0;
        const describeEvent = (e: StreamEvent) =>
          e.eventType === 'stream.dropped' ? `gap:${JSON.stringify(e.data)}` : `${e.seq}`;
        for (const o of ops) {
          if ('push' in o) {
            for (let i = 0; i < o.push; i++) {
              sub.push(event(++seq));
              model.push(seq);
              if (model.length > highWaterMark) gap.push(model.shift() as number);
            }
          } else {
            for (let i = 0; i < o.read && (gap.length > 0 || model.length > 0); i++) {
              if (gap.length > 0) {
                expected.push(`gap:${JSON.stringify({ count: gap.length, fromSeq: gap[0], toSeq: gap.at(-1) })}`);
                gap = [];
              } else expected.push(`${model.shift()}`);
              actual.push(describeEvent((await sub.next()).value as StreamEvent));
            }
          }
          expect(sub.queued).toBe(model.length);
        }
        expect(actual).toEqual(expected);
        sub.end('closed', true);
        const rest: string[] = [];
        for await (const e of sub) rest.push(describeEvent(e));
        const tail = [...(gap.length > 0 ? [`gap:${JSON.stringify({ count: gap.length, fromSeq: gap[0], toSeq: gap.at(-1) })}`] : []), ...model.map(String)];
        expect(rest).toEqual(tail);
      }),
      { numRuns: 300 },
    );
  });
});
