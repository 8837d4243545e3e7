import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WARNING_TYPE } from '../src/warnings.js';
import { getEventBus, peekEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { traceFanout, traceModel } from '../src/trace.js';
import { newSpanId } from '../src/ids.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';

beforeEach(() => {
  resetEventBus();
});
afterEach(() => {
  resetEventBus();
});

async function recorded(fn: () => unknown, options: { captureContent?: boolean } = {}): Promise<StreamEvent[]> {
  let id = '';
  await runContext(async (runId) => {
    id = runId;
    await fn();
  }, options).catch(() => undefined);
  const events = getEventBus().history(id);
  for (const e of events) parseStreamEvent(JSON.parse(JSON.stringify(e)));
  return events.filter((e) => !e.eventType.startsWith('run.'));
}

describe('with no run open', () => {
  it('emit, startStep and traceTool do nothing and never build the bus', async () => {
    emit('custom.thing', { a: 1 });
    const step = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] });
    expect(step.recording).toBe(false);
    expect(step.run(() => 5)).toBe(5);
    step.end({ toolName: 't', toolCallId: 'c', success: true, durationMs: 0 });
    expect(traceTool({ name: 't', args: {} }, () => 'sync')).toBe('sync');
    expect(await traceTool({ name: 't', args: {} }, async () => 'async')).toBe('async');
    expect(() => traceTool({ name: 't', args: {} }, () => { throw new Error('raw'); })).toThrow('raw');
    expect(await traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: 'hi' }))).toMatchObject({ content: 'hi' });
    expect(peekEventBus()).toBeUndefined();
  });
});

describe('emit', () => {
  it('parents a point event to the innermost open step', async () => {
    const events = await recorded(() =>
      traceTool({ name: 'search', args: { q: 'x' } }, () => {
        emit('custom.progress', { pct: 50 });
      }),
    );
    const toolSpan = events[0]?.spanId;
    expect(events.map((e) => [e.eventType, e.spanId, e.parentSpanId])).toEqual([
      ['agent.tool.started', toolSpan, undefined],
      ['custom.progress', undefined, toolSpan],
      ['agent.tool.completed', toolSpan, undefined],
    ]);
  });

  it('refuses a malformed type or payload without throwing, and counts it', async () => {
    const errors: string[] = [];
    resetEventBus({ onError: (e) => errors.push(String(e)) });
    const events = await recorded(() => {
      emit('NotDotted', {});
      emit('custom.bad', null as unknown as Record<string, unknown>);
      emit('custom.list', [1] as unknown as Record<string, unknown>);
      emit('custom.fine', {});
    });
    expect(events.map((e) => e.eventType)).toEqual(['custom.fine']);
    expect(getEventBus().stats().rejected).toBe(3);
    expect(errors).toEqual([
      expect.stringContaining('eventType "NotDotted" is not a dotted lowercase name'),
      expect.stringContaining('data of custom.bad must be a plain object, got null'),
      expect.stringContaining('got an array'),
    ]);
  });
});

