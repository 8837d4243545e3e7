// Content capture as the GenAI conventions shape it: off by default, on with
// `captureContent` or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true,
// bounded where it is made (valid JSON after any cut), and the content hook
// that gets the full content and puts a reference on the span. Real runs, the
// reference agent and the real OpenTelemetry SDK (in-memory exporter).
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  CAPTURE_CONTENT_ENV,
  getEventBus,
  resetEventBus,
  runContext,
  textMessage,
  traceModel,
  traceTool,
  type CapturedContent,
  type ContentHook,
  type StreamEvent,
} from '../src/index.js';
import { boundedContent, cutText, fitContent, plainValue, resetContentEnv } from '../src/content.js';
import { Agent, ScriptedModel, defineTool } from '../src/agent/index.js';
import { chatContent } from '../src/adapters/langchain/message-content.js';
import { promptContent } from '../src/adapters/ai-sdk/prompt-content.js';
import { requestContent } from '../src/adapters/openai-agents/input-content.js';
import { fitted as fittedInput } from '../src/step-content.js';
import { instrumentOtel, type OtelBridge, type OtelBridgeOptions } from '../src/otel/index.js';
import { makeTelemetry, type Telemetry } from './otel-harness.js';
import { inputMessagesShape, jsonObjectShape, outputMessagesShape, parsedAs, systemInstructionsShape, textOf, toolDefinitionsShape, wellFormed } from './genai-content-shapes.js';

const CONTENT_KEYS = [
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'gen_ai.tool.definitions',
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
];

let tel: Telemetry;
let bridge: OtelBridge | undefined;
let warnings: Array<Error & { code?: string }> = [];
const onWarning = (warning: Error) => {
  if (warning.name === 'AgentbusWarning') warnings.push(warning);
};

beforeEach(() => {
  resetEventBus();
  delete process.env[CAPTURE_CONTENT_ENV];
  resetContentEnv();
  tel = makeTelemetry();
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  bridge?.shutdown();
  bridge = undefined;
  process.off('warning', onWarning);
  delete process.env[CAPTURE_CONTENT_ENV];
  resetContentEnv();
});

function attach(options: OtelBridgeOptions = {}): void {
  bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, ...options });
}

function span(name: string): ReadableSpan {
  const found = tel.spans().filter((s) => s.name === name);
  expect(found.length, `spans named ${name}`).toBeGreaterThan(0);
  return found[0] as ReadableSpan;
}

function contentKeys(): string[] {
  return [...new Set(tel.spans().flatMap((s) => Object.keys(s.attributes).filter((k) => CONTENT_KEYS.includes(k) || k.startsWith('agentbus.content'))))].sort();
}

function history(runId: string): StreamEvent[] {
  return getEventBus().history(runId);
}

const add = defineTool({ name: 'add', description: 'Adds two numbers.', input: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => ({ sum: a + b }) });

function calculator(): Agent {
  return new Agent({
    name: 'calculator',
    instructions: 'You add numbers.',
    tools: [add],
    model: new ScriptedModel([
      { reasoning: 'I should add', toolCalls: [{ id: 'call-1', name: 'add', arguments: { a: 2, b: 3 } }] },
      { content: 'Five.' },
    ]),
  });
}

describe('content capture is off by default', () => {
  it('writes no content attribute and puts no content in events, and never maps a request', async () => {
    attach();
    let mapped = 0;
    await runContext(async () => {
      await calculator().run('Add 2 and 3.');
      await traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0, content: (b) => ((mapped++), { inputMessages: [textMessage(b, 'user', 'hi')] }) }, async () => ({
        content: 'hello', stopReason: 'stop', toolCallCount: 0,
      }));
    }, { runId: 'off' });
    expect(tel.spans().length).toBeGreaterThan(0);
    expect(contentKeys()).toEqual([]);
    expect(mapped).toBe(0);
    for (const event of history('off')) {
      for (const key of ['inputMessages', 'outputMessages', 'systemInstructions', 'toolDefinitions', 'args', 'result', 'contentRef', 'content']) {
        expect((event.data as Record<string, unknown>)[key], `${event.eventType}.${key}`).toBeUndefined();
      }
    }
  });

  it('a bridge with captureContent writes none when the run did not capture', async () => {
    attach({ captureContent: true });
    await runContext(() => calculator().run('Add 2 and 3.'));
    expect(contentKeys()).toEqual([]);
  });
});

