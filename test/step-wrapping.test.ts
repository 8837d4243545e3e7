// A listener's wrapStep chooses where a step's body runs, never what the
// step does: the body runs exactly once and the step returns or throws what
// the body did, whatever the wrapper does; a wrapper that breaks the
// contract is counted, told to onError and warned about once, by name.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runStep } from '../src/bus-protocol.js';
import { EventBus } from '../src/bus.js';
import { runContext } from '../src/context.js';
import { traceTool } from '../src/emit.js';
import type { StreamEvent } from '../src/events.js';
import type { StepWrapper } from '../src/step-wrapping.js';

function start(): StreamEvent {
  return { eventId: '', runId: 'r', seq: 0, eventType: 'agent.tool.started', timestamp: 1, spanId: 's1', parentSpanId: undefined, data: {} };
}

let warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if (warning.name === 'AgentbusWarning') warnings.push(warning);
};
const settle = () => new Promise((r) => setImmediate(r));
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(async () => {
  // Warnings are emitted on the next tick: a test's own come in before it ends.
  await settle();
  process.off('warning', onWarning);
});

function busWith(wrapStep: StepWrapper, name?: string): { bus: EventBus; errors: unknown[] } {
  const errors: unknown[] = [];
  const bus = new EventBus({ onError: (error) => errors.push(error) });
  bus.addListener({ onEvent: () => {}, wrapStep, name });
  return { bus, errors };
}

describe('a step wrapper that calls the body twice', () => {
  it('runs the body once; the second call returns what the first did, and the listener is warned about by name', async () => {
    const { bus, errors } = busWith((_s, body) => {
      body();
      return body();
    }, 'twice-exporter');
    let runs = 0;
    expect(bus[runStep](start(), () => ++runs)).toBe(1);
    expect(runs).toBe(1);
    expect(bus.stats().listenerErrors).toBe(1);
    expect(String(errors[0])).toContain('wrapStep of listener "twice-exporter" called the step body more than once');
    await settle();
    expect(warnings.map((w) => w.message)).toEqual([
      'wrapStep of listener "twice-exporter" called the step body more than once; the body ran once, and later calls return (or throw) what the first did (a wrapper must call body exactly once and return what it returns)',
    ]);
    expect((warnings[0] as Error & { code?: string }).code).toBe('AGENTBUS_LISTENER_MISUSE');
  });

  it('rethrows the body’s first error on the second call, without running it again', () => {
    const seen: unknown[] = [];
    const { bus } = busWith((_s, body) => {
      try {
        return body();
      } catch (error) {
        seen.push(error);
        return body();
      }
    });
    let runs = 0;
    const failure = new Error('tool failed');
    expect(() =>
      bus[runStep](start(), () => {
        runs++;
        throw failure;
      }),
    ).toThrow(failure);
    expect(runs).toBe(1);
    expect(seen).toEqual([failure]);
  });

  it('runs a traced tool exactly once inside a run on that bus', async () => {
    const { bus } = busWith((_s, body) => {
      body();
      return body();
    });
    let calls = 0;
    const result = await runContext(() => traceTool({ name: 'add', args: { a: 1 } }, () => ++calls), { runId: 'twice', bus });
    expect([result, calls]).toEqual([1, 1]);
    const completed = bus.history('twice').find((e) => e.eventType === 'agent.tool.completed');
    expect(completed?.data).toMatchObject({ success: true, outputPreview: '1' });
  });
});

