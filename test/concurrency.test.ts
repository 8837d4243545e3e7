import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, traceTool } from '../src/emit.js';

// Each run performs a random sequence of steps, each step yielding to the
// event loop in a random way, so that runs interleave arbitrarily.
const step = fc.record({
  kind: fc.constantFrom('emit', 'tool', 'nested'),
  yieldBy: fc.constantFrom('microtask', 'immediate', 'timeout', 'none'),
});

function pause(how: string): Promise<void> | void {
  if (how === 'microtask') return Promise.resolve();
  if (how === 'immediate') return new Promise((r) => setImmediate(r));
  if (how === 'timeout') return new Promise((r) => setTimeout(r, 0));
}

describe('concurrent runs', () => {
  it('1,000 interleaved runs keep every event in its own run, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: 1000, maxLength: 1000 }), async (plans) => {
        resetEventBus({ maxRuns: 4000 });
        await Promise.all(
          plans.map((plan, index) =>
            runContext(async (runId) => {
              for (const [i, s] of plan.entries()) {
                await pause(s.yieldBy);
                if (s.kind === 'emit') emit('test.step', { owner: runId, i });
                else if (s.kind === 'tool') await traceTool({ name: 't', args: {} }, async () => { await pause(s.yieldBy); emit('test.step', { owner: runId, i }); });
                else await runContext(async () => { await pause(s.yieldBy); emit('test.child', { owner: runId }); }, { runId: `${runId}.child${i}` });
              }
            }, { runId: `run${index}` }),
          ),
        );
        const bus = getEventBus();
        for (const [index, plan] of plans.entries()) {
          const runId = `run${index}`;
          const events = bus.history(runId);
          expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
          const mine = events.filter((e) => e.eventType === 'test.step');
          expect(mine.every((e) => (e.data as { owner: string }).owner === runId)).toBe(true);
          expect(mine.map((e) => (e.data as { i: number }).i)).toEqual(plan.flatMap((s, i) => (s.kind === 'nested' ? [] : [i])));
          for (const [i, s] of plan.entries()) {
            if (s.kind !== 'nested') continue;
            const child = bus.history(`${runId}.child${i}`);
            expect(child.map((e) => e.eventType)).toEqual(['run.started', 'test.child', 'run.completed']);
            expect(child[0]?.data).toMatchObject({ parentRunId: runId });
          }
        }
      }),
      { numRuns: 5 },
    );
  });
});