describe('content capture on', () => {
  it('writes the conventions\' content attributes on chat and tool spans, as valid JSON in their shapes', async () => {
    attach({ captureContent: true });
    await runContext(() => calculator().run('Add 2 and 3.'), { captureContent: true });
    const chats = tel.spans().filter((s) => s.name === 'chat scripted');
    expect(chats).toHaveLength(2);
    const [first, second] = chats as [ReadableSpan, ReadableSpan];
    expect(parsedAs(systemInstructionsShape, first.attributes['gen_ai.system_instructions'])).toEqual([{ type: 'text', content: 'You add numbers.' }]);
    expect(parsedAs(toolDefinitionsShape, first.attributes['gen_ai.tool.definitions'])).toEqual([{ type: 'function', name: 'add' }]);
    expect(parsedAs(inputMessagesShape, first.attributes['gen_ai.input.messages'])).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Add 2 and 3.' }] }]);
    expect(parsedAs(outputMessagesShape, first.attributes['gen_ai.output.messages'])).toEqual([{
      role: 'assistant',
      parts: [{ type: 'reasoning', content: 'I should add' }, { type: 'tool_call', id: 'call-1', name: 'add', arguments: { a: 2, b: 3 } }],
      finish_reason: 'tool_call',
    }]);
    // The second call sees the whole round trip, in order.
    expect(parsedAs(inputMessagesShape, second.attributes['gen_ai.input.messages'])).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Add 2 and 3.' }] },
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'call-1', name: 'add', arguments: { a: 2, b: 3 } }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call-1', response: { sum: 5 } }] },
    ]);
    expect(parsedAs(outputMessagesShape, second.attributes['gen_ai.output.messages'])).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Five.' }], finish_reason: 'stop' },
    ]);
    const tool = span('execute_tool add');
    expect(parsedAs(jsonObjectShape, tool.attributes['gen_ai.tool.call.arguments'])).toEqual({ a: 2, b: 3 });
    expect(parsedAs(jsonObjectShape, tool.attributes['gen_ai.tool.call.result'])).toEqual({ sum: 5 });
    expect(tel.spans().some((s) => s.attributes['agentbus.content.truncated'] !== undefined)).toBe(false);
  });

  it('cuts a content attribute to maxContentLength so that its JSON stays valid and in its shape, and says so', async () => {
    attach({ captureContent: true, maxContentLength: 300 });
    const prompt = `${'word '.repeat(2000)}end`;
    await runContext(() => calculator().run(prompt), { captureContent: true });
    const chat = tel.spans().filter((s) => s.name === 'chat scripted')[1] as ReadableSpan;
    const input = chat.attributes['gen_ai.input.messages'] as string;
    expect(input.length).toBeLessThanOrEqual(300);
    const messages = parsedAs(inputMessagesShape, input);
    const text = textOf(messages[0]?.parts[0]);
    expect(text.startsWith('word word')).toBe(true);
    expect(text.endsWith('…')).toBe(true);
    expect(chat.attributes['agentbus.content.truncated']).toBe(true);
    // What fits is not cut.
    expect(parsedAs(toolDefinitionsShape, chat.attributes['gen_ai.tool.definitions'])).toEqual([{ type: 'function', name: 'add' }]);
  });

  it('refuses a captureContent that is not a boolean (a string \'false\' from configuration is truthy), naming the option, and captures nothing', async () => {
    const seen: StreamEvent[] = [];
    const off = getEventBus().addListener({ onEvent: (event) => { seen.push(event); } });
    try {
      for (const value of ['false', 'yes', 1, null]) {
        let called = false;
        await expect(runContext(() => { called = true; }, { captureContent: value as never })).rejects.toThrow(/^runContext: options\.captureContent must be a boolean or undefined, got /);
        expect(called).toBe(false);
        expect(() => instrumentOtel({ tracerProvider: tel.tracerProvider, captureContent: value as never })).toThrow(/^instrumentOtel: captureContent must be a boolean or undefined, got /);
      }
    } finally {
      off();
    }
    expect(seen).toEqual([]);
  });

  it('with a maxContentLength too small for any JSON (1), writes no content attribute longer than it, and says content was cut', async () => {
    attach({ captureContent: true, maxContentLength: 1 });
    await runContext(() => calculator().run('Add 2 and 3.'), { captureContent: true });
    const content = tel.spans().flatMap((s) => CONTENT_KEYS.filter((k) => s.attributes[k] !== undefined).map((k) => s.attributes[k] as string));
    for (const value of content) expect(value.length).toBeLessThanOrEqual(1);
    expect(content).toEqual([]);
    expect(span('chat scripted').attributes['agentbus.content.truncated']).toBe(true);
    expect(span('execute_tool add').attributes['agentbus.content.truncated']).toBe(true);
  });

  it('turns on with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true for runs and bridges that leave it unset; the option wins', async () => {
    process.env[CAPTURE_CONTENT_ENV] = 'true';
    resetContentEnv();
    attach();
    await runContext(() => calculator().run('Add 2 and 3.'), { runId: 'by-env' });
    expect(contentKeys()).toEqual(CONTENT_KEYS.slice().sort());
    bridge?.shutdown();
    tel = makeTelemetry();
    attach();
    await runContext(() => calculator().run('Add 2 and 3.'), { captureContent: false });
    expect(contentKeys()).toEqual([]);
    bridge?.shutdown();
    tel = makeTelemetry();
    attach({ captureContent: false });
    await runContext(() => calculator().run('Add 2 and 3.'));
    expect(contentKeys()).toEqual([]);
  });

  it('reads the variable once: changing it later changes nothing', async () => {
    process.env[CAPTURE_CONTENT_ENV] = 'false';
    attach();
    await runContext(() => calculator().run('Add 2 and 3.'));
    process.env[CAPTURE_CONTENT_ENV] = 'true';
    await runContext(() => calculator().run('Add 2 and 3.'));
    expect(contentKeys()).toEqual([]);
  });

  it('keeps hostile tool arguments and results bounded, plain and valid JSON, and the events whole', async () => {
    attach({ captureContent: true, maxContentLength: 2000 });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    const args = {
      cyclic,
      big: 10n ** 30n,
      sym: Symbol('s'),
      huge: 'x'.repeat(10 * 1024 * 1024),
      get bad(): never {
        throw new Error('getter throws');
      },
      lone: '\ud800 alone \udfff',
      proxy: new Proxy({}, { ownKeys: () => { throw new Error('trap'); } }),
    };
    const result = await runContext(() => traceTool({ name: 'hostile', args }, () => ({ echo: 'y'.repeat(10 * 1024 * 1024), pair: '😀'.repeat(50_000) })), { runId: 'hostile', captureContent: true });
    expect(result.echo).toHaveLength(10 * 1024 * 1024);
    const tool = span('execute_tool hostile');
    const argsJson = tool.attributes['gen_ai.tool.call.arguments'] as string;
    const resultJson = tool.attributes['gen_ai.tool.call.result'] as string;
    for (const json of [argsJson, resultJson]) {
      expect(json.length).toBeLessThanOrEqual(2000);
      expect(wellFormed(json)).toBe(true);
      expect(Buffer.from(json, 'utf8').toString('utf8')).toBe(json);
      jsonObjectShape.parse(JSON.parse(json));
    }
    const parsedArgs = JSON.parse(argsJson) as Record<string, unknown>;
    expect(parsedArgs['name']).toBeUndefined();
    expect(JSON.stringify(parsedArgs)).toContain('[Circular]');
    expect(parsedArgs['big']).toBe('1000000000000000000000000000000');
    expect(String(parsedArgs['bad'])).toContain('getter throws');
    // Neither event became a placeholder: each carries its bounded content.
    const events = history('hostile');
    expect(events.map((e) => e.eventType)).not.toContain('stream.placeholder');
    const started = events.find((e) => e.eventType === 'agent.tool.started')!.data as { args: unknown };
    const completed = events.find((e) => e.eventType === 'agent.tool.completed')!.data as { result: { echo: string } };
    expect(JSON.stringify(started.args).length).toBeLessThanOrEqual(64 * 1024);
    expect(completed.result.echo.length).toBeLessThan(64 * 1024);
  });

  it('a request mapping that throws, or an info whose fields throw, costs the content, never the call', async () => {
    attach({ captureContent: true });
    const hostileInfo = { model: 'm', provider: 'p', messageCount: 0, toolCount: 0, get content(): never {
      throw new Error('unreadable');
    } };
    const results = await runContext(async () => [
      await traceModel({ model: 'm', provider: 'p', messageCount: 0, toolCount: 0, content: () => {
        throw new Error('mapping failed');
      } }, async () => ({ content: 'one', stopReason: 'stop', toolCallCount: 0 })),
      await traceModel(hostileInfo, async () => ({ content: 'two', stopReason: 'stop', toolCallCount: 0 })),
    ], { runId: 'throwing-mapping', captureContent: true });
    expect(results.map((r) => r.content)).toEqual(['one', 'two']);
    const chats = tel.spans().filter((s) => s.name === 'chat m');
    expect(chats).toHaveLength(2);
    for (const chat of chats) expect(chat.attributes['gen_ai.input.messages']).toBeUndefined();
    // A mapping that threw costs only the input; the answer is still captured.
    const answered = chats.map((c) => c.attributes['gen_ai.output.messages']).filter((a) => a !== undefined);
    expect(answered).toHaveLength(1);
    expect(parsedAs(outputMessagesShape, answered[0])).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'one' }], finish_reason: 'stop' }]);
  });

  it('bounds a 100,000-message conversation where it is made: the event stays whole, the attribute valid', async () => {
    attach({ captureContent: true });
    const conversation = Array.from({ length: 100_000 }, (_, i) => `message ${i}`);
    let mappedFull = 0;
    await runContext(() => traceModel({
      model: 'm', provider: 'p', messageCount: conversation.length, toolCount: 0,
      content: (b) => {
        const inputMessages = [];
        for (const text of conversation) {
          if (b.full) break;
          inputMessages.push(textMessage(b, 'user', text));
        }
        if (inputMessages.length === conversation.length) mappedFull++;
        return { inputMessages };
      },
    }, async () => ({ content: 'ok', stopReason: 'stop', toolCallCount: 0 })), { runId: 'long', captureContent: true });
    // The bounded builder stopped early: no full walk without a hook.
    expect(mappedFull).toBe(0);
    const started = history('long').find((e) => e.eventType === 'agent.model.started')!;
    const inEvent = (started.data as { inputMessages: unknown[] }).inputMessages;
    expect(inEvent.length).toBeGreaterThan(0);
    expect(inEvent.length).toBeLessThan(100_000);
    expect(JSON.stringify(inEvent).length).toBeLessThanOrEqual(64 * 1024);
    const input = span('chat m').attributes['gen_ai.input.messages'] as string;
    expect(input.length).toBeLessThanOrEqual(16 * 1024);
    const messages = parsedAs(inputMessagesShape, input);
    // Oldest first, in order.
    expect(messages.slice(0, 3).map((m) => textOf(m.parts[0]))).toEqual(['message 0', 'message 1', 'message 2']);
  });
});