describe('a step wrapper that never calls the body', () => {
  it('cannot replace the step: the body runs once after it, and the step returns the body’s result', async () => {
    const { bus, errors } = busWith(() => 'from the wrapper' as never, 'lazy');
    let runs = 0;
    expect(bus[runStep](start(), () => `body ${++runs}`)).toBe('body 1');
    expect(bus.stats().listenerErrors).toBe(1);
    expect(String(errors[0])).toContain('wrapStep of listener "lazy" returned without calling the step body; the body ran after it, outside its context');
    await settle();
    expect(warnings).toHaveLength(1);
  });

  it('runs a traced tool exactly once, and records the tool’s own result', async () => {
    const { bus } = busWith(() => undefined as never);
    let calls = 0;
    const result = await runContext(() => traceTool({ name: 'add', args: {} }, () => ++calls), { runId: 'lazy-run', bus });
    expect([result, calls]).toEqual([1, 1]);
    expect(bus.history('lazy-run').find((e) => e.eventType === 'agent.tool.completed')?.data).toMatchObject({ success: true, outputPreview: '1' });
  });

  it('and calls it later anyway gets the first outcome back, not a second run', async () => {
    let later: (() => number) | undefined;
    const { bus } = busWith((_s, body) => {
      later = body as () => number;
      return undefined as never;
    }, 'deferred');
    let runs = 0;
    expect(bus[runStep](start(), () => ++runs)).toBe(1);
    expect(later?.()).toBe(1);
    expect(runs).toBe(1);
    expect(bus.stats().listenerErrors).toBe(2);
    await settle();
    expect(warnings.map((w) => w.message.split(';')[0])).toEqual([
      'wrapStep of listener "deferred" returned without calling the step body',
      'wrapStep of listener "deferred" called the step body more than once',
    ]);
  });
});

describe('a step wrapper cannot change the step’s outcome', () => {
  it('when it throws before the body: it is skipped, counted, not warned about', async () => {
    const { bus, errors } = busWith(() => {
      throw new Error('wrapper broke');
    });
    let runs = 0;
    expect(bus[runStep](start(), () => ++runs)).toBe(1);
    expect(String(errors[0])).toContain('wrapper broke');
    await settle();
    expect(warnings).toEqual([]);
  });

  it('when it throws after the body ran: the body’s result stands and the error is counted', () => {
    const { bus, errors } = busWith((_s, body) => {
      body();
      throw new Error('cleanup failed');
    });
    expect(bus[runStep](start(), () => 'ok')).toBe('ok');
    expect(bus.stats().listenerErrors).toBe(1);
    expect(String(errors[0])).toContain('cleanup failed');
  });

  it('when it swallows the body’s error: the step still throws it', () => {
    const { bus, errors } = busWith((_s, body) => {
      try {
        return body();
      } catch {
        return 'fallback' as never;
      }
    }, 'swallower');
    const failure = new Error('tool failed');
    expect(() => bus[runStep](start(), () => { throw failure; })).toThrow(failure);
    expect(String(errors[0])).toContain('"swallower" returned instead of letting the step body’s error through');
  });

  it('when it returns something else: the step returns the body’s result', () => {
    const { bus, errors } = busWith((_s, body) => {
      body();
      return 42 as never;
    }, 'replacer');
    expect(bus[runStep](start(), () => 7)).toBe(7);
    expect(String(errors[0])).toContain('"replacer" returned something other than what the step body returned');
  });

  it('and a well-behaved wrapper is never reported, even for a body that throws', () => {
    const { bus, errors } = busWith((_s, body) => body());
    expect(bus[runStep](start(), () => 3)).toBe(3);
    expect(() => bus[runStep](start(), () => { throw new Error('tool failed'); })).toThrow('tool failed');
    expect(errors).toEqual([]);
    expect(bus.stats().listenerErrors).toBe(0);
  });
});

describe('wrappers of several listeners', () => {
  it('nest, the first added outermost; one that misbehaves does not disturb the others', () => {
    const bus = new EventBus();
    const trail: string[] = [];
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => { trail.push('outer'); const r = body(); trail.push('outer done'); return r; } });
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => { trail.push('twice'); body(); return body(); } });
    bus.addListener({ onEvent: () => {}, wrapStep: (_s, body) => { trail.push('inner'); return body(); } });
    expect(bus[runStep](start(), () => { trail.push('body'); return 5; })).toBe(5);
    expect(trail).toEqual(['outer', 'twice', 'inner', 'body', 'outer done']);
    expect(bus.stats().listenerErrors).toBe(1);
  });

  it('are called with their listener as `this`', () => {
    const bus = new EventBus();
    class Exporter {
      readonly wrapped: string[] = [];
      onEvent(): void {}
      wrapStep<R>(s: StreamEvent, body: () => R): R {
        this.wrapped.push(s.spanId ?? '');
        return body();
      }
    }
    const exporter = new Exporter();
    bus.addListener(exporter);
    bus[runStep](start(), () => 1);
    expect(exporter.wrapped).toEqual(['s1']);
  });
});
