/**
 * The AI SDK adapter against the real `ai` v7 (installed as `ai-v7`), driven
 * by the SDK's own MockLanguageModelV4. `ai` v7 needs Node >= 22: on older
 * Node these tests are reported as skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentbusTelemetry } from '../../src/adapters/ai-sdk/index.js';
import { getEventBus, resetEventBus } from '../../src/global.js';
import { emit } from '../../src/emit.js';
import { expectWellFormedSteps, outline, parentOf, recordRun } from './run-events.js';
import { expectConversation, systemInstructionsShape } from '../genai-content-shapes.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);
const unsupported = nodeMajor < 22;

type Ai = typeof import('ai-v7');
type AiTest = typeof import('ai-v7/test');
let ai: Ai;
let aiTest: AiTest;
let telemetry: AgentbusTelemetry;

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});

const toolTurn = {
  content: [
    { type: 'tool-call' as const, toolCallId: 'call-add', toolName: 'add', input: '{"a":2,"b":3}' },
    { type: 'tool-call' as const, toolCallId: 'call-lookup', toolName: 'lookup', input: '{"city":"Oslo"}' },
  ],
  finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
  usage: usage(12, 7),
  warnings: [],
};
const answerTurn = {
  content: [{ type: 'text' as const, text: 'The sum is 5; the lookup failed.' }],
  finishReason: { unified: 'stop' as const, raw: 'stop' },
  usage: usage(30, 9),
  warnings: [],
};

function tools() {
  return {
    add: ai.tool({ inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => a + b }),
    lookup: ai.tool({
      inputSchema: z.object({ city: z.string() }),
      execute: async (): Promise<string> => {
        throw new Error('lookup service unavailable');
      },
    }),
  };
}

/** A streaming turn from parts; `failAfter` makes the stream error after that many parts. */
function streamTurn(parts: unknown[], failAfter?: number) {
  return {
    stream: new ReadableStream({
      start(controller) {
        parts.forEach((part, i) => {
          if (failAfter !== undefined && i === failAfter) controller.error(new Error('connection reset by peer'));
          else if (failAfter === undefined || i < failAfter) controller.enqueue(part);
        });
        if (failAfter === undefined) controller.close();
      },
    }),
  };
}

const streamedToolTurn = [
  { type: 'stream-start', warnings: [] },
  { type: 'tool-call', toolCallId: 'call-add', toolName: 'add', input: '{"a":2,"b":3}' },
  { type: 'tool-call', toolCallId: 'call-lookup', toolName: 'lookup', input: '{"city":"Oslo"}' },
  { type: 'finish', finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(12, 7) },
];
const streamedAnswer = [
  { type: 'stream-start', warnings: [] },
  { type: 'text-start', id: 't1' },
  { type: 'text-delta', id: 't1', delta: 'The sum ' },
  { type: 'text-delta', id: 't1', delta: 'is 5.' },
  { type: 'text-end', id: 't1' },
  { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(30, 9) },
];

const TOOL_LOOP = [
  'run.started',
  'agent.invocation.started weather-agent',
  'agent.model.started mock-model-id',
  'agent.tokens.used mock-model-id',
  'agent.model.completed tool-calls',
  'agent.tool.started add',
  'agent.tool.completed add',
  'agent.tool.started lookup',
  'agent.tool.completed lookup',
  'agent.model.started mock-model-id',
  'agent.tokens.used mock-model-id',
  'agent.model.completed stop',
  'agent.terminate completed',
  'run.completed ok',
];