describe('the content hook', () => {
  it('gets the full content of each model and tool step, with or without capture, and its reference goes on the span', async () => {
    attach();
    const seen: CapturedContent[] = [];
    const huge = 'z'.repeat(3 * 1024 * 1024);
    const hook: ContentHook = (content) => {
      seen.push(content);
      return `s3://bucket/${content.runId}/${content.spanId}`;
    };
    const agent = new Agent({
      name: 'calculator', instructions: 'You add numbers.', tools: [add],
      model: new ScriptedModel([{ toolCalls: [{ id: 'call-1', name: 'add', arguments: { a: 2, b: 3 } }] }, { content: huge }]),
    });
    await runContext(() => agent.run('Add 2 and 3.'), { runId: 'hooked', contentHook: hook });
    expect(seen.map((c) => c.operation)).toEqual(['chat', 'execute_tool', 'chat']);
    const [, toolCall, last] = seen as [CapturedContent, CapturedContent, CapturedContent];
    expect(toolCall).toMatchObject({ operation: 'execute_tool', toolName: 'add', toolCallId: 'call-1', arguments: { a: 2, b: 3 }, result: { sum: 5 } });
    if (last.operation !== 'chat') throw new Error('expected a chat');
    // The full content, uncut, in the conventions' shapes.
    expect(last.outputMessages?.[0]?.parts).toEqual([{ type: 'text', content: huge }]);
    expect(last.systemInstructions).toEqual([{ type: 'text', content: 'You add numbers.' }]);
    expect(inputMessagesShape.parse(last.inputMessages)).toHaveLength(3);
    // The reference is on each span; no content is, capture being off.
    const refs = [...tel.spans().filter((x) => x.name === 'chat scripted'), span('execute_tool add')].map((s) => s.attributes['agentbus.content.ref']);
    expect(refs.sort()).toEqual(seen.map((c) => `s3://bucket/hooked/${c.spanId}`).sort());
    expect(new Set(refs).size).toBe(3);
    expect(contentKeys()).toEqual(['agentbus.content.ref']);
  });

  it('gets the input of a model call that failed, and its span the reference', async () => {
    attach();
    const seen: CapturedContent[] = [];
    const agent = new Agent({ name: 'broken', model: new ScriptedModel([{ error: new TypeError('provider down') }]) });
    await runContext(() => agent.run('hello'), { contentHook: (c) => (seen.push(c), 'ref-1') }).catch(() => undefined);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ operation: 'chat', inputMessages: [{ role: 'user', parts: [{ type: 'text', content: 'hello' }] }], outputMessages: undefined });
    expect(span('chat scripted').attributes['agentbus.content.ref']).toBe('ref-1');
  });

  it('is inherited by nested runs', async () => {
    attach();
    const ops: string[] = [];
    await runContext(() => runContext(() => traceTool({ name: 'inner', args: { q: 1 } }, () => 'done')), { contentHook: (c) => void ops.push(c.operation) as undefined });
    expect(ops).toEqual(['execute_tool']);
  });

  it('that throws, rejects, never settles, returns a non-string or a huge string breaks nothing and is reported', async () => {
    attach();
    const hooks: Array<[string, ContentHook]> = [
      ['threw', () => { throw new Error('storage down'); }],
      ['rejected', () => Promise.reject(new Error('upload failed')) as never],
      ['never', () => new Promise(() => {}) as never],
      ['number', () => 42 as never],
      ['huge', () => 'r'.repeat(1024 * 1024)],
    ];
    for (const [name, hook] of hooks) {
      const result = await runContext(() => calculator().run('Add 2 and 3.'), { runId: `hook-${name}`, contentHook: hook });
      expect(result.output).toBe('Five.');
      const events = history(`hook-${name}`);
      expect(events.at(-1)?.eventType).toBe('run.completed');
      expect(events.filter((e) => (e.data as { contentRef?: unknown }).contentRef !== undefined)).toEqual([]);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(tel.spans().filter((s) => s.attributes['agentbus.content.ref'] !== undefined)).toEqual([]);
    const messages = warnings.filter((w) => w.code === 'AGENTBUS_CONTENT_HOOK').map((w) => w.message);
    expect(messages).toEqual(expect.arrayContaining([
      expect.stringContaining('contentHook threw on a chat step: Error: storage down'),
      expect.stringContaining('contentHook returned a promise, which is not awaited'),
      expect.stringContaining("contentHook's promise rejected: Error: upload failed"),
      expect.stringContaining('contentHook returned number, not a string reference'),
      expect.stringContaining('contentHook returned a reference of 1048576 characters'),
    ]));
  });

  it('that opens steps of its own (an instrumented upload) is not called again for them: no endless chain of steps', async () => {
    let calls = 0;
    const hook: ContentHook = () => {
      calls++;
      // Capped so that a hook that is called again ends the test rather than running forever.
      if (calls < 50) {
        traceTool({ name: 'upload-sync', args: {} }, () => 'stored');
        void traceTool({ name: 'upload', args: {} }, async () => 'stored');
      }
      return 'ref';
    };
    const runId = await runContext(async (id) => {
      await traceTool({ name: 'lookup', args: { q: 1 } }, async () => 'found');
      await new Promise((resolve) => setTimeout(resolve, 20));
      return id;
    }, { contentHook: hook });
    expect(calls).toBe(1);
    // The hook's own steps are still in the run, as any other.
    const tools = history(runId).filter((e) => e.eventType === 'agent.tool.completed').map((e) => (e.data as { toolName: string }).toolName);
    expect(tools.sort()).toEqual(['lookup', 'upload', 'upload-sync']);
  });

  it('rejects a hook that is not a function, naming the option', async () => {
    await expect(runContext(() => 1, { contentHook: 'x' as never })).rejects.toThrow('runContext: options.contentHook must be a function');
  });
});

