import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus.js';
import { eventIdOf } from '../src/event-id.js';

describe('eventIdOf', () => {
  it('writes exactly `${runId}:${seq}` across the digit boundaries, in order', () => {
    for (let seq = 1; seq <= 12_345; seq++) {
      const id = eventIdOf('run-1', seq);
      if (id !== `run-1:${seq}`) expect(id).toBe(`run-1:${seq}`);
    }
  });

  it('writes any seq in any order (a run that comes back continues where it was)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.array(fc.maxSafeNat().filter((n) => n > 0), { minLength: 1, maxLength: 20 }), (runId, seqs) => {
        for (const seq of seqs) expect(eventIdOf(runId, seq)).toBe(`${runId}:${seq}`);
      }),
    );
    const far = [Number.MAX_SAFE_INTEGER, 100, 99, 2 ** 31, 2 ** 31 - 1, 2 ** 32 + 1, 1e15 + 99, 1e15 + 100, 1, 100];
    expect(far.map((seq) => eventIdOf('r', seq))).toEqual(far.map((seq) => `r:${seq}`));
  });

  it('writes the ids of runs taking turns past their first hundred', () => {
    const seen: string[] = [];
    for (let seq = 150; seq < 160; seq++) for (const runId of ['a', 'b', 'a-longer-run-id']) seen.push(eventIdOf(runId, seq));
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => ['a', 'b', 'a-longer-run-id'].map((runId) => `${runId}:${150 + i}`)).flat());
  });

  it('gives the events of a bus their ids through the first hundred and past it', () => {
    const bus = new EventBus();
    for (let i = 0; i < 250; i++) bus.publish({ eventId: '', runId: 'a', seq: 0, eventType: 'agent.think', timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data: {} });
    expect(bus.history('a').map((e) => e.eventId)).toEqual(Array.from({ length: 250 }, (_, i) => `a:${i + 1}`));
  });

  it('gives a run coming back after eviction ids that continue its sequence', () => {
    const bus = new EventBus({ maxRuns: 1 });
    const event = (runId: string) => ({ eventId: '', runId, seq: 0, eventType: 'agent.think', timestamp: Date.now(), spanId: undefined, parentSpanId: undefined, data: {} });
    for (let i = 0; i < 150; i++) bus.publish(event('a'));
    bus.publish(event('b')); // evicts a
    bus.publish(event('a')); // a again: seq 151
    expect(bus.history('a').map((e) => e.eventId)).toEqual(['a:151']);
  });
});
