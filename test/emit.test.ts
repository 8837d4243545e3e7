import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEventBus, peekEventBus, resetEventBus } from '../src/bus.js';
import { runContext } from '../src/context.js';
import { emit, newSpanId, startStep, traceFanout, traceModel, traceTool } from '../src/emit.js';
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
    step.end('agent.tool.completed', { toolName: 't', toolCallId: 'c', success: true, durationMs: 0 });
    expect(traceTool('t', {}, () => 'sync')).toBe('sync');
    expect(await traceTool('t', {}, async () => 'async')).toBe('async');
    expect(() => traceTool('t', {}, () => { throw new Error('raw'); })).toThrow('raw');
    expect(await traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: 'hi' }))).toMatchObject({ content: 'hi' });
    expect(peekEventBus()).toBeUndefined();
  });
});

describe('emit', () => {
  it('parents a point event to the innermost open step', async () => {
    const events = await recorded(() =>
      traceTool('search', { q: 'x' }, () => {
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

describe('traceTool', () => {
  it('emits a started/completed pair with one span id, duration and output preview', async () => {
    const events = await recorded(async () => {
      expect(await traceTool('add', { a: 1, b: 2 }, async () => 3, { toolCallId: 'call_1' })).toBe(3);
    });
    const [started, completed] = events;
    expect(started).toMatchObject({ eventType: 'agent.tool.started', data: { toolName: 'add', toolCallId: 'call_1', argKeys: ['a', 'b'] } });
    expect(started?.data).not.toHaveProperty('args', expect.anything());
    expect(completed).toMatchObject({ eventType: 'agent.tool.completed', spanId: started?.spanId, data: { success: true, outputPreview: '3' } });
    expect((completed?.data as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
  });

  it('records failure and rethrows, sync and async', async () => {
    const events = await recorded(async () => {
      expect(() => traceTool('a', {}, () => { throw new TypeError('sync bad'); })).toThrow('sync bad');
      await expect(traceTool('b', {}, async () => { throw new Error('async bad'); })).rejects.toThrow('async bad');
    });
    expect(events.filter((e) => e.eventType === 'agent.tool.completed').map((e) => e.data)).toEqual([
      expect.objectContaining({ toolName: 'a', success: false, error: 'TypeError: sync bad' }),
      expect.objectContaining({ toolName: 'b', success: false, error: 'Error: async bad' }),
    ]);
  });

  it('includes arguments only when the run captures content', async () => {
    const events = await recorded(() => traceTool('add', { a: 1 }, () => 1), { captureContent: true });
    expect(events[0]?.data).toMatchObject({ args: { a: 1 } });
  });

  it('keeps concurrent calls of the same tool apart', async () => {
    const events = await recorded(() =>
      Promise.all([1, 2, 3].map((n) => traceTool('same', { n }, async () => {
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
      step.end('agent.terminate', data);
      step.end('agent.terminate', { ...data, reason: 'error' });
      expect(step.ended).toBe(true);
    });
    expect(events.map((e) => e.eventType)).toEqual(['agent.invocation.started', 'agent.terminate']);
  });

  it('nests steps run inside other steps', async () => {
    const events = await recorded(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'a' });
      await agent.run(() => traceTool('t', {}, async () => 1));
      agent.end('agent.terminate', { reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' });
    });
    const agentSpan = events[0]?.spanId;
    expect(events[1]).toMatchObject({ eventType: 'agent.tool.started', parentSpanId: agentSpan });
  });

  it('accepts an explicit parent for callback-driven adapters', async () => {
    const parent = newSpanId();
    const events = await recorded(() => {
      const step = startStep('agent.model.started', { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, { parentSpanId: parent });
      step.end('agent.model.completed', { stopReason: 'stop', toolCallCount: 0, contentPreview: '' });
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

  it('closes the call with the error and rethrows', async () => {
    const events = await recorded(() =>
      traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => {
        throw new Error('rate limited');
      }),
    );
    expect(events.at(-1)).toMatchObject({ eventType: 'agent.model.completed', data: { stopReason: 'error', error: 'Error: rate limited' } });
  });
});

describe('traceFanout', () => {
  it('parents each task’s steps to the fan-out and counts outcomes', async () => {
    const events = await recorded(() =>
      traceFanout('all', [
        () => traceTool('a', {}, async () => 1),
        () => traceTool('b', {}, async () => { throw new Error('no'); }),
      ]),
    );
    const fanSpan = events[0]?.spanId;
    expect(events.filter((e) => e.eventType === 'agent.tool.started').every((e) => e.parentSpanId === fanSpan)).toBe(true);
    expect(events.at(-1)).toMatchObject({ eventType: 'multiagent.fanout.completed', spanId: fanSpan, data: { succeeded: 1, failed: 1 } });
  });
});

describe('newSpanId', () => {
  it('returns distinct 16-hex-character ids across pool refills', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
    expect(ids.size).toBe(2000);
    expect([...ids].filter((id) => !/^[0-9a-f]{16}$/.test(id))).toEqual([]);
  });
});