describe.skipIf(unsupported)('agentbus/ai-sdk with ai v7', () => {
  beforeAll(async () => {
    ai = await import('ai-v7');
    aiTest = await import('ai-v7/test');
    telemetry = new AgentbusTelemetry();
    ai.registerTelemetry(telemetry);
  });
  afterAll(() => {
    globalThis.AI_SDK_TELEMETRY_INTEGRATIONS = undefined;
  });

  it('turns a generateText tool loop with a failing tool into the canonical event sequence', async () => {
    const model = new aiTest.MockLanguageModelV4({ doGenerate: [toolTurn, answerTurn] });
    const { events, result } = await recordRun(() => ai.generateText({
      model,
      tools: tools(),
      prompt: 'Add 2 and 3, then look up Oslo.',
      stopWhen: ai.stepCountIs(5),
      toolCallConcurrency: 1,
      telemetry: { functionId: 'weather-agent' },
    }));
    expect(result?.text).toBe('The sum is 5; the lookup failed.');
    expect(outline(events)).toEqual(TOOL_LOOP);
    const opened = expectWellFormedSteps(events);

    const agent = events[1]!;
    expect(agent.data).toMatchObject({ agentName: 'weather-agent', model: 'mock-model-id', provider: 'mock-provider' });
    for (const e of events.slice(2, -2)) expect(parentOf(e, opened), e.eventType).toBe(agent);
    expect(events[2]!.data).toMatchObject({ messageCount: 1, toolCount: 2 });
    expect(events[3]!.data).toEqual({ model: 'mock-model-id', provider: 'mock-provider', inputTokens: 12, outputTokens: 7, totalTokens: 19 });
    expect(events[4]!.data).toMatchObject({ toolCallCount: 2 });
    expect(events[5]!.data).toEqual({ toolName: 'add', toolCallId: 'call-add', argKeys: ['a', 'b'] });
    expect(events[6]!.data).toMatchObject({ toolName: 'add', toolCallId: 'call-add', success: true, outputPreview: '5' });
    expect(events[8]!.data).toMatchObject({ toolName: 'lookup', success: false, error: 'Error: lookup service unavailable' });
    expect(events[8]!.data).toMatchObject({ errorType: 'Error' });
    expect(events[11]!.data).toMatchObject({ contentPreview: 'The sum is 5; the lookup failed.' });
    expect(events[12]!.data).toEqual({
      reason: 'completed', iterationsUsed: 2, totalToolCalls: 2, finalMessagePreview: 'The sum is 5; the lookup failed.',
    });
    // Tokens come from each model call only, never again from the call's totals.
    const tokens = events.filter((e) => e.eventType === 'agent.tokens.used');
    expect(tokens.reduce((sum, e) => sum + (e.data as { totalTokens: number }).totalTokens, 0)).toBe(58);
    expect(telemetry.openCalls).toBe(0);
  });

  it('turns a streamText tool loop into the same sequence', async () => {
    const model = new aiTest.MockLanguageModelV4({ doStream: [streamTurn(streamedToolTurn), streamTurn(streamedAnswer)] as never });
    const { events } = await recordRun(async () => {
      const result = ai.streamText({
        model, tools: tools(), prompt: 'go', stopWhen: ai.stepCountIs(5), toolCallConcurrency: 1,
        telemetry: { functionId: 'weather-agent' },
      });
      return result.text;
    });
    expect(outline(events)).toEqual(TOOL_LOOP);
    expectWellFormedSteps(events);
    expect(events.at(-2)!.data).toMatchObject({ finalMessagePreview: 'The sum is 5.' });
  });

  it('closes the model step and the invocation with an error when the stream fails mid-way', async () => {
    const model = new aiTest.MockLanguageModelV4({
      doStream: [streamTurn(streamedToolTurn), streamTurn(streamedAnswer, 3)] as never,
    });
    const { events, error } = await recordRun(async () => {
      const result = ai.streamText({ model, tools: tools(), prompt: 'go', stopWhen: ai.stepCountIs(5), toolCallConcurrency: 1, onError: () => {} });
      for await (const part of result.fullStream) void part;
      return result.text;
    });
    expect(error).toBeDefined();
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started ai-sdk',
      'agent.model.started mock-model-id',
      'agent.tokens.used mock-model-id',
      'agent.model.completed tool-calls',
      'agent.tool.started add',
      'agent.tool.completed add',
      'agent.tool.started lookup',
      'agent.tool.completed lookup',
      'agent.model.started mock-model-id',
      'agent.model.completed error',
      'agent.terminate error',
      'run.completed error',
    ]);
    expectWellFormedSteps(events);
    expect(events[10]!.data).toMatchObject({ error: 'Error: connection reset by peer' });
    expect(events[10]!.data).toMatchObject({ errorType: 'Error' });
    expect(telemetry.openCalls).toBe(0);
  });

  it('closes every open step as aborted when a stream is aborted', async () => {
    const controller = new AbortController();
    const model = new aiTest.MockLanguageModelV4({
      doStream: async () => ({
        stream: new ReadableStream({
          start(c) {
            c.enqueue({ type: 'stream-start', warnings: [] });
            c.enqueue({ type: 'text-start', id: 't1' });
            c.enqueue({ type: 'text-delta', id: 't1', delta: 'partial' });
            // The stream stalls here; the consumer aborts.
          },
        }),
      }),
    });
    const { events } = await recordRun(async () => {
      const result = ai.streamText({ model, prompt: 'go', abortSignal: controller.signal });
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') controller.abort();
      }
    });
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started ai-sdk',
      'agent.model.started mock-model-id',
      'agent.model.completed aborted',
      'agent.terminate aborted',
      'run.completed ok',
    ]);
    expectWellFormedSteps(events);
    expect(telemetry.openCalls).toBe(0);
  });

  it('closes the model step with the error a stream reports in-band and the invocation as failed', async () => {
    // Providers report a failure mid-answer as an `error` part, with or without a closing `finish` part.
    const failing = (withFinish: boolean) => streamTurn([
      { type: 'stream-start', warnings: [] },
      { type: 'text-start', id: 't1' },
      { type: 'text-delta', id: 't1', delta: 'partial' },
      { type: 'error', error: withFinish ? new Error('upstream 500') : { message: 'upstream 500' } },
      ...(withFinish ? [{ type: 'finish', finishReason: { unified: 'error', raw: undefined }, usage: usage(5, 2) }] : []),
    ]);
    for (const withFinish of [true, false]) {
      const model = new aiTest.MockLanguageModelV4({ doStream: [streamTurn(streamedToolTurn), failing(withFinish)] as never });
      const { events, result } = await recordRun(async () => {
        const answer = ai.streamText({ model, tools: tools(), prompt: 'go', stopWhen: ai.stepCountIs(5), toolCallConcurrency: 1, onError: () => {} });
        return answer.text;
      });
      // The SDK resolves such a stream: the caller gets the partial text, so the run itself ends ok.
      expect(result).toBe('partial');
      expect(outline(events).slice(9), `withFinish ${withFinish}`).toEqual([
        'agent.model.started mock-model-id',
        ...(withFinish ? ['agent.tokens.used mock-model-id'] : []),
        'agent.model.completed error',
        'agent.terminate error',
        'run.completed ok',
      ]);
      expectWellFormedSteps(events);
      const completed = events.filter((e) => e.eventType === 'agent.model.completed').at(-1)!;
      expect(completed.data).toMatchObject({ stopReason: 'error', contentPreview: 'partial', error: withFinish ? 'Error: upstream 500' : 'upstream 500' });
      // An Error part has a class; a plain record does not.
      expect((completed.data as { errorType?: string }).errorType).toBe(withFinish ? 'Error' : undefined);
      expect(events.at(-2)!.data).toMatchObject({ reason: 'error', iterationsUsed: 2, finalMessagePreview: 'partial' });
      expect(telemetry.openCalls).toBe(0);
    }
  });

  it('records the usage a provider reports as a stream is aborted', async () => {
    const controller = new AbortController();
    // A provider that, once cancelled, flushes its last part with the usage of the answer so far.
    const model = new aiTest.MockLanguageModelV4({
      doStream: async () => ({
        stream: new ReadableStream({
          start(c) {
            c.enqueue({ type: 'stream-start', warnings: [] });
            c.enqueue({ type: 'text-start', id: 't1' });
            c.enqueue({ type: 'text-delta', id: 't1', delta: 'partial' });
            controller.signal.addEventListener('abort', () => {
              c.enqueue({ type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(30, 9) });
              c.close();
            });
          },
        }),
      }),
    });
    const { events } = await recordRun(async () => {
      const result = ai.streamText({ model, prompt: 'go', abortSignal: controller.signal });
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') controller.abort();
      }
    });
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started ai-sdk',
      'agent.model.started mock-model-id',
      'agent.tokens.used mock-model-id',
      'agent.model.completed stop',
      'agent.terminate aborted',
      'run.completed ok',
    ]);
    expectWellFormedSteps(events);
    expect(events[3]!.data).toEqual({ model: 'mock-model-id', provider: 'mock-provider', inputTokens: 30, outputTokens: 9, totalTokens: 39 });
    // The provider finished the answer before the SDK saw the abort: the step closes as the provider said.
    // The response's model and id as the SDK reports them (it makes an id up when the provider sends none).
    expect(events[4]!.data).toEqual({ stopReason: 'stop', toolCallCount: 0, contentPreview: 'partial', responseModel: 'mock-model-id', responseId: expect.any(String) });
    expect(events[5]!.data).toMatchObject({ reason: 'aborted' });
    expect(telemetry.openCalls).toBe(0);
  });

  it('closes the invocation as aborted when generateText is aborted during a tool', async () => {
    const controller = new AbortController();
    const model = new aiTest.MockLanguageModelV4({ doGenerate: [toolTurn, answerTurn] });
    const slowTools = {
      ...tools(),
      add: ai.tool({
        inputSchema: z.object({ a: z.number(), b: z.number() }),
        execute: async ({ a, b }) => {
          controller.abort();
          return a + b;
        },
      }),
    };
    const { events, error } = await recordRun(() => ai.generateText({
      model, tools: slowTools, prompt: 'go', stopWhen: ai.stepCountIs(5), toolCallConcurrency: 1, abortSignal: controller.signal,
    }));
    expect((error as Error | undefined)?.name).toBe('AbortError');
    expectWellFormedSteps(events);
    expect(outline(events).slice(-2)).toEqual(['agent.terminate aborted', 'run.completed aborted']);
    expect(telemetry.openCalls).toBe(0);
  });

  it('puts tool arguments into events only when the run captures content', async () => {
    const model = new aiTest.MockLanguageModelV4({ doGenerate: [toolTurn, answerTurn] });
    const { events } = await recordRun(
      () => ai.generateText({ model, tools: tools(), instructions: 'Be brief.', prompt: 'go', stopWhen: ai.stepCountIs(5), toolCallConcurrency: 1 }),
      { captureContent: true },
    );
    const started = events.filter((e) => e.eventType === 'agent.tool.started').map((e) => e.data);
    expect(started).toEqual([
      { toolName: 'add', toolCallId: 'call-add', argKeys: ['a', 'b'], args: { a: 2, b: 3 } },
      { toolName: 'lookup', toolCallId: 'call-lookup', argKeys: ['city'], args: { city: 'Oslo' } },
    ]);
    // The conversation in the conventions' shapes, on the model steps' events.
    const { modelStarts, lastInput } = expectConversation(events, { name: 'add', arguments: { a: 2, b: 3 } });
    expect(lastInput[0]).toEqual({ role: 'user', parts: [{ type: 'text', content: 'go' }] });
    // The call's instructions, apart from its messages.
    for (const data of modelStarts) expect(systemInstructionsShape.parse(data['systemInstructions'])).toEqual([{ type: 'text', content: 'Be brief.' }]);
    expect(lastInput.map((m) => m.role)).not.toContain('system');
  });

  it('keeps the steps of calls running at once apart, with the same tool call ids in each', async () => {
    // Providers number tool calls per response: two calls at once both ask for `call-add`.
    // Each tool runs until both calls have started it, so the two are open together.
    let bothStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => (bothStarted = resolve));
    let running = 0;
    const gated = {
      add: ai.tool({
        inputSchema: z.object({ a: z.number(), b: z.number() }),
        execute: async ({ a, b }) => {
          if (++running === 2) bothStarted();
          await started;
          return a + b;
        },
      }),
    };
    const call = (name: string) => ai.generateText({
      model: new aiTest.MockLanguageModelV4({ doGenerate: [{ ...toolTurn, content: [toolTurn.content[0]!] }, answerTurn] }),
      tools: gated,
      prompt: 'Add 2 and 3.',
      stopWhen: ai.stepCountIs(5),
      telemetry: { functionId: name },
    });
    const { events } = await recordRun(() => Promise.all([call('first'), call('second')]));
    const opened = expectWellFormedSteps(events);
    const agents = events.filter((e) => e.eventType === 'agent.invocation.started');
    expect(agents.map((e) => (e.data as { agentName: string }).agentName).sort()).toEqual(['first', 'second']);
    for (const agent of agents) {
      const mine = events.filter((e) => e.eventType.startsWith('agent.tool.') && parentOf(e, opened) === agent);
      // Each call's own tool step, opened and closed under its own invocation.
      expect(mine.map((e) => e.eventType)).toEqual(['agent.tool.started', 'agent.tool.completed']);
      expect(mine[1]!.data).toMatchObject({ toolCallId: 'call-add', success: true, outputPreview: '5' });
      const terminate = events.find((e) => e.eventType === 'agent.terminate' && e.spanId === agent.spanId)!;
      expect(terminate.data).toMatchObject({ reason: 'completed', iterationsUsed: 2, totalToolCalls: 1 });
    }
    expect(telemetry.openCalls).toBe(0);
  });

  it('nests a generateText made inside a tool under that tool', async () => {
    const inner = new aiTest.MockLanguageModelV4({ doGenerate: answerTurn });
    const outer = new aiTest.MockLanguageModelV4({
      doGenerate: [{ ...toolTurn, content: [toolTurn.content[0]!] }, answerTurn],
    });
    const nested = {
      add: ai.tool({
        inputSchema: z.object({ a: z.number(), b: z.number() }),
        execute: async () => (await ai.generateText({ model: inner, prompt: 'sub', telemetry: { functionId: 'helper' } })).text,
      }),
    };
    const { events } = await recordRun(() => ai.generateText({ model: outer, tools: nested, prompt: 'go', stopWhen: ai.stepCountIs(5) }));
    const opened = expectWellFormedSteps(events);
    const helper = events.find((e) => e.eventType === 'agent.invocation.started' && (e.data as { agentName: string }).agentName === 'helper')!;
    expect(parentOf(helper, opened)?.eventType).toBe('agent.tool.started');
  });

  it('carries the call settings, the response\'s model and id, and cache writes', async () => {
    const model = new aiTest.MockLanguageModelV4({
      doGenerate: [{
        ...answerTurn,
        response: { id: 'resp-1', modelId: 'mock-model-2025' },
        usage: {
          inputTokens: { total: 30, noCache: 10, cacheRead: 5, cacheWrite: 15 },
          outputTokens: { total: 9, text: 9, reasoning: undefined },
        },
      }],
    });
    const { events } = await recordRun(() => ai.generateText({ model, prompt: 'go', temperature: 0.3, maxOutputTokens: 100, topP: 0.8 }));
    const dataOf = (type: string) => events.find((e) => e.eventType === type)!.data;
    expect(dataOf('agent.model.started')).toMatchObject({ temperature: 0.3, maxTokens: 100, topP: 0.8 });
    expect(dataOf('agent.model.completed')).toMatchObject({ responseModel: 'mock-model-2025', responseId: 'resp-1' });
    expect(dataOf('agent.tokens.used')).toMatchObject({ inputTokens: 30, cacheReadInputTokens: 5, cacheCreationInputTokens: 15 });
    // Settings the call left to the provider are absent.
    const plain = await recordRun(() => ai.generateText({ model: new aiTest.MockLanguageModelV4({ doGenerate: [answerTurn] }), prompt: 'go' }));
    const started = plain.events.find((e) => e.eventType === 'agent.model.started')!.data as Record<string, unknown>;
    for (const key of ['temperature', 'maxTokens', 'topP']) expect(started[key], key).toBeUndefined();
  });

  it('opens tool and model steps where the SDK runs them, with no start hooks', async () => {
    // The SDK copies and redacts the event of every hook an integration
    // defines, on every tool and model call: the steps open in executeTool
    // and executeLanguageModelCall, which the SDK calls anyway, with the same events.
    expect('onToolExecutionStart' in telemetry).toBe(false);
    expect('onLanguageModelCallStart' in telemetry).toBe(false);
    const runId = 'tool-step-opens-in-execute-tool';
    let startedBeforeBody = false;
    const watched = {
      add: ai.tool({
        inputSchema: z.object({ a: z.number(), b: z.number() }),
        execute: async ({ a, b }) => {
          startedBeforeBody = getEventBus().history(runId).some((e) => e.eventType === 'agent.tool.started');
          return a + b;
        },
      }),
    };
    const model = new aiTest.MockLanguageModelV4({ doGenerate: [{ ...toolTurn, content: [toolTurn.content[0]!] }, answerTurn] });
    const { events } = await recordRun(() => ai.generateText({ model, tools: watched, prompt: 'go', stopWhen: ai.stepCountIs(5) }), { runId });
    expectWellFormedSteps(events);
    expect(startedBeforeBody).toBe(true);
    const started = events.find((e) => e.eventType === 'agent.tool.started')!;
    expect(started.data).toMatchObject({ toolName: 'add', toolCallId: 'call-add', argKeys: ['a', 'b'] });
  });

  it('keeps a retried provider call in one model step, generateText and streamText alike', async () => {
    // The first attempt fails with a retryable error (retry after 1 ms), the second answers.
    const overloaded = () => new ai.APICallError({
      message: 'overloaded', url: 'http://127.0.0.1/v1', requestBodyValues: {}, statusCode: 529,
      responseHeaders: { 'retry-after-ms': '1' }, isRetryable: true,
    });
    const attempt = () => emit('test.provider.attempt', {});
    let generated = 0;
    const generating = new aiTest.MockLanguageModelV4({
      doGenerate: async () => {
        attempt();
        if (++generated === 1) throw overloaded();
        return answerTurn;
      },
    });
    let streamed = 0;
    const streaming = new aiTest.MockLanguageModelV4({
      doStream: async () => {
        attempt();
        if (++streamed === 1) throw overloaded();
        return streamTurn([
          { type: 'text-start', id: 't' }, { type: 'text-delta', id: 't', delta: 'ok' }, { type: 'text-end', id: 't' },
          { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(5, 1) },
        ]);
      },
    });
    const runs = [
      await recordRun(() => ai.generateText({ model: generating, prompt: 'go' })),
      await recordRun(async () => (await ai.streamText({ model: streaming, prompt: 'go' }).text)),
    ];
    for (const { events, result } of runs) {
      expect(result).toBeTruthy();
      const opened = expectWellFormedSteps(events);
      expect(outline(events).filter((line) => line.startsWith('agent.model') || line.startsWith('agent.tokens'))).toEqual([
        'agent.model.started mock-model-id', 'agent.tokens.used mock-model-id', 'agent.model.completed stop',
      ]);
      const attempts = events.filter((e) => e.eventType === 'test.provider.attempt');
      expect(attempts).toHaveLength(2);
      for (const e of attempts) expect(parentOf(e, opened)?.eventType).toBe('agent.model.started');
      expect(new Set(attempts.map((e) => e.parentSpanId)).size).toBe(1);
    }
    expect([generated, streamed]).toEqual([2, 2]);
  });

  it('runs a tool the SDK hands over without its tool call, as a tool named unknown', async () => {
    // The SDK's types make `toolCall` optional in executeTool; v7 always passes it.
    const { events } = await recordRun(async () => {
      telemetry.onStart({ callId: 'bare', operationId: 'ai.generateText', modelId: 'm', provider: 'p' } as Parameters<AgentbusTelemetry['onStart']>[0]);
      const value = await telemetry.executeTool({
        callId: 'bare',
        toolCallId: 'call-bare',
        execute: async () => {
          emit('test.inside.tool', {});
          return 7;
        },
      });
      telemetry.onToolExecutionEnd({ callId: 'bare', toolCall: { toolCallId: 'call-bare', toolName: 'ignored' }, toolExecutionMs: 1, toolOutput: { type: 'tool-result', output: value } });
      telemetry.onEnd({ callId: 'bare', text: 'done', finishReason: 'stop' } as Parameters<AgentbusTelemetry['onEnd']>[0]);
      return value;
    });
    const opened = expectWellFormedSteps(events);
    expect(outline(events).filter((line) => line.startsWith('agent.tool'))).toEqual(['agent.tool.started unknown', 'agent.tool.completed unknown']);
    const inside = events.find((e) => e.eventType === 'test.inside.tool')!;
    expect(parentOf(inside, opened)?.eventType).toBe('agent.tool.started');
    expect(telemetry.openCalls).toBe(0);
  });

  it('emits nothing and tracks nothing for calls made outside a run', async () => {
    resetEventBus();
    const model = new aiTest.MockLanguageModelV4({ doGenerate: [toolTurn, answerTurn] });
    const result = await ai.generateText({ model, tools: tools(), prompt: 'go', stopWhen: ai.stepCountIs(5) });
    expect(result.text).toBe('The sum is 5; the lookup failed.');
    expect(getEventBus().stats().published).toBe(0);
    expect(telemetry.openCalls).toBe(0);
  });
});