describe('hostile or mistaken step calls', () => {
  it('closes a step whose start payload the bus had to replace with a placeholder', async () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const events = await recorded(() => {
      const step = startStep('agent.model.started', proxy as never);
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
    });
    expect(events.map((e) => e.eventType)).toEqual(['stream.placeholder', 'agent.model.completed']);
    expect(events[1]?.spanId).toBe(events[0]?.spanId);
  });

  it('refuses a start type that opens no step, and returns the no-op step', async () => {
    let step: ReturnType<typeof startStep> | undefined;
    const events = await recorded(() => {
      step = startStep('agent.think' as never, { iteration: 1 } as never);
      step.end({} as never);
    });
    expect(step?.recording).toBe(false);
    expect(events).toEqual([]);
    expect(getEventBus().stats().rejected).toBe(1);
  });

  it('never throws for a start type that is a hostile object', async () => {
    const hostile = { toString: () => { throw new Error('no'); } };
    const events = await recorded(() => {
      expect(startStep(hostile as never, {} as never).recording).toBe(false);
    });
    expect(events).toEqual([]);
    expect(getEventBus().stats().rejected).toBe(1);
  });

  it('never throws for options whose getters throw', async () => {
    const options = { get spanId(): string { throw new Error('no'); } };
    let step: ReturnType<typeof startStep> | undefined;
    const events = await recorded(() => {
      step = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] }, options);
    });
    expect(step?.recording).toBe(false);
    expect(events).toEqual([]);
    expect(getEventBus().stats().rejected).toBe(1);
  });

  it('refuses the 0.1 form step.end(eventType, data) and keeps the step open for a correct end', async () => {
    const errors: Error[] = [];
    resetEventBus({ onError: (error) => errors.push(error as Error) });
    const events = await recorded(() => {
      const step = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] });
      (step.end as (...args: unknown[]) => void)('agent.tool.completed', { toolName: 't', toolCallId: 'c', success: true, durationMs: 1 });
      expect(step.ended).toBe(false);
      step.end({ toolName: 't', toolCallId: 'c', success: true, durationMs: 1 });
    });
    expect(events.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('step.end: data of the agent.tool.started step must be the agent.tool.completed payload object, got the string "agent.tool.completed" (step.end(eventType, data) became step.end(data) in 0.2)'),
    ]);
  });
});