describe('fitting content', () => {
  it('leaves what fits as it is', () => {
    const value = [{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }];
    expect(fitContent(value, 1000)).toEqual({ json: JSON.stringify(value), value, cut: false });
  });

  it('cuts texts to one length first, then drops trailing items, then empties; always valid JSON within the budget', () => {
    const messages = Array.from({ length: 50 }, (_, i) => ({ role: 'user', parts: [{ type: 'text', content: `${i} ${'a'.repeat(1000)}` }] }));
    for (const budget of [20_000, 3000, 500, 60, 1]) {
      const fitted = fitContent(messages, budget);
      expect(fitted.cut).toBe(true);
      expect(fitted.json.length).toBeLessThanOrEqual(Math.max(budget, 2));
      expect(JSON.parse(fitted.json)).toEqual(fitted.value);
      inputMessagesShape.parse(fitted.value);
    }
    const wide = fitContent(messages, 20_000).value as typeof messages;
    expect(wide).toHaveLength(50);
    expect(wide[49]?.parts[0]?.content.endsWith('…')).toBe(true);
    expect((fitContent(messages, 1).value as unknown[]).length).toBe(0);
  });

  it('serializes a long conversation a bounded number of times to fit it, not once per step of a search', () => {
    // 5000 short messages: no text length fits, so messages go; each step of a search would serialize most of them.
    const messages = Array.from({ length: 5000 }, (_, i) => ({ role: 'user', parts: [{ type: 'text', content: `${i} ${'m'.repeat(48)}` }] }));
    const whole = JSON.stringify(messages).length;
    const stringify = JSON.stringify;
    let serialized = 0;
    const spy = vi.spyOn(JSON, 'stringify').mockImplementation((...args: Parameters<typeof JSON.stringify>) => {
      const json = stringify(...args);
      serialized += json?.length ?? 0;
      return json;
    });
    let fitted: ReturnType<typeof fitContent>;
    try {
      fitted = fitContent(messages, 65_536);
    } finally {
      spy.mockRestore();
    }
    expect(fitted.json.length).toBeLessThanOrEqual(65_536);
    // The most leading messages that fit, their texts at the shortest: one more would not.
    const shortest = messages.map((m) => ({ role: m.role, parts: [{ type: 'text', content: cutText(m.parts[0]!.content, 32) }] }));
    const kept = JSON.parse(fitted.json) as typeof messages;
    expect(kept).toEqual(shortest.slice(0, kept.length));
    expect(JSON.stringify(shortest.slice(0, kept.length + 1)).length).toBeGreaterThan(65_536);
    expect(serialized).toBeLessThan(4 * whole);
  });

  it('keeps a member named __proto__ (as JSON.parse makes it, a tool argument from a model) when it cuts', () => {
    const args = JSON.parse(`{"__proto__": {"polluted": true}, "note": "${'n'.repeat(500)}", "z": 1}`) as Record<string, unknown>;
    const cut = fitContent(args, 200);
    expect(cut.cut).toBe(true);
    expect(Object.keys(JSON.parse(cut.json) as object)).toContain('__proto__');
    const dropped = fitContent(JSON.parse(`{"__proto__": {"polluted": true}, "big": "${'b'.repeat(500)}"}`), 60);
    expect(JSON.parse(dropped.json)).toEqual(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('never splits a surrogate pair, and keeps lone surrogates escaped', () => {
    const text = `${'😀'.repeat(100)}\ud800`;
    for (let max = 1; max < 60; max++) expect(wellFormed(cutText(text, max))).toBe(true);
    for (const budget of [40, 41, 42, 43, 100]) {
      const fitted = fitContent([{ type: 'text', content: text }], budget);
      expect(wellFormed(fitted.json)).toBe(true);
      expect(() => JSON.parse(fitted.json)).not.toThrow();
    }
    expect(fitContent(['\udc00'], 100).json).toBe('["\\udc00"]');
  });

  it('makes any value plain, bounded data without throwing', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const value of [revoked.proxy, Symbol('x'), 10n, () => 1, new Date(0), new Map([[1, 2]]), '{"a":1}', '{not json', 'x'.repeat(1e6), undefined, NaN]) {
      const plain = plainValue(value, 1000);
      expect(JSON.stringify(plain).length).toBeLessThanOrEqual(1100);
    }
    expect(plainValue('{"a":1}')).toEqual({ a: 1 });
  });

  it('stops a bounded builder once it took enough', () => {
    const b = boundedContent(1000);
    let taken = 0;
    while (!b.full) {
      b.text('x'.repeat(100));
      taken++;
    }
    expect(taken).toBeLessThan(100);
    // Values count as what they take too: a list of big tool calls stops as early.
    const c = boundedContent(1000);
    let values = 0;
    while (!c.full) {
      c.value({ rows: 'r'.repeat(5000) });
      values++;
    }
    expect(values).toBeLessThanOrEqual(10);
  });

  it('keeps a tool argument that is deeply nested JSON text plain and shallow, so the conversation around it survives fitting', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const plain = plainValue(deep);
    expect(() => JSON.stringify(plain)).not.toThrow();
    const b = boundedContent();
    const input = chatContent(b, [{ type: 'human', content: 'hello' }, { type: 'ai', content: '', tool_calls: [{ id: 'c1', name: 'f', args: deep }] }], undefined);
    const messages = fittedInput(input)?.inputMessages;
    expect(messages).toHaveLength(2);
    inputMessagesShape.parse(messages);
    expect(messages?.[0]?.parts[0]).toEqual({ type: 'text', content: 'hello' });
  });

  it('stops a mapping inside one message too: a message of 300,000 parts or tool calls reads a bounded number of them', () => {
    const N = 300_000;
    let read = 0;
    const counted = <T>(make: (i: number) => T): T[] => Array.from({ length: N }, (_, i) => {
      const item = make(i);
      return new Proxy(item as object, { get: (target, key) => (key === 'type' ? (read++, Reflect.get(target, key)) : Reflect.get(target, key)) }) as T;
    });
    const partsOf = (content: { inputMessages?: Array<{ parts: unknown[] }> | undefined }) => content.inputMessages?.reduce((n, m) => n + m.parts.length, 0) ?? 0;
    const bound = 100_000;
    const cases = [
      () => chatContent(boundedContent(), [{ type: 'human', content: counted(() => ({ type: 'text', text: 'ab' })) }], undefined),
      () => chatContent(boundedContent(), [{ type: 'ai', content: '', tool_calls: Array.from({ length: N }, (_, i) => ({ id: `c${i}`, name: 'f', args: { a: 1 } })) }], undefined),
      () => promptContent(boundedContent(), undefined, [{ role: 'user', content: counted(() => ({ type: 'text', text: 'ab' })) }], undefined),
      () => requestContent(boundedContent(), undefined, [{ role: 'user', content: counted(() => ({ type: 'input_text', text: 'ab' })) }], undefined, undefined),
      () => requestContent(boundedContent(), undefined, [{ role: 'assistant', content: '', tool_calls: Array.from({ length: N }, (_, i) => ({ id: `c${i}`, function: { name: 'f', arguments: '{}' } })) }], undefined, undefined),
    ];
    for (const mapped of cases) {
      read = 0;
      const content = mapped();
      expect(partsOf(content)).toBeLessThan(bound);
      expect(read).toBeLessThan(bound);
    }
  });

  it('never throws on what is not plain data, leaving the content out', () => {
    const hostile = { toJSON: () => { throw new Error('no'); } };
    expect(fitContent(hostile, 100)).toEqual({ json: '""', value: '', cut: true });
  });
});
