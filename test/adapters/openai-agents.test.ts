/**
 * The OpenAI Agents SDK adapter against the real `@openai/agents`: real
 * Agents and Runner, driven by a scripted model object that implements the
 * SDK's Model interface and, like the SDK's own OpenAI models, records a
 * generation span per call. No network.
 */
import {
  Agent,
  run,
  setTraceProcessors,
  setTracingDisabled,
  tool,
  Usage,
  withGenerationSpan,
  type Model,
  type ModelRequest,
  type ModelResponse,
} from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AgentbusTraceProcessor } from '../../src/adapters/openai-agents/index.js';
import { getEventBus, resetEventBus } from '../../src/bus.js';
import { expectWellFormedSteps, outline, parentOf, recordRun } from './run-events.js';

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
      name: 'Adder', tools: [add],
      model: new ScriptedModel([call('c1', 'add', { a: 1, b: 1 })], [say('2')]),
    });
    const { events } = await recordRun(() => run(agent, 'go'), { captureContent: true });
    expect(events.find((e) => e.eventType === 'agent.tool.started')!.data).toMatchObject({ args: { a: 1, b: 1 } });
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

  it('emits nothing and tracks nothing for runs made outside an agentbus run', async () => {
    resetEventBus();
    const agent = new Agent({ name: 'Idle', tools: [add], model: new ScriptedModel([call('c1', 'add', { a: 1, b: 2 })], [say('3')]) });
    const result = await run(agent, 'go');
    expect(result.finalOutput).toBe('3');
    expect(getEventBus().stats().published).toBe(0);
    expect(processor.openSpans).toBe(0);
  });
});