describe('traceTool', () => {
  it('emits a started/completed pair with one span id, duration and output preview', async () => {
    const events = await recorded(async () => {
      expect(await traceTool({ name: 'add', args: { a: 1, b: 2 }, toolCallId: 'call_1' }, async () => 3)).toBe(3);
    });
    const [started, completed] = events;
    expect(started).toMatchObject({ eventType: 'agent.tool.started', data: { toolName: 'add', toolCallId: 'call_1', argKeys: ['a', 'b'] } });
    expect(started?.data).not.toHaveProperty('args', expect.anything());
    expect(completed).toMatchObject({ eventType: 'agent.tool.completed', spanId: started?.spanId, data: { success: true, outputPreview: '3' } });
    expect((completed?.data as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
  });

  it('records failure and rethrows, sync and async', async () => {
    const events = await recorded(async () => {
      expect(() => traceTool({ name: 'a', args: {} }, () => { throw new TypeError('sync bad'); })).toThrow('sync bad');
      await expect(traceTool({ name: 'b', args: {} }, async () => { throw new Error('async bad'); })).rejects.toThrow('async bad');
    });
    expect(events.filter((e) => e.eventType === 'agent.tool.completed').map((e) => e.data)).toEqual([
      expect.objectContaining({ toolName: 'a', success: false, error: 'TypeError: sync bad' }),
      expect.objectContaining({ toolName: 'b', success: false, error: 'Error: async bad' }),
    ]);
  });

  it('includes arguments only when the run captures content', async () => {
    const events = await recorded(() => traceTool({ name: 'add', args: { a: 1 } }, () => 1), { captureContent: true });
    expect(events[0]?.data).toMatchObject({ args: { a: 1 } });
  });

  it('keeps concurrent calls of the same tool apart', async () => {
    const events = await recorded(() =>
      Promise.all([1, 2, 3].map((n) => traceTool({ name: 'same', args: { n } }, async () => {
        await new Promise((r) => setTimeout(r, 4 - n));
        emit('custom.inside', { n });
      }))),
    );
    const spanOf = new Map(events.filter((e) => e.eventType === 'agent.tool.started').map((e) => [e.spanId, e]));
    expect(spanOf.size).toBe(3);
    for (const inside of events.filter((e) => e.eventType === 'custom.inside')) {
      expect(spanOf.has(inside.parentSpanId)).toBe(true);
    }
    const closed = events.filter((e) => e.eventType === 'agent.tool.completed').map((e) => e.spanId);
    expect(new Set(closed)).toEqual(new Set(spanOf.keys()));
  });
});

describe('startStep', () => {
  it('closes a step exactly once', async () => {
    const events = await recorded(() => {
      const step = startStep('agent.invocation.started', { agentName: 'a' });
      const data = { reason: 'completed', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '' } as const;
      step.end(data);
      step.end({ ...data, reason: 'error' });
      expect(step.ended).toBe(true);
    });
    expect(events.map((e) => e.eventType)).toEqual(['agent.invocation.started', 'agent.terminate']);
  });

  it('reports a second end through the warning channel, with its own code', async () => {
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === WARNING_TYPE && warning.message.includes('agent.model.started')) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      await recorded(() => {
        const step = startStep('agent.model.started', { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 });
        step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
        step.end({ stopReason: 'again', toolCallCount: 0, contentPreview: '' });
      });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => [w.code, w.message])).toEqual([
      ['AGENTBUS_STEP_ENDED_TWICE', expect.stringMatching(/^step\.end was called twice on the agent\.model\.started step [0-9a-f]{16} of run \S+; the second call is ignored/)],
    ]);
  });

  it('measures durationMs on the event clock when the closing data leaves it out, and keeps a given one', async () => {
    const events = await recorded(async () => {
      const measured = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c1', argKeys: [] });
      await new Promise((resolve) => setTimeout(resolve, 15));
      measured.end({ toolName: 't', toolCallId: 'c1', success: true });
      const given = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c2', argKeys: [] });
      given.end({ toolName: 't', toolCallId: 'c2', success: true, durationMs: 1234 });
    });
    const [start, end] = events.filter((e) => e.data !== undefined && (e.data as { toolCallId?: string }).toolCallId === 'c1');
    expect((end?.data as { durationMs: number }).durationMs).toBe((end?.timestamp as number) - (start?.timestamp as number));
    expect((end?.data as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(10);
    expect(events.at(-1)?.data).toMatchObject({ toolCallId: 'c2', durationMs: 1234 });
  });

  it('nests steps run inside other steps', async () => {
    const events = await recorded(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'a' });
      await agent.run(() => traceTool({ name: 't', args: {} }, async () => 1));
      agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' });
    });
    const agentSpan = events[0]?.spanId;
    expect(events[1]).toMatchObject({ eventType: 'agent.tool.started', parentSpanId: agentSpan });
  });

  it('accepts an explicit parent for callback-driven adapters', async () => {
    const parent = newSpanId();
    const events = await recorded(() => {
      const step = startStep('agent.model.started', { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, { parentSpanId: parent });
      step.end({ stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
    });
    expect(events.every((e) => e.parentSpanId === parent)).toBe(true);
  });
});

describe('traceModel', () => {
  it('emits started, tokens with the call’s span id, then completed', async () => {
    const events = await recorded(() =>
      traceModel({ model: 'gpt-x', provider: 'openai', messageCount: 2, toolCount: 1 }, async () => ({
        stopReason: 'tool_calls',
        toolCallCount: 1,
        content: 'thinking',
        usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 2 },
      })),
    );
    expect(events.map((e) => e.eventType)).toEqual(['agent.model.started', 'agent.tokens.used', 'agent.model.completed']);
    expect(new Set(events.map((e) => e.spanId)).size).toBe(1);
    expect(events[1]?.data).toMatchObject({ inputTokens: 10, outputTokens: 5, totalTokens: 15, cacheReadInputTokens: 2 });
  });

  it('closes the call with the error and its type, and rethrows', async () => {
    const events = await recorded(() =>
      traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => {
        throw new RangeError('rate limited');
      }),
    );
    expect(events.at(-1)).toMatchObject({
      eventType: 'agent.model.completed',
      data: { stopReason: 'error', error: 'RangeError: rate limited', errorType: 'RangeError' },
    });
  });

  it('hands the open step to the call, as startActiveSpan hands the span', async () => {
    let spanId: string | undefined;
    const events = await recorded(() =>
      traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async (step) => {
        spanId = step.spanId;
        step.emit('custom.model.retry', { attempt: 1 });
        return { stopReason: 'stop', toolCallCount: 0, content: '' };
      }),
    );
    expect(spanId).toBe(events[0]?.spanId);
    expect(events[1]).toMatchObject({ eventType: 'custom.model.retry', spanId });
  });
});