describe.runIf(unsupported)('agentbus/ai-sdk on Node < 22', () => {
  it('loads without the ai package, which needs Node >= 22 in v7', () => {
    expect(new AgentbusTelemetry().openCalls).toBe(0);
  });
});

describe('AgentbusTelemetry with what it cannot read', () => {
  it('never throws into the SDK, and runs the work it wraps exactly once, as it is', async () => {
    const telemetry = new AgentbusTelemetry();
    const hostile = new Proxy({}, { get() { throw new Error('getter boom'); } });
    let toolRuns = 0;
    let modelRuns = 0;
    const { error, events } = await recordRun(async () => {
      telemetry.onStart({ callId: 'c1', operationId: 'ai.generateText', modelId: 'm', provider: 'p' } as never);
      for (const hook of ['onStart', 'onLanguageModelCallEnd', 'onStepError', 'onToolExecutionEnd', 'onEnd', 'onError'] as const) {
        expect(() => (telemetry[hook] as (event: unknown) => void)(null)).not.toThrow();
        expect(() => (telemetry[hook] as (event: unknown) => void)(hostile)).not.toThrow();
      }
      await telemetry.onAbort(hostile as never);
      // Our bookkeeping cannot read the options: the tool still runs, once.
      expect(await telemetry.executeTool({ callId: 'c1', toolCallId: 't1', toolCall: hostile, execute: async () => ++toolRuns } as never)).toBe(1);
      // An execute that returns a plain value (not a promise) still works.
      expect(await telemetry.executeLanguageModelCall({ callId: 'c1', execute: () => ++modelRuns } as never)).toBe(1);
      telemetry.onEnd({ callId: 'c1', finishReason: 'stop', text: 'done' } as never);
    });
    expect(error).toBeUndefined();
    expect(toolRuns).toBe(1);
    expect(modelRuns).toBe(1);
    expect(events.map((e) => e.eventType)).toContain('agent.terminate');
    expect(telemetry.openCalls).toBe(0);
  });
});
