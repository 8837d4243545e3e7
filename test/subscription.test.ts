import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/events.js';
import { QueueSubscription } from '../src/subscription.js';

function event(seq: number): StreamEvent {
  return { eventId: `r:${seq}`, runId: 'r', seq, eventType: 'test.tick', timestamp: seq, spanId: undefined, parentSpanId: undefined, data: {} };
}

type Op = { push: number } | { read: number } | { take: number };

describe('a subscription queue', () => {
  it('delivers exactly what a drop-oldest model predicts, for any interleaving of pushes and reads', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ read: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ take: fc.integer({ min: 1, max: 60 }) }),
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
            // next() and take() read the same queue: what one reads, the other does not see again.
            const reads = 'read' in o ? o.read : o.take;
            for (let i = 0; i < reads && (gap.length > 0 || model.length > 0); i++) {
              if (gap.length > 0) {
                expected.push(`gap:${JSON.stringify({ count: gap.length, fromSeq: gap[0], toSeq: gap.at(-1) })}`);
                gap = [];
              } else expected.push(`${model.shift()}`);
              const read = 'read' in o ? (await sub.next()).value : sub.take();
              actual.push(read === undefined ? 'nothing' : describeEvent(read as StreamEvent));
            }
            if ('take' in o && gap.length === 0 && model.length === 0) expect(sub.take()).toBeUndefined();
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

  it('takes queued events synchronously, but never behind the back of a subclass that watches next()', async () => {
    const sub = new QueueSubscription(8, 'r', () => {});
    expect(sub.take()).toBeUndefined();
    sub.push(event(1));
    sub.push(event(2));
    expect(sub.take()?.seq).toBe(1);
    expect((await sub.next()).value.seq).toBe(2);
    expect(sub.take()).toBeUndefined();
    sub.push(event(3));
    sub.end('closed', true);
    // Ended with one event left: it is still taken, then nothing (next() reports the end).
    expect(sub.take()?.seq).toBe(3);
    expect(sub.take()).toBeUndefined();
    expect(await sub.next()).toEqual({ value: undefined, done: true });

    let reads = 0;
    class Watched extends QueueSubscription {
      override next(): Promise<IteratorResult<StreamEvent>> {
        reads++;
        return super.next();
      }
    }
    const watched = new Watched(8, 'r', () => {});
    watched.push(event(1));
    expect(watched.take()).toBeUndefined();
    expect(watched.queued).toBe(1);
    expect((await watched.next()).value.seq).toBe(1);
    expect(reads).toBe(1);
  });
});