describe('traceFanout', () => {
  it('parents each task’s steps to the fan-out and counts outcomes', async () => {
    const events = await recorded(() =>
      traceFanout({ mergeStrategy: 'all' }, [
        () => traceTool({ name: 'a', args: {} }, async () => 1),
        () => traceTool({ name: 'b', args: {} }, async () => { throw new Error('no'); }),
      ]),
    );
    const fanSpan = events[0]?.spanId;
    expect(events.filter((e) => e.eventType === 'agent.tool.started').every((e) => e.parentSpanId === fanSpan)).toBe(true);
    expect(events.at(-1)).toMatchObject({ eventType: 'multiagent.fanout.completed', spanId: fanSpan, data: { succeeded: 1, failed: 1 } });
  });
});

describe('traceTool: the step it hands over, the error type it records', () => {
  it('hands the open step to the tool and types a thrown error', async () => {
    let spanId: string | undefined;
    const events = await recorded(() =>
      traceTool({ name: 'fetch_page', args: { url: 'x' }, toolCallId: 'call_7' }, (step) => {
        spanId = step.spanId;
        throw new TypeError('bad url');
      }),
    );
    expect(events[0]).toMatchObject({ eventType: 'agent.tool.started', spanId, data: { toolName: 'fetch_page', toolCallId: 'call_7', argKeys: ['url'] } });
    expect(events[1]).toMatchObject({ eventType: 'agent.tool.completed', spanId, data: { success: false, error: 'TypeError: bad url', errorType: 'TypeError' } });
  });

  it('leaves errorType out for a thrown value that is not an Error', async () => {
    const events = await recorded(() =>
      traceTool({ name: 't' }, () => {
        throw 'plain text';
      }),
    );
    expect(events[1]?.data).toMatchObject({ success: false, error: 'plain text' });
    expect((events[1]?.data as { errorType?: string }).errorType).toBeUndefined();
  });

  it('still runs the tool once when its info cannot be read, recording nothing for it', async () => {
    const hostile = new Proxy({}, { get: () => { throw new Error('no reading'); } }) as { name: string };
    let calls = 0;
    const events = await recorded(() => traceTool(hostile, () => ++calls));
    expect(calls).toBe(1);
    expect(events).toEqual([]);
  });
});

describe('traceFanout with tasks that misbehave', () => {
  it('counts a task that throws before returning its promise as failed, and still closes the fan-out', async () => {
    let results: PromiseSettledResult<number>[] = [];
    const events = await recorded(async () => {
      results = await traceFanout({ mergeStrategy: 'all' }, [
        async () => 1,
        () => {
          throw new Error('sync');
        },
      ]);
    });
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(events.at(-1)).toMatchObject({ eventType: 'multiagent.fanout.completed', data: { succeeded: 1, failed: 1 } });
  });

  it('runs the tasks when its info cannot be read', async () => {
    const info = new Proxy({}, { get: () => { throw new Error('no'); } }) as { mergeStrategy: string };
    const results = await runContext(() => traceFanout(info, [async () => 'ran']));
    expect(results).toEqual([{ status: 'fulfilled', value: 'ran' }]);
  });
});

describe('newSpanId', () => {
  it('returns distinct 16-hex-character ids across pool refills', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
    expect(ids.size).toBe(2000);
    expect([...ids].filter((id) => !/^[0-9a-f]{16}$/.test(id))).toEqual([]);
  });
});
