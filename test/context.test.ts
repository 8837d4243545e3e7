import { EventEmitter, once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEventBus, resetEventBus } from '../src/global.js';
import { bindToRun, currentRunId, isAbortError, isRecording, runContext } from '../src/context.js';
import { emit } from '../src/emit.js';
import type { StreamEvent } from '../src/events.js';

beforeEach(() => {
  resetEventBus();
});
afterEach(() => {
  resetEventBus();
});

function eventsOf(runId: string): StreamEvent[] {
  return getEventBus().history(runId);
}

describe('runContext', () => {
  it('generates a run id, passes it to fn and returns fn’s result', async () => {
    let seen: string | undefined;
    const result = await runContext((runId) => {
      seen = runId;
      expect(currentRunId()).toBe(runId);
      expect(isRecording()).toBe(true);
      return 42;
    });
    expect(result).toBe(42);
    expect(seen).toMatch(/^[0-9a-f-]{36}$/);
    expect(currentRunId()).toBeUndefined();
    expect(isRecording()).toBe(false);
  });

  it('emits run.started and run.completed with status ok and a duration', async () => {
    await runContext(() => undefined, { runId: 'ok-run', name: 'demo' });
    const events = eventsOf('ok-run');
    expect(events.map((e) => e.eventType)).toEqual(['run.started', 'run.completed']);
    expect(events[0]?.data).toMatchObject({ name: 'demo' });
    expect(events[1]?.data).toMatchObject({ status: 'ok' });
    expect((events[1]?.data as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
  });

  it('rethrows the error and records status error with its message', async () => {
    await expect(
      runContext(async () => {
        throw new RangeError('too far');
      }, { runId: 'err-run' }),
    ).rejects.toThrow('too far');
    expect(eventsOf('err-run').at(-1)?.data).toMatchObject({ status: 'error', error: 'RangeError: too far' });
  });

  it('records status aborted for an AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      runContext(() => {
        controller.signal.throwIfAborted();
      }, { runId: 'abort-run' }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(eventsOf('abort-run').at(-1)?.data).toMatchObject({ status: 'aborted' });
  });

  it('links a nested run to its parent run and enclosing step', async () => {
    const { startStep } = await import('../src/emit.js');
    await runContext(async () => {
      const step = startStep('agent.invocation.started', { agentName: 'outer' });
      await step.run(() => runContext(() => emit('child.work', {}), { runId: 'child' }));
      step.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '' });
      const started = eventsOf('child')[0];
      expect(started?.data).toEqual({ name: undefined, parentRunId: 'parent', parentSpanId: step.spanId });
    }, { runId: 'parent' });
    expect(eventsOf('child').map((e) => e.eventType)).toEqual(['run.started', 'child.work', 'run.completed']);
    expect(eventsOf('parent').map((e) => e.eventType)).not.toContain('child.work');
  });

  it.each([[''], ['has space'], ['x'.repeat(129)], ['slash/no']])('refuses the run id %j with a precise error', async (runId) => {
    await expect(runContext(() => 1, { runId })).rejects.toThrow(/runId must be 1-128 characters/);
  });

  it('keeps the run across await, Promise.all, timers, microtasks, emitters and abort handlers', async () => {
    const seen: Record<string, string | undefined> = {};
    const outside = new AbortController();
    let listening!: () => void;
    const ready = new Promise<void>((r) => (listening = r));
    const run = runContext(async () => {
      await Promise.resolve();
      seen.await = currentRunId();
      const [a, b] = await Promise.all([
        (async () => currentRunId())(),
        new Promise<string | undefined>((r) => setTimeout(() => r(currentRunId()), 1)),
      ]);
      seen.all = a === b ? a : `mismatch ${a} ${b}`;
      seen.immediate = await new Promise((r) => setImmediate(() => r(currentRunId())));
      seen.microtask = await new Promise((r) => queueMicrotask(() => r(currentRunId())));
      const emitter = new EventEmitter();
      const got = once(emitter, 'ping');
      setTimeout(() => emitter.emit('ping', currentRunId()), 1);
      seen.emitter = (await got)[0] as string | undefined;
      const local = new AbortController();
      const aborted = new Promise<string | undefined>((r) => local.signal.addEventListener('abort', () => r(currentRunId())));
      setTimeout(() => local.abort(), 1);
      seen.abortInside = await aborted;
      // Aborted from outside any run: a listener bound with bindToRun keeps the run.
      const bound = new Promise<string | undefined>((r) =>
        outside.signal.addEventListener('abort', bindToRun(() => r(currentRunId()))),
      );
      listening();
      seen.abortOutside = await bound;
    }, { runId: 'ctx-run' });
    await ready;
    expect(currentRunId()).toBeUndefined();
    outside.abort();
    await run;
    expect(seen).toEqual({
      await: 'ctx-run',
      all: 'ctx-run',
      immediate: 'ctx-run',
      microtask: 'ctx-run',
      emitter: 'ctx-run',
      abortInside: 'ctx-run',
      abortOutside: 'ctx-run',
    });
  });

  it('loses the run in an unbound listener fired from outside (why bindToRun exists)', async () => {
    const outside = new AbortController();
    let seen: string | undefined = 'unset';
    await runContext(() => {
      outside.signal.addEventListener('abort', () => (seen = currentRunId()));
    });
    outside.abort();
    expect(seen).toBeUndefined();
  });
});

