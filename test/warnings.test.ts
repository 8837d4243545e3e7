// Mistakes are not silent: a refused event warns the process once per
// distinct problem (and only when no onError takes the report), with a bound
// on how many distinct problems are ever warned about.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep } from '../src/emit.js';

let warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if (warning.name === 'AgentbusWarning') warnings.push(warning);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});
const settle = () => new Promise((r) => setImmediate(r));

describe('warnings for refused events', () => {
  it('warns once per distinct problem, and still counts every refusal', async () => {
    resetEventBus({});
    await runContext(() => {
      for (let i = 0; i < 3; i++) emit('BadType', {});
      emit('Worse Type', {});
      emit('app.fine', [] as unknown as Record<string, unknown>);
    });
    await settle();
    expect(warnings.map((w) => w.message)).toEqual([
      'emit: eventType "BadType" is not a dotted lowercase name like "myapp.cache.miss"',
      'emit: eventType "Worse Type" is not a dotted lowercase name like "myapp.cache.miss"',
      'emit: data of app.fine must be a plain object, got an array',
    ]);
    expect((warnings[0] as Error & { code?: string }).code).toBe('AGENTBUS_EVENT_REFUSED');
    expect(getEventBus().stats().rejected).toBe(5);
  });

  it('warns once about events sent to closed runs, whichever run', async () => {
    const bus = resetEventBus({})!;
    for (const runId of ['c1', 'c2', 'c3']) {
      bus.publish({ eventId: '', runId, seq: 0, eventType: 'app.step', timestamp: 1, data: {} });
      bus.closeStream(runId);
      bus.publish({ eventId: '', runId, seq: 0, eventType: 'app.late_step', timestamp: 1, data: {} });
    }
    await settle();
    expect(warnings.map((w) => w.message)).toEqual(['run c1 is closed; event app.late_step was not published']);
  });

  it('does not warn when onError takes the report', async () => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    await runContext(() => emit('AlsoBad', {}));
    await settle();
    expect(warnings).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('refuses an onError that is not a function, so refused events are not silenced (the budget test below spends the process-wide budget)', async () => {
    const bus = resetEventBus({})!;
    expect(() => resetEventBus({ onError: 'log' as never })).toThrow('EventBus: onError must be a function (error, event) => void or undefined, got "log"');
    // The bus in place keeps warning about refused events.
    expect(getEventBus()).toBe(bus);
    await runContext(() => emit('Not.A.Type', {}));
    await settle();
    expect(warnings.map((w) => w.message)).toEqual(['emit: eventType "Not.A.Type" is not a dotted lowercase name like "myapp.cache.miss"']);
  });

  it('bounds the distinct problems it warns about, and says so', async () => {
    resetEventBus({});
    await runContext(() => {
      for (let i = 0; i < 500; i++) emit(`Bad${i}`, {});
    });
    await settle();
    expect(warnings.length).toBeLessThanOrEqual(65);
    expect(warnings.at(-1)!.message).toMatch(/later ones are only counted in stats\(\)\.rejected/);
    expect(getEventBus().stats().rejected).toBe(500);
  });
});

describe('warning budgets', () => {
  it('keeps one budget per kind: a flood of refused events does not silence a second step.end', async () => {
    resetEventBus({});
    await runContext(() => {
      for (let i = 0; i < 200; i++) emit(`Flood${i}`, {});
      const step = startStep('agent.model.started', { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 });
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
    });
    await settle();
    expect(warnings.filter((w) => (w as Error & { code?: string }).code === 'AGENTBUS_STEP_ENDED_TWICE')).toHaveLength(1);
  });
});
