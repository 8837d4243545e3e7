/**
 * The OpenAI Agents SDK adapter against the real `@openai/agents`: real
 * Agents and Runner, driven by scripted model objects that implement the
 * SDK's Model interface: one that, like the SDK's own OpenAI models, records
 * a generation span per call, and plain ones that trace nothing (as most
 * Model implementations). No network.
 */
import * as agents from '@openai/agents';
import {
  addTraceProcessor,
  Agent,
  BatchTraceProcessor,
  getGlobalTraceProvider,
  MultiTracingProcessor,
  OpenAITracingExporter,
  run,
  setTraceProcessors,
  setTracingDisabled,
  tool,
  Usage,
  withGenerationSpan,
  type Model,
  type ModelRequest,
  type ModelResponse,
  type StreamEvent,
} from '@openai/agents';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AgentbusTraceProcessor, instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
import { getEventBus, resetEventBus } from '../../src/global.js';
import { expectWellFormedSteps, outline, parentOf, recordRun } from './run-events.js';
import { expectConversation, inputMessagesShape, systemInstructionsShape, toolDefinitionsShape } from '../genai-content-shapes.js';

type OutputItem = ModelResponse['output'][number];

const call = (callId: string, name: string, args: object): OutputItem => ({
  type: 'function_call', callId, name, arguments: JSON.stringify(args), status: 'completed',
});
const say = (text: string): OutputItem => ({
  type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text }],
});

/** A Model that answers from a script, one turn per call, and traces each call as a generation span. */
class ScriptedModel implements Model {
  readonly #turns: OutputItem[][];
  constructor(...turns: OutputItem[][]) {
    this.#turns = turns;
  }
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const usage = new Usage({ requests: 1, inputTokens: 10, outputTokens: 4, totalTokens: 14 });
    const respond = async (output: OutputItem[]): Promise<ModelResponse> => ({ usage, output, responseId: 'resp' });
    const next = (): OutputItem[] => {
      const output = this.#turns.shift();
      if (output === undefined) throw new Error('script exhausted');
      return output;
    };
    if (request.tracing === false) return respond(next());
    return withGenerationSpan(async (span) => {
      const output = next();
      span.spanData.output = output as never;
      span.spanData.usage = { input_tokens: 10, output_tokens: 4 };
      return respond(output);
    }, { data: { model: 'scripted-model', input: Array.isArray(request.input) ? request.input : [request.input] as never } });
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('not scripted');
  }
}

/** A Model that answers from a script and traces nothing, like most Model implementations. */
class PlainModel implements Model {
  readonly #turns: OutputItem[][];
  readonly requests: ModelRequest[] = [];
  constructor(...turns: OutputItem[][]) {
    this.#turns = turns;
  }
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const output = this.#turns.shift();
    if (output === undefined) throw new Error('script exhausted');
    return { usage: plainUsage(), output, responseId: 'plain' };
  }
  async *getStreamedResponse(request: ModelRequest): AsyncIterable<StreamEvent> {
    const { output, usage } = await this.getResponse(request);
    for (const item of output) {
      if (item.type === 'message') yield { type: 'output_text_delta', delta: 'streamed ' };
    }
    yield {
      type: 'response_done',
      response: {
        id: 'plain', output,
        usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens, inputTokensDetails: usage.inputTokensDetails, outputTokensDetails: usage.outputTokensDetails },
      },
    } as StreamEvent;
  }
}
const plainUsage = () => new Usage({
  requests: 1, inputTokens: 20, outputTokens: 5, totalTokens: 25,
  inputTokensDetails: { cached_tokens: 8 }, outputTokensDetails: { reasoning_tokens: 2 },
});
const plainTokens = {
  model: 'plain-model', provider: 'acme', inputTokens: 20, outputTokens: 5, totalTokens: 25, cacheReadInputTokens: 8, reasoningOutputTokens: 2,
};

