import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_TYPE_MAX, PREVIEW_MAX, StreamEventError, isEventType, parseStreamEvent, type StreamEvent } from '../src/events.js';
import { errorTypeOf, isErrorTypeName, preview } from '../src/payload-text.js';

const base = { eventId: 'r1:1', runId: 'r1', seq: 1, timestamp: 1_700_000_000_000.25 };

function errorOf(fn: () => unknown): StreamEventError {
  try {
    fn();
  } catch (error) {
    if (error instanceof StreamEventError) return error;
    throw error;
  }
  throw new Error('expected a StreamEventError');
}

describe('parseStreamEvent', () => {
  it('accepts a canonical event and keeps its payload', () => {
    const event = parseStreamEvent({
      ...base,
      eventType: 'agent.tool.started',
      spanId: 'abc',
      data: { toolName: 'add', toolCallId: 'c1', argKeys: ['a', 'b'] },
    });
    expect(event.eventType).toBe('agent.tool.started');
    expect(isEventType(event, 'agent.tool.started') && event.data.toolName).toBe('add');
  });

  it("accepts an MCP step's server address and port, and names a port out of range", () => {
    const mcp = { method: 'tools/call', side: 'client', transport: 'tcp', serverAddress: '127.0.0.1', serverPort: 8080 };
    const event = parseStreamEvent({ ...base, eventType: 'agent.tool.started', data: { toolName: 'add', toolCallId: 'c1', argKeys: [], mcp } });
    expect(isEventType(event, 'agent.tool.started') && event.data.mcp).toEqual(mcp);
    const error = errorOf(() =>
      parseStreamEvent({ ...base, eventType: 'agent.tool.started', data: { toolName: 'add', toolCallId: 'c1', argKeys: [], mcp: { ...mcp, serverPort: 70_000 } } }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(['data.mcp.serverPort']);
  });

  it('accepts a custom dotted event with free-form data', () => {
    const event = parseStreamEvent({ ...base, eventType: 'myapp.cache_miss', data: { key: 'k', nested: { a: [1] } } });
    expect(event.data).toEqual({ key: 'k', nested: { a: [1] } });
  });

  it.each([
    ['no dot', 'agent'],
    ['upper case', 'Agent.Think'],
    ['empty segment', 'agent..think'],
    ['leading digit', '1agent.think'],
    ['spaces', 'agent. think'],
  ])('rejects an event type with %s, naming the field', (_, eventType) => {
    const error = errorOf(() => parseStreamEvent({ ...base, eventType, data: {} }));
    expect(error.issues[0]?.path).toBe('eventType');
    expect(error.message).toMatch(/eventType: expected a dotted lowercase event type/);
  });

  it('names the payload field that breaks a canonical schema', () => {
    const error = errorOf(() =>
      parseStreamEvent({ ...base, eventType: 'agent.tokens.used', data: { model: 'm', provider: 'p', inputTokens: -1, outputTokens: 2, totalTokens: 1 } }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(['data.inputTokens']);
    expect(error.message).toContain('data.inputTokens');
  });

  it('reports every missing envelope field', () => {
    const error = errorOf(() => parseStreamEvent({ eventType: 'run.started', data: {} }));
    expect(error.issues.map((i) => i.path).sort()).toEqual(['eventId', 'runId', 'seq', 'timestamp']);
  });

  it('rejects values that are not objects', () => {
    expect(() => parseStreamEvent(null)).toThrow(StreamEventError);
    expect(() => parseStreamEvent('agent.think')).toThrow(StreamEventError);
    expect(() => parseStreamEvent({ ...base, eventType: 'x.y', data: [1, 2] })).toThrow(/data/);
  });

  it('rejects a preview longer than the cap', () => {
    const error = errorOf(() =>
      parseStreamEvent({
        ...base,
        eventType: 'agent.think',
        data: { iteration: 1, reasoningPreview: 'x'.repeat(PREVIEW_MAX + 1), hasToolCalls: false, toolCallCount: 0 },
      }),
    );
    expect(error.issues[0]?.path).toBe('data.reasoningPreview');
  });

  it('round-trips through JSON', () => {
    const event: StreamEvent = {
      ...base,
      eventType: 'run.completed',
      spanId: undefined,
      parentSpanId: undefined,
      data: { status: 'error', error: 'Error: boom', durationMs: 12.5 },
    };
    expect(parseStreamEvent(JSON.parse(JSON.stringify(event)))).toEqual(JSON.parse(JSON.stringify(event)));
  });
});

describe('preview', () => {
  it('cuts long text to the cap with an ellipsis', () => {
    const text = preview('y'.repeat(1000));
    expect(text).toHaveLength(PREVIEW_MAX);
    expect(text.endsWith('…')).toBe(true);
  });

  it('encodes objects and survives cycles and BigInt', () => {
    expect(preview({ a: 1 })).toBe('{"a":1}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(preview(cyclic)).toBe('{"self":"[Circular]"}');
    expect(preview(10n)).toBe('10');
    expect(preview(undefined)).toBe('');
  });

  it('writes numbers and booleans exactly as JSON does (non-finite numbers as null)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.constantFrom(-0, Number.MAX_VALUE, Number.MIN_VALUE, 1e21, NaN, -Infinity)), (value) => {
        expect(preview(value)).toBe(JSON.stringify(value));
      }),
    );
  });
});

describe('isErrorTypeName', () => {
  it('takes identifier-like names and integer codes, not free text', () => {
    for (const ok of ['TypeError', 'tool_error', 'openai.RateLimitError', '-32602', '500', '0']) expect(isErrorTypeName(ok), ok).toBe(true);
    for (const no of ['-32602 invalid params', '5.5', '--1', '12345678901', '-', '', 'disk on fire']) expect(isErrorTypeName(no), no).toBe(false);
  });
});

describe('errorTypeOf', () => {
  it("gives an Error's name: built-in classes, subclasses, and a name set on the instance", () => {
    class QuotaError extends Error {
      override name = 'QuotaError';
    }
    class Unnamed extends Error {}
    expect(errorTypeOf(new TypeError('x'))).toBe('TypeError');
    expect(errorTypeOf(new QuotaError('x'))).toBe('QuotaError');
    expect(errorTypeOf(new Unnamed('x'))).toBe('Error');
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe('AbortError');
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'Mcp.ProtocolError' }))).toBe('Mcp.ProtocolError');
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'N'.repeat(ERROR_TYPE_MAX) }))).toBe('N'.repeat(ERROR_TYPE_MAX));
  });

  it('is undefined for a name that is not an identifier: spaces, a colon, empty, too long, not a string', () => {
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'disk on fire' }))).toBeUndefined();
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'Error: nested' }))).toBeUndefined();
    expect(errorTypeOf(Object.assign(new Error('x'), { name: '' }))).toBeUndefined();
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 'N'.repeat(ERROR_TYPE_MAX + 1) }))).toBeUndefined();
    expect(errorTypeOf(Object.assign(new Error('x'), { name: 42 }))).toBeUndefined();
  });

  it('is undefined, without throwing, for an Error whose name cannot be read', () => {
    const getter = new Error('x');
    Object.defineProperty(getter, 'name', {
      get() {
        throw new Error('no name for you');
      },
    });
    const trapped = new Proxy(new Error('x'), {
      get() {
        throw new Error('trap');
      },
    });
    const noPrototype = new Proxy(new Error('x'), {
      getPrototypeOf() {
        throw new Error('trap');
      },
    });
    expect(errorTypeOf(getter)).toBeUndefined();
    expect(errorTypeOf(trapped)).toBeUndefined();
    expect(errorTypeOf(noPrototype)).toBeUndefined();
  });

  it('is undefined for what is not an Error: a thrown string, an error-like object, nothing', () => {
    expect(errorTypeOf('TypeError: only text')).toBeUndefined();
    expect(errorTypeOf({ name: 'TypeError', message: 'looks like one' })).toBeUndefined();
    expect(errorTypeOf(Object.create(null))).toBeUndefined();
    expect(errorTypeOf(undefined)).toBeUndefined();
    expect(errorTypeOf(null)).toBeUndefined();
    expect(errorTypeOf(42)).toBeUndefined();
  });
});
