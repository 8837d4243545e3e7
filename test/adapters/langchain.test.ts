/**
 * The LangChain adapter against the real `langchain` `createAgent` (a
 * LangGraph ReAct loop over @langchain/core), driven by a scripted chat model
 * that implements BaseChatModel with tool binding. No network.
 */
import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, HumanMessage, SystemMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult, LLMResult } from '@langchain/core/outputs';
import type { Serialized } from '@langchain/core/load/serializable';
import { RunnableLambda } from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { END, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { createAgent } from 'langchain';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentbusCallbackHandler } from '../../src/adapters/langchain/index.js';
import { getEventBus, resetEventBus } from '../../src/global.js';
import { runContext } from '../../src/context.js';
import { expectWellFormedSteps, outline, parentOf, recordRun } from './run-events.js';
import { inputMessagesShape, outputMessagesShape, systemInstructionsShape, toolDefinitionsShape } from '../genai-content-shapes.js';

/** A chat model that answers from a script, one message per call, with usage metadata like real providers. */
class ScriptedChatModel extends BaseChatModel {
  readonly #turns: AIMessage[];
  constructor(...turns: AIMessage[]) {
    super({});
    this.#turns = turns;
  }
  _llmType(): string {
    return 'scripted';
  }
  // Real providers name themselves and their model this way (LangSmith params).
  override getLsParams(options: this['ParsedCallOptions']) {
    return { ...super.getLsParams(options), ls_provider: 'scripted', ls_model_name: 'scripted-model' };
  }
  override bindTools(): this {
    return this;
  }
  async _generate(_messages: BaseMessage[], _options: BaseChatModelCallOptions): Promise<ChatResult> {
    const message = this.#turns.shift();
    if (message === undefined) throw new Error('script exhausted');
    return {
      generations: [{ message, text: typeof message.content === 'string' ? message.content : '' }],
      // Providers report usage on the message and again in llmOutput: it must be counted once.
      llmOutput: { tokenUsage: { promptTokens: 11, completionTokens: 6, totalTokens: 17 } },
    };
  }
}

const usage = { input_tokens: 11, output_tokens: 6, total_tokens: 17 };
const toolTurn = () => new AIMessage({
  content: '',
  tool_calls: [
    { id: 'call-add', name: 'add', args: { a: 2, b: 3 }, type: 'tool_call' },
    { id: 'call-lookup', name: 'lookup', args: { city: 'Oslo' }, type: 'tool_call' },
  ],
  usage_metadata: usage,
});
const answer = (text: string) => new AIMessage({ content: text, usage_metadata: usage });

const add = tool(async ({ a, b }) => String(a + b), {
  name: 'add', description: 'Adds two numbers', schema: z.object({ a: z.number(), b: z.number() }),
});
const lookup = tool(async (): Promise<string> => {
  throw new Error('lookup service unavailable');
}, { name: 'lookup', description: 'Looks a city up', schema: z.object({ city: z.string() }) });