const add = tool({
  name: 'add',
  description: 'Adds two numbers',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: async ({ a, b }) => String(a + b),
});
const lookup = tool({
  name: 'lookup',
  description: 'Looks a city up',
  parameters: z.object({ city: z.string() }),
  execute: async (): Promise<string> => {
    throw new Error('lookup service unavailable');
  },
});

let processor: AgentbusTraceProcessor;
const fetchSpy = vi.spyOn(globalThis, 'fetch');

beforeAll(() => {
  // The SDK disables tracing by default when NODE_ENV is 'test' (vitest sets it).
  setTracingDisabled(false);
  processor = new AgentbusTraceProcessor();
  // Replaces the default OpenAI exporter, so nothing leaves the process.
  setTraceProcessors([processor]);
});
afterAll(() => {
  setTraceProcessors([]);
  fetchSpy.mockRestore();
});

describe('agentbus/openai-agents', () => {
  it('turns an agent calling two tools, one failing, into the canonical event sequence', async () => {
    const agent = new Agent({
      name: 'Weather agent',
      instructions: 'Use the tools.',
      tools: [add, lookup],
      model: new ScriptedModel(
        [call('c1', 'add', { a: 2, b: 3 }), call('c2', 'lookup', { city: 'Oslo' })],
        [say('The sum is 5; the lookup failed.')],
      ),
      modelSettings: { parallelToolCalls: false },
    });
    const { events, result } = await recordRun(() => run(agent, 'Add 2 and 3, then look up Oslo.'));
    expect(result?.finalOutput).toBe('The sum is 5; the lookup failed.');
    const lines = outline(events);
    // The SDK runs a turn's tool calls concurrently: compare the tool events as a set.
    expect(lines.slice(0, 6)).toEqual([
      'run.started',
      'agent.invocation.started Weather agent',
      'agent.model.started scripted-model',
      'agent.tokens.used scripted-model',
      'agent.model.completed tool_calls',
      'agent.tool.started add',
    ]);
    expect([...lines.slice(5, 9)].sort()).toEqual([
      'agent.tool.completed add', 'agent.tool.completed lookup', 'agent.tool.started add', 'agent.tool.started lookup',
    ]);
    expect(lines.slice(9)).toEqual([
      'agent.model.started scripted-model',
      'agent.tokens.used scripted-model',
      'agent.model.completed stop',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    const opened = expectWellFormedSteps(events);
    const agentStart = events[1]!;
    for (const e of events.slice(2, -2)) expect(parentOf(e, opened), e.eventType).toBe(agentStart);
    expect(events[3]!.data).toEqual({ model: 'scripted-model', provider: 'openai', inputTokens: 10, outputTokens: 4, totalTokens: 14 });
    expect(events[4]!.data).toMatchObject({ toolCallCount: 2 });
    const toolEnds = events.filter((e) => e.eventType === 'agent.tool.completed').map((e) => e.data as Record<string, unknown>);
    expect(toolEnds.find((d) => d['toolName'] === 'add')).toMatchObject({ success: true, outputPreview: '5' });
    expect(toolEnds.find((d) => d['toolName'] === 'lookup')).toMatchObject({ success: false });
    expect(String(toolEnds.find((d) => d['toolName'] === 'lookup')!['error'])).toContain('Error running tool');
    expect(events.at(-2)!.data).toEqual({
      reason: 'completed', iterationsUsed: 2, totalToolCalls: 2, finalMessagePreview: 'The sum is 5; the lookup failed.',
    });
    const started = events.filter((e) => e.eventType === 'agent.tool.started').map((e) => e.data);
    expect(started).toContainEqual({ toolName: 'lookup', toolCallId: expect.any(String), argKeys: ['city'] });
    expect(processor.openSpans).toBe(0);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('puts tool arguments into events only when the run captures content', async () => {
    const agent = new Agent({
      name: 'Adder', instructions: 'Add.', tools: [add],
      model: new ScriptedModel([call('c1', 'add', { a: 1, b: 1 })], [say('2')]),
    });
    const { events } = await recordRun(() => run(agent, 'go'), { captureContent: true });
    expect(events.find((e) => e.eventType === 'agent.tool.started')!.data).toMatchObject({ args: { a: 1, b: 1 } });
    // The conversation in the conventions' shapes, on the model steps' events.
    expectConversation(events, { name: 'add', arguments: { a: 1, b: 1 } });
    // An instrumented model sees the request itself: the instructions, apart from the conversation.
    const plain = new PlainModel([call('c2', 'add', { a: 2, b: 2 })], [say('4')]);
    const wrapped = new Agent({ name: 'Wrapped', instructions: 'Add.', tools: [add], model: processor.instrumentModel(plain, { model: 'plain-model', provider: 'acme' }) });
    const second = await recordRun(() => run(wrapped, 'go'), { captureContent: true });
    const wrappedStarts = second.events.filter((e) => e.eventType === 'agent.model.started').map((e) => e.data as Record<string, unknown>);
    expect(wrappedStarts).toHaveLength(2);
    expect(systemInstructionsShape.parse(wrappedStarts[0]!['systemInstructions'])).toEqual([{ type: 'text', content: 'Add.' }]);
    expect(toolDefinitionsShape.parse(wrappedStarts[0]!['toolDefinitions'])).toEqual([{ type: 'function', name: 'add' }]);
    expect(inputMessagesShape.parse(wrappedStarts[1]!['inputMessages']).flatMap((m) => m.parts.map((p) => p.type))).toEqual(['text', 'tool_call', 'tool_call_response']);
  });

  it('links a handoff target to the agent that handed off and nests an agent used as a tool under its tool step', async () => {
    const researcher = new Agent({
      name: 'Researcher', instructions: 'Research.', model: new ScriptedModel([say('Oslo has 700k people.')]),
    });
    const writer = new Agent({
      name: 'Writer',
      instructions: 'Write.',
      tools: [researcher.asTool({ toolName: 'ask_researcher', toolDescription: 'Ask the researcher' })],
      model: new ScriptedModel([call('r1', 'ask_researcher', { input: 'How big is Oslo?' })], [say('Oslo is big.')]),
    });
    const triage = Agent.create({
      name: 'Triage',
      instructions: 'Route.',
      handoffs: [writer],
      model: new ScriptedModel([call('h1', 'transfer_to_Writer', {})]),
    });
    const { events, result } = await recordRun(() => run(triage, 'Write about Oslo.'));
    expect(result?.finalOutput).toBe('Oslo is big.');
    const opened = expectWellFormedSteps(events);
    const agentStart = (name: string) => events.find((e) => e.eventType === 'agent.invocation.started' && (e.data as { agentName: string }).agentName === name)!;
    const handoff = events.find((e) => e.eventType === 'agent.handoff')!;
    expect(handoff.data).toEqual({ fromAgent: 'Triage', toAgent: 'Writer' });
    expect(parentOf(handoff, opened)).toBe(agentStart('Triage'));
    expect(parentOf(agentStart('Writer'), opened)).toBe(agentStart('Triage'));
    const askTool = parentOf(agentStart('Researcher'), opened)!;
    expect(askTool.eventType).toBe('agent.tool.started');
    expect(askTool.data).toMatchObject({ toolName: 'ask_researcher' });
    expect(parentOf(askTool, opened)).toBe(agentStart('Writer'));
    // Each model call reports its tokens once: four calls, four token events.
    expect(events.filter((e) => e.eventType === 'agent.tokens.used')).toHaveLength(4);
    expect(processor.openSpans).toBe(0);
  });

  it('records model and token events, call ids and counts for a model that traces nothing', async () => {
    const plain = new PlainModel(
      [call('call_add', 'add', { a: 2, b: 3 }), call('call_lookup', 'lookup', { city: 'Oslo' })],
      [say('The sum is 5; the lookup failed.')],
    );
    const agent = new Agent({
      name: 'Plain agent',
      tools: [add, lookup],
      model: processor.instrumentModel(plain, { model: 'plain-model', provider: 'acme' }),
      modelSettings: { parallelToolCalls: false, temperature: 0.3, topP: 0.7, maxTokens: 128 },
    });
    const { events, result } = await recordRun(() => run(agent, 'Add 2 and 3, then look up Oslo.'));
    expect(result?.finalOutput).toBe('The sum is 5; the lookup failed.');
    const lines = outline(events);
    expect(lines.slice(0, 5)).toEqual([
      'run.started',
      'agent.invocation.started Plain agent',
      'agent.model.started plain-model',
      'agent.tokens.used plain-model',
      'agent.model.completed tool_calls',
    ]);
    expect(lines.slice(9)).toEqual([
      'agent.model.started plain-model',
      'agent.tokens.used plain-model',
      'agent.model.completed stop',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    const opened = expectWellFormedSteps(events);
    for (const e of events.slice(2, -2)) expect(parentOf(e, opened), e.eventType).toBe(events[1]);
    // The counts are the request's: the input items so far, the tools offered.
    const modelStarts = events.filter((e) => e.eventType === 'agent.model.started').map((e) => e.data);
    // With the settings the agent's requests set; not streamed, so no stream field.
    const settings = { temperature: 0.3, topP: 0.7, maxTokens: 128 };
    expect(modelStarts).toStrictEqual([
      { model: 'plain-model', provider: 'acme', messageCount: 1, toolCount: 2, ...settings, stream: undefined },
      { model: 'plain-model', provider: 'acme', messageCount: plain.requests[1]!.input.length, toolCount: 2, ...settings, stream: undefined },
    ]);
    // The model's id of each response.
    expect(events.filter((e) => e.eventType === 'agent.model.completed').map((e) => (e.data as { responseId?: string }).responseId)).toEqual(['plain', 'plain']);
    expect(plain.requests[1]!.input.length).toBe(5);
    expect(events.filter((e) => e.eventType === 'agent.tokens.used').map((e) => e.data)).toEqual([plainTokens, plainTokens]);
    // Tool steps carry the model's call ids.
    const toolStarts = events.filter((e) => e.eventType === 'agent.tool.started').map((e) => e.data);
    expect(toolStarts).toEqual(expect.arrayContaining([
      { toolName: 'add', toolCallId: 'call_add', argKeys: ['a', 'b'] },
      { toolName: 'lookup', toolCallId: 'call_lookup', argKeys: ['city'] },
    ]));
    const toolEnds = events.filter((e) => e.eventType === 'agent.tool.completed').map((e) => e.data as Record<string, unknown>);
    expect(toolEnds.map((d) => d['toolCallId']).sort()).toEqual(['call_add', 'call_lookup']);
    expect(events.at(-2)!.data).toEqual({
      reason: 'completed', iterationsUsed: 2, totalToolCalls: 2, finalMessagePreview: 'The sum is 5; the lookup failed.',
    });
    expect(processor.openSpans).toBe(0);
  });

  it('records a streamed run of a model that traces nothing', async () => {
    const plain = new PlainModel([call('call_add', 'add', { a: 1, b: 1 })], [say('2')]);
    const agent = new Agent({ name: 'Streamer', tools: [add], model: processor.instrumentModel(plain, { model: 'plain-model', provider: 'acme' }) });
    const { events } = await recordRun(async () => {
      const streamed = await run(agent, 'go', { stream: true });
      for await (const event of streamed) void event;
      await streamed.completed;
      return streamed.finalOutput;
    });
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started Streamer',
      'agent.model.started plain-model',
      'agent.tokens.used plain-model',
      'agent.model.completed tool_calls',
      'agent.tool.started add',
      'agent.tool.completed add',
      'agent.model.started plain-model',
      'agent.tokens.used plain-model',
      'agent.model.completed stop',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    expectWellFormedSteps(events);
    expect(events[3]!.data).toEqual(plainTokens);
    expect(events[5]!.data).toMatchObject({ toolCallId: 'call_add' });
    // A streamed call says so, and its response_done names the response.
    expect(events[2]!.data).toMatchObject({ stream: true });
    expect(events[4]!.data).toMatchObject({ responseId: 'plain' });
    expect(processor.openSpans).toBe(0);
  });

  it('counts each call once when an instrumented model traces its calls too', async () => {
    const traced = new ScriptedModel([call('c1', 'add', { a: 2, b: 3 })], [say('5')]);
    const agent = new Agent({ name: 'Twice traced', tools: [add], model: processor.instrumentModel(traced, { model: 'scripted-model' }) });
    const { events } = await recordRun(() => run(agent, 'go'));
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started Twice traced',
      'agent.model.started scripted-model',
      'agent.tokens.used scripted-model',
      'agent.model.completed tool_calls',
      'agent.tool.started add',
      'agent.tool.completed add',
      'agent.model.started scripted-model',
      'agent.tokens.used scripted-model',
      'agent.model.completed stop',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    expectWellFormedSteps(events);
    expect(events[2]!.data).toEqual({ model: 'scripted-model', provider: 'openai', messageCount: 1, toolCount: 1 });
    expect(events[5]!.data).toMatchObject({ toolCallId: 'c1' });
    expect(events.at(-2)!.data).toMatchObject({ iterationsUsed: 2 });
    expect(processor.openSpans).toBe(0);
  });

  it('takes the call ids and the offered tools of a model that traces its calls from its spans', async () => {
    const agent = new Agent({
      name: 'Traced', tools: [add, lookup],
      model: new ScriptedModel([call('c1', 'add', { a: 2, b: 3 }), call('c2', 'lookup', { city: 'Oslo' })], [say('done')]),
    });
    const { events } = await recordRun(() => run(agent, 'go'));
    expectWellFormedSteps(events);
    expect(events.find((e) => e.eventType === 'agent.model.started')!.data).toEqual({
      model: 'scripted-model', provider: 'openai', messageCount: 1, toolCount: 2,
    });
    const ids = events.filter((e) => e.eventType === 'agent.tool.started').map((e) => (e.data as { toolCallId: string }).toolCallId);
    expect(ids.sort()).toEqual(['c1', 'c2']);
  });

  it('closes the agent with an error when the model fails', async () => {
    const agent = new Agent({ name: 'Broken', tools: [add], model: new ScriptedModel() });
    const { events, error } = await recordRun(() => run(agent, 'go'));
    expect(error).toBeDefined();
    expectWellFormedSteps(events);
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started Broken',
      'agent.model.started scripted-model',
      'agent.model.completed error',
      'agent.terminate error',
      'run.completed error',
    ]);
    expect(processor.openSpans).toBe(0);
  });

  it('closes an instrumented model\'s step with what it threw, and its class', async () => {
    const agent = new Agent({ name: 'Broken plain', model: processor.instrumentModel(new PlainModel(), { model: 'plain-model', provider: 'acme' }) });
    const { events, error } = await recordRun(() => run(agent, 'go'));
    expect(error).toBeDefined();
    expectWellFormedSteps(events);
    expect(events.find((e) => e.eventType === 'agent.model.completed')!.data).toEqual({
      stopReason: 'error', toolCallCount: 0, contentPreview: '', error: 'Error: script exhausted', errorType: 'Error',
    });
    expect(outline(events).slice(-2)).toEqual(['agent.terminate error', 'run.completed error']);
    expect(processor.openSpans).toBe(0);
  });

  it('emits nothing and tracks nothing for runs made outside an agentbus run', async () => {
    resetEventBus();
    const agent = new Agent({ name: 'Idle', tools: [add], model: new ScriptedModel([call('c1', 'add', { a: 1, b: 2 })], [say('3')]) });
    const result = await run(agent, 'go');
    expect(result.finalOutput).toBe('3');
    expect(getEventBus().stats().published).toBe(0);
    expect(processor.openSpans).toBe(0);
  });
});

describe('instrumentOpenAIAgents', () => {
  // What importing '@openai/agents' installs: a batch exporter to OpenAI's dashboard.
  let defaultExporter: BatchTraceProcessor;
  beforeAll(() => {
    vi.stubEnv('OPENAI_API_KEY', '');
  });
  afterEach(async () => {
    await defaultExporter?.shutdown();
    setTraceProcessors([processor]);
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  const runAndFlush = async () => {
    const agent = new Agent({ name: 'Keyless', model: new PlainModel([say('hi')]) });
    const recorded = await recordRun(() => run(agent, 'go'));
    await getGlobalTraceProvider().forceFlush();
    return recorded;
  };
  const noKeyMessages = (spy: { mock: { calls: unknown[][] } }) => spy.mock.calls.filter((args) => String(args[0]).includes('No API key provided'));

  it('replaces the SDK default exporter when there is no OpenAI key, and records the run', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      // The cause: our processor added next to the SDK's exporter, which has no key to export with.
      defaultExporter = new BatchTraceProcessor(new OpenAITracingExporter());
      setTraceProcessors([defaultExporter]);
      addTraceProcessor(new AgentbusTraceProcessor());
      await runAndFlush();
      expect(noKeyMessages(errors).length).toBeGreaterThan(0);
      errors.mockClear();

      setTraceProcessors([defaultExporter]);
      const agentbus = instrumentOpenAIAgents(agents);
      const agent = new Agent({ name: 'Keyless', tools: [add], model: agentbus.instrumentModel(new PlainModel([call('call_add', 'add', { a: 1, b: 2 })], [say('3')])) });
      const { events } = await recordRun(() => run(agent, 'go'));
      await getGlobalTraceProvider().forceFlush();
      expect(noKeyMessages(errors)).toEqual([]);
      expect(outline(events)).toContain('agent.model.started PlainModel');
      expect(events.filter((e) => e.eventType === 'agent.tokens.used')).toHaveLength(2);
      expect(events.find((e) => e.eventType === 'agent.tool.started')!.data).toMatchObject({ toolCallId: 'call_add' });
      expect(agentbus.openSpans).toBe(0);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });

  it('keeps the SDK default exporter when asked to export to OpenAI as well', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      defaultExporter = new BatchTraceProcessor(new OpenAITracingExporter());
      setTraceProcessors([defaultExporter]);
      const agentbus = instrumentOpenAIAgents(agents, { exportToOpenAI: true });
      const { events } = await runAndFlush();
      // The exporter is still there (and, with no key here, says so); agentbus records the run beside it.
      expect(noKeyMessages(errors).length).toBeGreaterThan(0);
      expect(outline(events)).toContain('agent.invocation.started Keyless');
      expect(agentbus.openSpans).toBe(0);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('AgentbusTraceProcessor with what it cannot read', () => {
  it('never rejects, so the SDK still hands the span to the processors after it', async () => {
    const hostile = new Proxy({}, { get() { throw new Error('getter boom'); } });
    const processor = new AgentbusTraceProcessor();
    const { error } = await recordRun(async () => {
      await processor.onSpanStart({} as never);
      await processor.onSpanStart(hostile as never);
      await processor.onSpanEnd(null as never);
      await processor.onSpanEnd(hostile as never);
      await processor.onTraceEnd(null as never);
    });
    expect(error).toBeUndefined();
    // The SDK awaits each processor in turn, without a catch.
    let after = 0;
    const multi = new MultiTracingProcessor();
    const counting = { onSpanStart: async () => void after++, onSpanEnd: async () => void after++, onTraceStart: async () => {}, onTraceEnd: async () => {}, shutdown: async () => {}, forceFlush: async () => {} };
    multi.setProcessors([processor, counting as never]);
    await recordRun(async () => {
      await multi.onSpanStart(hostile as never);
      await multi.onSpanEnd(hostile as never);
    });
    expect(after).toBe(2);
  });
});