describe('runContext options', () => {
  it('refuses options that are not an object, before reading any option from them', async () => {
    let ran = false;
    const fn = () => {
      ran = true;
    };
    // A string's own properties would otherwise be read as options ('x'.link is String.prototype.link).
    await expect(runContext(fn, 'x' as never)).rejects.toThrow(new TypeError('runContext: options must be a RunOptions object or undefined, got "x"'));
    await expect(runContext(fn, null as never)).rejects.toThrow(new TypeError('runContext: options must be a RunOptions object or undefined, got null'));
    await expect(runContext(fn, 5 as never)).rejects.toThrow('runContext: options must be a RunOptions object or undefined, got 5');
    expect(ran).toBe(false);
    await expect(runContext(() => 1, undefined)).resolves.toBe(1);
  });

  it('refuses a name that is not a string, which run.started would carry', async () => {
    await expect(runContext(() => {}, { runId: 'named', name: 42 as never })).rejects.toThrow(
      new TypeError('runContext: options.name must be a string or undefined, got 42'),
    );
    expect(eventsOf('named')).toEqual([]);
    await runContext(() => {}, { runId: 'named', name: 'a name' });
    expect(eventsOf('named')[0]?.data).toMatchObject({ name: 'a name' });
  });

  it('refuses a keepOpen that is not a boolean, rather than taking "no" for false', async () => {
    await expect(runContext(() => {}, { runId: 'kept', keepOpen: 'no' as never })).rejects.toThrow(
      new TypeError('runContext: options.keepOpen must be a boolean or undefined, got "no"'),
    );
    expect(eventsOf('kept')).toEqual([]);
    await runContext(() => {}, { runId: 'kept', keepOpen: true });
    await runContext(() => emit('app.later', {}), { runId: 'kept' });
    expect(eventsOf('kept').map((e) => e.eventType)).toEqual(['run.started', 'run.completed', 'run.started', 'app.later', 'run.completed']);
  });

  it('refuses a runId of null (only undefined means "make one")', async () => {
    let ran = false;
    await expect(runContext(() => { ran = true; }, { runId: null as never })).rejects.toThrow(
      new TypeError("runContext: options.runId must be 1-128 characters of letters, digits, '.', '_', ':' or '-', not only dots, or undefined for a random UUID, got null"),
    );
    expect(ran).toBe(false);
    await expect(runContext((runId) => runId, { runId: undefined })).resolves.toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses an fn that is not a function, before the run starts', async () => {
    await expect(runContext('work' as never, { runId: 'no-fn' })).rejects.toThrow(new TypeError('runContext: fn must be a function (runId) => result, got "work"'));
    expect(eventsOf('no-fn')).toEqual([]);
  });

  it('reads each option once, all before fn runs (keepOpen included, though used only at the end)', async () => {
    const reads: string[] = [];
    const options = new Proxy({ runId: 'read-once', keepOpen: false, name: 'n' }, {
      get(target, key) {
        reads.push(String(key));
        return Reflect.get(target, key);
      },
    });
    let readBeforeFn = 0;
    await runContext(() => {
      readBeforeFn = reads.length;
    }, options);
    expect(reads.length).toBe(readBeforeFn);
    expect(reads.filter((key) => key === 'keepOpen')).toEqual(['keepOpen']);
    expect(reads.filter((key) => key === 'name')).toEqual(['name']);
  });
});

describe('isAbortError', () => {
  it('is false, and does not throw, for a value whose name cannot be read', () => {
    const hostile = new Proxy({}, { get() { throw new Error('trap'); } });
    expect(isAbortError(hostile)).toBe(false);
    expect(isAbortError(new DOMException('x', 'AbortError'))).toBe(true);
    expect(isAbortError(null)).toBe(false);
  });
});