describe('agentbus/langchain', () => {
  it('turns a createAgent loop calling two tools, one failing, into the canonical event sequence', async () => {
    const handler = new AgentbusCallbackHandler();
    const agent = createAgent({ model: new ScriptedChatModel(toolTurn(), answer('The sum is 5; the lookup failed.')), tools: [add, lookup], name: 'weather_agent' });
    const { events, error } = await recordRun(() => agent.invoke(
      { messages: [{ role: 'user', content: 'Add 2 and 3, then look up Oslo.' }] },
      { callbacks: [handler] },
    ));
    expect(error).toBeUndefined();
    const lines = outline(events);
    expect(lines.slice(0, 5)).toEqual([
      'run.started',
      'agent.invocation.started weather_agent',
      'agent.model.started scripted-model',
      'agent.tokens.used scripted-model',
      'agent.model.completed tool_calls',
    ]);
    // LangGraph runs a turn's tool calls concurrently: compare the tool events as a set.
    expect(lines.slice(5, 9).sort()).toEqual([
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
    expect(events[3]!.data).toEqual({ model: 'scripted-model', provider: 'scripted', inputTokens: 11, outputTokens: 6, totalTokens: 17 });
    const toolEvents = events.filter((e) => e.eventType.startsWith('agent.tool.')).map((e) => e.data as Record<string, unknown>);
    expect(toolEvents).toContainEqual({ toolName: 'add', toolCallId: 'call-add', argKeys: ['a', 'b'] });
    expect(toolEvents).toContainEqual(expect.objectContaining({ toolName: 'add', toolCallId: 'call-add', success: true, outputPreview: '5' }));
    expect(toolEvents).toContainEqual(expect.objectContaining({
      toolName: 'lookup', toolCallId: 'call-lookup', success: false, error: 'Error: lookup service unavailable',
    }));
    // The class of what the tool threw, for the bridge's error.type.
    expect(toolEvents).toContainEqual(expect.objectContaining({ toolName: 'lookup', errorType: 'Error' }));
    expect(events.at(-2)!.data).toEqual({
      reason: 'completed', iterationsUsed: 2, totalToolCalls: 2, finalMessagePreview: 'The sum is 5; the lookup failed.',
    });
    expect(handler.openRuns).toBe(0);
  });

  it('puts tool arguments into events only when the run captures content', async () => {
    const agent = createAgent({ model: new ScriptedChatModel(toolTurn(), answer('ok')), tools: [add, lookup] });
    const { events } = await recordRun(
      () => agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [new AgentbusCallbackHandler()] }),
      { captureContent: true },
    );
    expect(events.filter((e) => e.eventType === 'agent.tool.started').map((e) => e.data)).toContainEqual({
      toolName: 'add', toolCallId: 'call-add', argKeys: ['a', 'b'], args: { a: 2, b: 3 },
    });
    // The conversation in the conventions' shapes, on the model steps' events.
    const modelStarts = events.filter((e) => e.eventType === 'agent.model.started').map((e) => e.data as Record<string, unknown>);
    const modelEnds = events.filter((e) => e.eventType === 'agent.model.completed').map((e) => e.data as Record<string, unknown>);
    expect(modelStarts.length).toBeGreaterThan(1);
    for (const data of modelStarts) {
      expect(inputMessagesShape.parse(data['inputMessages']).length).toBeGreaterThan(0);
      // The scripted model binds no tools (its invocation params list none).
      expect(data['toolDefinitions']).toBeUndefined();
    }
    for (const data of modelEnds) outputMessagesShape.parse(data['outputMessages']);
    const lastInput = inputMessagesShape.parse(modelStarts.at(-1)!['inputMessages']);
    expect(lastInput.flatMap((m) => m.parts.map((p) => p.type))).toEqual(expect.arrayContaining(['text', 'tool_call', 'tool_call_response']));
    const firstOutput = outputMessagesShape.parse(modelEnds[0]!['outputMessages']);
    expect(firstOutput[0]!.parts).toContainEqual(expect.objectContaining({ type: 'tool_call', name: 'add', arguments: { a: 2, b: 3 } }));
    expect(firstOutput[0]!.finish_reason).toBe('tool_call');
    expect(lastInput[0]).toEqual({ role: 'user', parts: [{ type: 'text', content: 'go' }] });
  });

  it('maps LangChain messages, and the tools of the invocation params, into the conventions\' shapes', async () => {
    const handler = new AgentbusCallbackHandler();
    const messages = [
      new SystemMessage('Be brief.'),
      new HumanMessage({ content: [{ type: 'text', text: 'Add 1 and 2.' }] }),
      new AIMessage({ content: '', tool_calls: [{ id: 'c1', name: 'add', args: { a: 1, b: 2 }, type: 'tool_call' }] }),
      new ToolMessage({ content: '3', tool_call_id: 'c1' }),
    ];
    const llm = { lc: 1, type: 'not_implemented', id: ['langchain', 'chat_models', 'ChatX'] } as Serialized;
    const params = { invocation_params: { model: 'x-1', tools: [{ type: 'function', function: { name: 'add', parameters: {} } }] } };
    const { events, error } = await recordRun(async () => {
      handler.handleChatModelStart(llm, [messages], 'lc-run-1', undefined, params);
      handler.handleLLMEnd({ generations: [[{ text: 'It is 3.', message: new AIMessage('It is 3.') }]] } as unknown as LLMResult, 'lc-run-1');
    }, { captureContent: true });
    const started = events.find((e) => e.eventType === 'agent.model.started')!.data as Record<string, unknown>;
    expect(inputMessagesShape.parse(started['inputMessages'])).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'Be brief.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'Add 1 and 2.' }] },
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'c1', response: '3' }] },
    ]);
    expect(toolDefinitionsShape.parse(started['toolDefinitions'])).toEqual([{ type: 'function', name: 'add' }]);
    const completed = events.find((e) => e.eventType === 'agent.model.completed')!.data as Record<string, unknown>;
    expect(outputMessagesShape.parse(completed['outputMessages'])).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'It is 3.' }], finish_reason: 'stop' },
    ]);
  });

  it('nests an agent invoked from a tool under that tool', async () => {
    const handler = new AgentbusCallbackHandler();
    const researcher = createAgent({ model: new ScriptedChatModel(answer('Oslo has 700k people.')), tools: [], name: 'researcher' });
    const ask = tool(async ({ question }, config) => {
      const result = await researcher.invoke({ messages: [{ role: 'user', content: question }] }, config);
      return String(result.messages.at(-1)?.content);
    }, { name: 'ask_researcher', description: 'Ask the researcher', schema: z.object({ question: z.string() }) });
    const writer = createAgent({
      model: new ScriptedChatModel(
        new AIMessage({ content: '', tool_calls: [{ id: 'r1', name: 'ask_researcher', args: { question: 'How big is Oslo?' }, type: 'tool_call' }] }),
        answer('Oslo is big.'),
      ),
      tools: [ask],
      name: 'writer',
    });
    const { events } = await recordRun(() => writer.invoke({ messages: [{ role: 'user', content: 'Write.' }] }, { callbacks: [handler] }));
    const opened = expectWellFormedSteps(events);
    const researcherStart = events.find((e) => e.eventType === 'agent.invocation.started' && (e.data as { agentName: string }).agentName === 'researcher')!;
    expect(parentOf(researcherStart, opened)?.data).toMatchObject({ toolName: 'ask_researcher' });
    expect(handler.openRuns).toBe(0);
  });

  it('names each createAgent agent by its own name, also inside an unnamed graph', async () => {
    const researcher = createAgent({ model: new FakeListChatModel({ responses: ['Oslo has 700k people.'] }), tools: [], name: 'researcher' });
    const writer = createAgent({ model: new FakeListChatModel({ responses: ['Oslo is big.'] }), tools: [], name: 'writer' });
    // A two-agent workflow: an unnamed LangGraph graph running each agent as a node.
    const workflow = new StateGraph(MessagesAnnotation)
      .addNode('research', async (state, config) => researcher.invoke({ messages: state.messages }, config))
      .addNode('write', async (state, config) => writer.invoke({ messages: state.messages }, config))
      .addEdge(START, 'research')
      .addEdge('research', 'write')
      .addEdge('write', END)
      .compile();
    const handler = new AgentbusCallbackHandler();
    const { events, error } = await recordRun(() => workflow.invoke({ messages: [{ role: 'user', content: 'Write about Oslo.' }] }, { callbacks: [handler] }));
    expect(error).toBeUndefined();
    expect(outline(events).filter((line) => /invocation|terminate|model\.started/.test(line))).toEqual([
      'agent.invocation.started langchain',
      'agent.invocation.started researcher',
      'agent.model.started FakeListChatModel',
      'agent.terminate completed',
      'agent.invocation.started writer',
      'agent.model.started FakeListChatModel',
      'agent.terminate completed',
      'agent.terminate completed',
    ]);
    const opened = expectWellFormedSteps(events);
    const started = (name: string) => events.find((e) => e.eventType === 'agent.invocation.started' && (e.data as { agentName: string }).agentName === name)!;
    expect(parentOf(started('researcher'), opened)).toBe(started('langchain'));
    expect(parentOf(started('writer'), opened)).toBe(started('langchain'));
    // Each agent counts its own model call; the workflow counts none.
    const terminates = events.filter((e) => e.eventType === 'agent.terminate').map((e) => e.data);
    expect(terminates).toEqual([
      expect.objectContaining({ iterationsUsed: 1, finalMessagePreview: 'Oslo has 700k people.' }),
      expect.objectContaining({ iterationsUsed: 1, finalMessagePreview: 'Oslo is big.' }),
      expect.objectContaining({ iterationsUsed: 0 }),
    ]);
    expect(handler.openRuns).toBe(0);
  });

  it('names an unnamed agent by the handler option, not by a placeholder', async () => {
    const unnamed = createAgent({ model: new FakeListChatModel({ responses: ['hi'] }), tools: [] });
    const { events } = await recordRun(() => unnamed.invoke(
      { messages: [{ role: 'user', content: 'go' }] },
      { callbacks: [new AgentbusCallbackHandler({ agentName: 'support-bot' })] },
    ));
    expect(outline(events)[1]).toBe('agent.invocation.started support-bot');
    const named = createAgent({ model: new FakeListChatModel({ responses: ['hi'] }), tools: [], name: 'greeter' });
    const again = await recordRun(() => named.invoke(
      { messages: [{ role: 'user', content: 'go' }] },
      { callbacks: [new AgentbusCallbackHandler({ agentName: 'support-bot' })] },
    ));
    expect(outline(again.events)[1]).toBe('agent.invocation.started greeter');
  });

  it('closes the model step and the agent with an error when the model fails', async () => {
    const handler = new AgentbusCallbackHandler();
    const agent = createAgent({ model: new ScriptedChatModel(), tools: [add], name: 'broken' });
    const { events, error } = await recordRun(() => agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [handler] }));
    expect(error).toBeDefined();
    expect(outline(events)).toEqual([
      'run.started',
      'agent.invocation.started broken',
      'agent.model.started scripted-model',
      'agent.model.completed error',
      'agent.terminate error',
      'run.completed error',
    ]);
    expectWellFormedSteps(events);
    expect(handler.openRuns).toBe(0);
  });

  it('carries the settings the provider is sent and what its response says of itself', async () => {
    /** A chat model whose provider is sent settings, as real integrations report them in their invocation params. */
    class TunedChatModel extends ScriptedChatModel {
      override invocationParams() {
        return { temperature: 0.1, max_tokens: 64, top_p: 0.5, streaming: true };
      }
    }
    const reply = new AIMessage({
      content: 'hi',
      usage_metadata: { ...usage, input_token_details: { cache_read: 2, cache_creation: 9 } },
      response_metadata: { model_name: 'scripted-model-2025', id: 'resp-lc-1' },
    });
    const agent = createAgent({ model: new TunedChatModel(reply), tools: [], name: 'tuned' });
    const { events } = await recordRun(() => agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [new AgentbusCallbackHandler()] }));
    const dataOf = (type: string) => events.find((e) => e.eventType === type)!.data;
    expect(dataOf('agent.model.started')).toMatchObject({ temperature: 0.1, maxTokens: 64, topP: 0.5, stream: true });
    expect(dataOf('agent.model.completed')).toMatchObject({ responseModel: 'scripted-model-2025', responseId: 'resp-lc-1' });
    expect(dataOf('agent.tokens.used')).toMatchObject({ cacheReadInputTokens: 2, cacheCreationInputTokens: 9 });

    // A model that sets nothing and a response that names nothing: no such fields (LangChain's own `run-` message id is not the provider's).
    const plain = createAgent({ model: new ScriptedChatModel(answer('ok')), tools: [], name: 'plain' });
    const second = await recordRun(() => plain.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [new AgentbusCallbackHandler()] }));
    const started = second.events.find((e) => e.eventType === 'agent.model.started')!.data as Record<string, unknown>;
    for (const key of ['temperature', 'maxTokens', 'topP', 'stream']) expect(started[key], key).toBeUndefined();
    const completed = second.events.find((e) => e.eventType === 'agent.model.completed')!.data as Record<string, unknown>;
    expect(completed.responseModel).toBeUndefined();
    expect(completed.responseId).toBeUndefined();
  });

  it('gives a failed agent the class of what failed it', async () => {
    const agent = createAgent({ model: new ScriptedChatModel(), tools: [add], name: 'broken' });
    const { events } = await recordRun(() => agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [new AgentbusCallbackHandler()] }));
    expect(events.find((e) => e.eventType === 'agent.terminate')!.data).toMatchObject({ reason: 'error', errorType: 'Error' });
  });

  it('emits nothing and tracks nothing for invocations made outside a run', async () => {
    resetEventBus();
    const handler = new AgentbusCallbackHandler();
    const agent = createAgent({ model: new ScriptedChatModel(toolTurn(), answer('done')), tools: [add, lookup] });
    await agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { callbacks: [handler] });
    expect(getEventBus().stats().published).toBe(0);
    expect(handler.openRuns).toBe(0);
  });

  it('forgets what abandoned streams left open once their runs have ended, and keeps what open runs hold', async () => {
    resetEventBus();
    const handler = new AgentbusCallbackHandler();
    const chat = RunnableLambda.from(async function* () {
      for (let i = 0; i < 100; i++) yield `token ${i} `;
    }).withConfig({ runName: 'chatbot' });
    // A run that stays open while the others come and go: its entry must stay.
    let release!: () => void;
    const held = runContext(async () => {
      for await (const chunk of await chat.stream('hi', { callbacks: [handler] })) {
        if (String(chunk) === 'token 1 ') break;
      }
      await new Promise<void>((r) => (release = r));
    }, { runId: 'held' });
    await new Promise((r) => setTimeout(r, 10));
    // Each consumer stops reading early (a client went away): LangChain never reports the chain's end.
    for (let r = 0; r < 1_000; r++) {
      await runContext(async () => {
        for await (const chunk of await chat.stream('hi', { callbacks: [handler] })) {
          if (String(chunk) === 'token 2 ') break;
        }
      }, { runId: `abandoned-${r}` });
    }
    // Swept when the entries double: never more than 2 x 256, where it grew by one per run before.
    expect(handler.openRuns).toBeGreaterThan(0);
    expect(handler.openRuns).toBeLessThanOrEqual(512);
    expect(getEventBus().history('held').map((e) => e.eventType)).toEqual(['run.started', 'agent.invocation.started']);
    // The held run's agent is still tracked: its chain's end, reported now, closes it.
    const [heldAgent] = getEventBus().history('held').filter((e) => e.eventType === 'agent.invocation.started');
    expect(heldAgent).toBeDefined();
    release();
    await held;
  });

  it('never throws into LangChain, whatever a callback is handed, and still closes the agent', async () => {
    const handler = new AgentbusCallbackHandler();
    const hostile = new Proxy({}, { get() { throw new Error('getter boom'); }, has() { throw new Error('has boom'); } });
    const { events, error } = await recordRun(async () => {
      expect(() => handler.handleChatModelStart({ id: ['x'] } as never, null as never, 'm0')).not.toThrow();
      expect(() => handler.handleLLMStart({ id: ['x'] } as never, undefined as never, 'm1')).not.toThrow();
      expect(() => handler.handleChainStart(hostile as never, {}, 'c0')).not.toThrow();
      handler.handleChainStart({ id: ['x'] } as never, {}, 'c1');
      expect(() => handler.handleChainEnd(hostile as never, 'c1')).not.toThrow();
      expect(() => handler.handleLLMEnd(hostile as never, 'm0')).not.toThrow();
      expect(() => handler.handleToolStart(hostile as never, hostile as never, 't0')).not.toThrow();
      expect(() => handler.handleToolEnd(hostile, 't0')).not.toThrow();
    });
    expect(error).toBeUndefined();
    // The agent the hostile outputs belonged to is closed all the same.
    expect(events.filter((e) => e.eventType === 'agent.terminate')).toHaveLength(events.filter((e) => e.eventType === 'agent.invocation.started').length);
    expect(handler.openRuns).toBe(0);
  });
});
