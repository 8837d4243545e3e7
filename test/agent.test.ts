import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Agent, OpenAICompatibleModel, ScriptedModel, defineTool, type ModelRequest, type ToolResultMessage } from '../src/agent/index.js';
import { getEventBus, peekEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit } from '../src/emit.js';
import { data, expectStepsClosedOnce, only, runEvents, types } from './agent-events.js';

let runSeq = 0;
function nextRunId(): string {
  return `agent-test-${++runSeq}`;
}

function toolResults(request: ModelRequest): ToolResultMessage[] {
  return request.messages.filter((m): m is ToolResultMessage => m.role === 'tool');
}

const lookup = defineTool({
  name: 'lookup',
  description: 'Looks a word up.',
  input: z.object({ word: z.string() }),
  async execute({ word }) {
    // Slower than `broken`, so the two calls overlap and finish in a known order.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { word, meaning: `the meaning of ${word}` };
  },
});

const broken = defineTool({
  name: 'broken',
  description: 'Always fails.',
  input: z.object({}),
  async execute() {
    throw new Error('disk on fire');
  },
});

const calc = defineTool({
  name: 'calc',
  description: 'Adds two numbers.',
  input: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

beforeEach(() => {
  resetEventBus();
});

afterEach(() => {
  resetEventBus();
});

describe('Agent events', () => {
  it('emits the canonical sequence for a run with two parallel tool calls, one of them failing', async () => {
    let secondRequest: ModelRequest | undefined;
    const model = new ScriptedModel([
      {
        reasoning: 'I need the word and the broken tool.',
        toolCalls: [
          { id: 'c1', name: 'lookup', arguments: { word: 'bus' } },
          { id: 'c2', name: 'broken', arguments: {} },
        ],
      },
      (request) => {
        secondRequest = request;
        return { content: 'A bus carries events.' };
      },
    ]);
    const agent = new Agent({ model, tools: [lookup, broken], name: 'researcher', id: 'r-1' });
    const runId = nextRunId();
    const result = await runContext(() => agent.run('What is a bus?'), { runId });

    const events = runEvents(runId);
    expect(types(events)).toEqual([
      'run.started',
      'agent.invocation.started',
      'agent.model.started',
      'agent.tokens.used',
      'agent.model.completed',
      'agent.think',
      'agent.tool.started',
      'agent.tool.started',
      'agent.tool.completed',
      'agent.tool.completed',
      'agent.model.started',
      'agent.tokens.used',
      'agent.model.completed',
      'agent.think',
      'agent.terminate',
      'run.completed',
    ]);
    expectStepsClosedOnce(events);

    const invocation = only(events, 'agent.invocation.started');
    expect(invocation.parentSpanId).toBeUndefined();
    expect(data(invocation)).toEqual({ agentName: 'researcher', agentId: 'r-1', model: 'scripted', provider: 'scripted' });
    const agentSpan = invocation.spanId;
    for (const event of events.slice(2, -2)) expect(event.parentSpanId, event.eventType).toBe(agentSpan);

    const [model1, tokens1, completed1, think1] = events.slice(2, 6);
    expect(tokens1?.spanId).toBe(model1?.spanId);
    expect(completed1?.spanId).toBe(model1?.spanId);
    expect(think1?.spanId).toBeUndefined();
    expect(data(model1)).toEqual({ model: 'scripted', provider: 'scripted', messageCount: 1, toolCount: 2 });
    expect(data(completed1)).toMatchObject({ stopReason: 'tool_calls', toolCallCount: 2 });
    expect(data(think1)).toEqual({
      iteration: 1,
      reasoningPreview: 'I need the word and the broken tool.',
      hasToolCalls: true,
      toolCallCount: 2,
    });

    const [startA, startB, endBroken, endLookup] = events.slice(6, 10);
    expect(data(startA)).toMatchObject({ toolName: 'lookup', toolCallId: 'c1', argKeys: ['word'] });
    expect(data(startB)).toMatchObject({ toolName: 'broken', toolCallId: 'c2', argKeys: [] });
    expect(endBroken?.spanId).toBe(startB?.spanId);
    expect(data(endBroken)).toMatchObject({ toolName: 'broken', success: false, error: 'Error: disk on fire' });
    expect(endLookup?.spanId).toBe(startA?.spanId);
    expect(data(endLookup)).toMatchObject({ toolName: 'lookup', success: true, outputPreview: '{"word":"bus","meaning":"the meaning of bus"}' });

    const terminate = only(events, 'agent.terminate');
    expect(terminate.spanId).toBe(agentSpan);
    expect(data(terminate)).toEqual({
      reason: 'completed',
      iterationsUsed: 2,
      totalToolCalls: 2,
      finalMessagePreview: 'A bus carries events.',
    });
    expect(data(only(events, 'run.completed'))).toMatchObject({ status: 'ok' });

    // The model saw both results, the failure as an error it can read.
    expect(toolResults(secondRequest as ModelRequest)).toEqual([
      { role: 'tool', toolCallId: 'c1', name: 'lookup', content: '{"word":"bus","meaning":"the meaning of bus"}', isError: false },
      { role: 'tool', toolCallId: 'c2', name: 'broken', content: 'Error: disk on fire', isError: true },
    ]);
    expect(result).toMatchObject({ output: 'A bus carries events.', reason: 'completed', iterations: 2 });
    expect(result.toolCalls.map((c) => [c.name, c.isError])).toEqual([['lookup', false], ['broken', true]]);
  });

  it('sums token usage over the model calls into the result and reports each call in agent.tokens.used', async () => {
    const model = new ScriptedModel([
      { toolCalls: [{ name: 'calc', arguments: { a: 1, b: 2 } }], usage: { inputTokens: 10, outputTokens: 3, cacheReadInputTokens: 4 } },
      { content: '3', usage: { inputTokens: 20, outputTokens: 1, reasoningOutputTokens: 7 } },
    ]);
    const runId = nextRunId();
    const result = await runContext(() => new Agent({ model, tools: [calc] }).run('1+2?'), { runId });
    expect(result.usage).toEqual({ inputTokens: 30, outputTokens: 4, totalTokens: 34, cacheReadInputTokens: 4, reasoningOutputTokens: 7 });
    const tokens = runEvents(runId).filter((e) => e.eventType === 'agent.tokens.used').map(data);
    expect(tokens).toEqual([
      { model: 'scripted', provider: 'scripted', inputTokens: 10, outputTokens: 3, totalTokens: 13, cacheReadInputTokens: 4 },
      { model: 'scripted', provider: 'scripted', inputTokens: 20, outputTokens: 1, totalTokens: 21, reasoningOutputTokens: 7 },
    ]);
  });

  it('gives events emitted inside a tool the tool span as parent, and a nested agent the tool span as parent', async () => {
    const inner = new Agent({ name: 'inner', model: new ScriptedModel([{ content: 'inner answer' }]) });
    const delegate = defineTool({
      name: 'delegate',
      description: 'Asks another agent.',
      input: z.object({ question: z.string() }),
      async execute({ question }) {
        emit('test.tool.progress', { step: 1 });
        return (await inner.run(question)).output;
      },
    });
    const outer = new Agent({
      name: 'outer',
      tools: [delegate],
      model: new ScriptedModel([{ toolCalls: [{ name: 'delegate', arguments: { question: 'q' } }] }, { content: 'done' }]),
    });
    const runId = nextRunId();
    await runContext(() => outer.run('go'), { runId });
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    const toolSpan = only(events, 'agent.tool.started').spanId;
    expect(only(events, 'test.tool.progress').parentSpanId).toBe(toolSpan);
    const invocations = events.filter((e) => e.eventType === 'agent.invocation.started');
    expect(invocations.map((e) => data(e).agentName)).toEqual(['outer', 'inner']);
    expect(invocations[1]?.parentSpanId).toBe(toolSpan);
    expect(data(only(events, 'agent.tool.completed'))).toMatchObject({ success: true, outputPreview: 'inner answer' });
  });
});

describe('Agent tool errors', () => {
  it('turns arguments that fail the tool schema into a tool error naming each field, which the model sees', async () => {
    let seen: ToolResultMessage[] = [];
    const model = new ScriptedModel([
      { toolCalls: [{ id: 'bad', name: 'calc', arguments: { a: 'two' } }] },
      (request) => {
        seen = toolResults(request);
        return { content: 'sorry' };
      },
    ]);
    const runId = nextRunId();
    const result = await runContext(() => new Agent({ model, tools: [calc] }).run('add'), { runId });
    expect(result.reason).toBe('completed');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.isError).toBe(true);
    expect(seen[0]?.content).toBe(
      'Error: invalid arguments for tool "calc": a: Invalid input: expected number, received string; b: Invalid input: expected number, received undefined',
    );
    const completed = only(runEvents(runId), 'agent.tool.completed');
    expect(data(completed)).toMatchObject({ toolName: 'calc', toolCallId: 'bad', success: false });
    expect(String(data(completed).error)).toContain('ToolArgumentsError: invalid arguments for tool "calc": a:');
  });

  it('answers a call to an unknown tool, or with unparseable arguments, with an error result instead of failing', async () => {
    let seen: ToolResultMessage[] = [];
    const model = new ScriptedModel([
      {
        toolCalls: [
          { name: 'nope', arguments: {} },
          { name: 'calc', arguments: '{"a": 1,', argumentsError: 'arguments are not valid JSON' },
        ],
      },
      (request) => {
        seen = toolResults(request);
        return { content: 'ok' };
      },
    ]);
    const result = await new Agent({ model, tools: [calc] }).run('x');
    expect(result.reason).toBe('completed');
    expect(seen.map((m) => [m.isError, m.content])).toEqual([
      [true, 'Error: unknown tool "nope"; available tools: calc'],
      [true, 'Error: invalid arguments for tool "calc": arguments are not valid JSON'],
    ]);
  });
});

describe('Agent termination', () => {
  it('stops at maxIterations with reason max_iterations', async () => {
    const model = new ScriptedModel(Array.from({ length: 5 }, () => ({ content: 'thinking', toolCalls: [{ name: 'calc', arguments: { a: 1, b: 1 } }] })));
    const runId = nextRunId();
    const result = await runContext(() => new Agent({ model, tools: [calc], maxIterations: 3 }).run('loop'), { runId });
    expect(result).toMatchObject({ reason: 'max_iterations', iterations: 3, output: 'thinking' });
    expect(result.toolCalls).toHaveLength(3);
    expect(model.calls).toBe(3);
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    expect(events.filter((e) => e.eventType === 'agent.model.started')).toHaveLength(3);
    expect(data(only(events, 'agent.terminate'))).toEqual({
      reason: 'max_iterations',
      iterationsUsed: 3,
      totalToolCalls: 3,
      finalMessagePreview: 'thinking',
    });
  });

  it('emits terminate with reason error and then rejects with the model error', async () => {
    const model = new ScriptedModel([
      { toolCalls: [{ name: 'calc', arguments: { a: 1, b: 1 } }] },
      { error: 'rate limited' },
    ]);
    const runId = nextRunId();
    await expect(runContext(() => new Agent({ model, tools: [calc] }).run('x'), { runId })).rejects.toThrow('rate limited');
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    expect(types(events).slice(-4)).toEqual(['agent.model.started', 'agent.model.completed', 'agent.terminate', 'run.completed']);
    expect(data(events.at(-3))).toMatchObject({ stopReason: 'error', error: 'Error: rate limited' });
    // The class of the error the run rejects with, for the agent span's error.type.
    expect(data(events.at(-2))).toMatchObject({ reason: 'error', iterationsUsed: 2, totalToolCalls: 1, errorType: 'Error' });
    expect(data(events.at(-1))).toMatchObject({ status: 'error', error: 'Error: rate limited' });
  });

  it('terminates a run its signal timed out with the timeout\'s own class', async () => {
    const model = new ScriptedModel([{ delayMs: 10_000, content: 'too late' }]);
    const runId = nextRunId();
    const running = runContext(() => new Agent({ model }).run('x', { signal: AbortSignal.timeout(5) }), { runId });
    await expect(running).rejects.toMatchObject({ name: 'TimeoutError' });
    const events = runEvents(runId);
    expect(data(only(events, 'agent.model.completed'))).toMatchObject({ errorType: 'TimeoutError' });
    expect(data(only(events, 'agent.terminate'))).toMatchObject({ reason: 'aborted', errorType: 'TimeoutError' });
    expect(data(only(events, 'run.completed'))).toMatchObject({ status: 'aborted', errorType: 'TimeoutError' });
  });

  it('puts the tool\'s description, the model\'s request info and what its response says into the events', async () => {
    const answers = new ScriptedModel([
      { toolCalls: [{ id: 't1', name: 'calc', arguments: { a: 1, b: 2 } }], responseModel: 'm-2025', responseId: 'resp-1' },
      { content: '3' },
    ]);
    // A hand-written model: what it says of its requests goes on every model call; a field of the wrong type does not.
    const model = {
      name: 'm',
      provider: 'acme',
      requestInfo: { serverAddress: 'llm.acme.test', serverPort: 8443, temperature: 0, maxTokens: 'lots', topP: Number.NaN, stream: true },
      generate: (request: ModelRequest) => answers.generate(request),
    } as unknown as ConstructorParameters<typeof Agent>[0]['model'];
    const runId = nextRunId();
    await runContext(() => new Agent({ model, tools: [calc] }).run('add'), { runId });
    const events = runEvents(runId);
    const started = events.filter((e) => e.eventType === 'agent.model.started').map(data);
    expect(started).toHaveLength(2);
    for (const s of started) {
      expect(s).toEqual({
        model: 'm', provider: 'acme', messageCount: s.messageCount, toolCount: 1,
        serverAddress: 'llm.acme.test', serverPort: 8443, temperature: 0, maxTokens: undefined, topP: undefined, stream: true,
      });
    }
    const completed = events.filter((e) => e.eventType === 'agent.model.completed').map(data);
    expect(completed.map((c) => [c.responseModel, c.responseId])).toEqual([['m-2025', 'resp-1'], [undefined, undefined]]);
    expect(data(only(events, 'agent.tool.started'))).toMatchObject({ toolName: 'calc', description: 'Adds two numbers.' });
    // A model without request info: none of those fields.
    const plainRun = nextRunId();
    await runContext(() => new Agent({ model: new ScriptedModel([{ content: 'hi' }]) }).run('x'), { runId: plainRun });
    const plain = data(only(runEvents(plainRun), 'agent.model.started'));
    for (const key of ['serverAddress', 'serverPort', 'temperature', 'maxTokens', 'topP', 'stream']) expect(plain[key], key).toBeUndefined();
    expect(data(only(runEvents(plainRun), 'agent.terminate')).errorType).toBeUndefined();
  });

  it('says clearly when the script runs out', async () => {
    const agent = new Agent({ model: new ScriptedModel([{ toolCalls: [{ name: 'calc', arguments: { a: 1, b: 1 } }] }]), tools: [calc] });
    await expect(agent.run('x')).rejects.toThrow('ScriptedModel: the script ran out: call 2 but the script has only 1 step(s)');
  });

  it('on abort during a tool call closes the tool step, terminates with aborted and rejects with an AbortError', async () => {
    const controller = new AbortController();
    let toolStarted!: () => void;
    const started = new Promise<void>((resolve) => (toolStarted = resolve));
    const waiter = defineTool({
      name: 'wait_for_abort',
      description: 'Waits until aborted.',
      input: z.object({}),
      execute: (_args, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          toolStarted();
        }),
    });
    const model = new ScriptedModel([
      { toolCalls: [{ name: 'wait_for_abort', arguments: {} }, { name: 'calc', arguments: { a: 2, b: 2 } }] },
      { content: 'never reached' },
    ]);
    const runId = nextRunId();
    const running = runContext(() => new Agent({ model, tools: [waiter, calc] }).run('x', { signal: controller.signal }), { runId });
    await started;
    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(model.calls).toBe(1);

    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    const completed = events.filter((e) => e.eventType === 'agent.tool.completed').map(data);
    expect(completed.map((d) => [d.toolName, d.success])).toEqual([['calc', true], ['wait_for_abort', false]]);
    expect(String(completed[1]?.error)).toContain('AbortError');
    expect(types(events).slice(-2)).toEqual(['agent.terminate', 'run.completed']);
    // One name for the abort: the tool it cut short, the agent and the run.
    expect(completed[1]).toMatchObject({ errorType: 'AbortError' });
    expect(data(events.at(-2))).toMatchObject({ reason: 'aborted', iterationsUsed: 1, totalToolCalls: 1, errorType: 'AbortError' });
    expect(data(events.at(-1))).toMatchObject({ status: 'aborted', errorType: 'AbortError' });
  });

  it('on abort during a model call terminates with aborted, and with a signal aborted up front calls no model', async () => {
    const controller = new AbortController();
    const model = new ScriptedModel([{ delayMs: 10_000, content: 'too late' }]);
    const runId = nextRunId();
    const running = runContext(() => new Agent({ model }).run('x', { signal: controller.signal }), { runId });
    setTimeout(() => controller.abort(), 5);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    expect(types(events)).toEqual([
      'run.started',
      'agent.invocation.started',
      'agent.model.started',
      'agent.model.completed',
      'agent.terminate',
      'run.completed',
    ]);
    expect(data(events[3])).toMatchObject({ stopReason: 'error' });
    expect(data(events[4])).toMatchObject({ reason: 'aborted', iterationsUsed: 1 });
    expect(data(events[5])).toMatchObject({ status: 'aborted' });

    const untouched = new ScriptedModel([{ content: 'unused' }]);
    const runId2 = nextRunId();
    const already = AbortSignal.abort('user left');
    const error = await runContext(() => new Agent({ model: untouched }).run('x', { signal: already }), { runId: runId2 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError', message: 'agent "agent" was aborted: user left' });
    expect(untouched.calls).toBe(0);
    const events2 = runEvents(runId2);
    expect(types(events2)).toEqual(['run.started', 'agent.invocation.started', 'agent.terminate', 'run.completed']);
    expect(data(events2[2])).toMatchObject({ reason: 'aborted', iterationsUsed: 0 });
  });
});

describe('Agent without a run', () => {
  it('emits nothing and never builds the bus when no run is open, on success and on failure', async () => {
    expect(peekEventBus()).toBeUndefined();
    const ok = await new Agent({ model: new ScriptedModel(), tools: [lookup, broken] }).run('lookup the word bus');
    expect(ok.reason).toBe('completed');
    expect(ok.toolCalls).toHaveLength(1);
    await expect(new Agent({ model: new ScriptedModel([{ error: 'boom' }]) }).run('x')).rejects.toThrow('boom');
    expect(peekEventBus()).toBeUndefined();
  });

  it('records into the bus once a run is open (the same agent instance)', async () => {
    const agent = new Agent({ model: new ScriptedModel() });
    await agent.run('hello');
    expect(peekEventBus()).toBeUndefined();
    const runId = nextRunId();
    await runContext(() => agent.run('hello'), { runId });
    expect(getEventBus().history(runId).length).toBe(8);
  });
});

describe('Agent options', () => {
  it('rejects unusable options with a message naming the field', () => {
    const model = new ScriptedModel();
    expect(() => new Agent({ model, maxIterations: 0 })).toThrow('Agent: maxIterations must be a positive integer, got 0');
    expect(() => new Agent({ model: {} as never })).toThrow('Agent: model must be a Model');
    expect(() => new Agent({ model, tools: [calc, calc] })).toThrow('Agent: tools[1] repeats the tool name "calc"');
    expect(() => new Agent({ model, name: '' })).toThrow('Agent: name must be a non-empty string');
  });

  it('sends the instructions as a system message and the tools as JSON Schema', async () => {
    let request: ModelRequest | undefined;
    const model = new ScriptedModel([
      (r) => {
        request = r;
        return { content: 'hi' };
      },
    ]);
    await new Agent({ model, tools: [calc], instructions: 'Be brief.' }).run('hello');
    expect(request?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
    ]);
    expect(request?.tools).toEqual([
      {
        name: 'calc',
        description: 'Adds two numbers.',
        parameters: {
          type: 'object',
          properties: { a: { type: 'number' }, b: { type: 'number' } },
          required: ['a', 'b'],
          additionalProperties: false,
        },
      },
    ]);
  });

  it('rejects a model response of the wrong shape with a precise error', async () => {
    const model = { name: 'm', provider: 'p', generate: async () => ({ content: 1, toolCalls: [], stopReason: 'stop' }) };
    await expect(new Agent({ model: model as never }).run('x')).rejects.toThrow(
      'model p/m returned a bad response: expected content to be a string, got number',
    );
  });
});

describe('Agent and a broken exporter', () => {
  it('runs to completion while a bus listener throws on every event, and the errors are counted', async () => {
    const bus = getEventBus();
    const remove = bus.addListener({
      onEvent: () => {
        throw new Error('exporter exploded');
      },
      wrapStep: () => { throw new Error('wrapper exploded'); },
    });
    const agent = new Agent({ model: new ScriptedModel(), tools: [calc] });
    const runId = nextRunId();
    const result = await runContext(() => agent.run('add 1 and 2'), { runId });
    remove();
    expect(result.reason).toBe('completed');
    expect(result.toolCalls).toHaveLength(1);
    const published = bus.history(runId).length;
    expect(published).toBeGreaterThan(8);
    // One listener error per event, plus one per wrapped step (agent, two model calls, one tool).
    expect(bus.stats().listenerErrors).toBe(published + 4);
  });
});

describe('Agent with hostile values', () => {
  const throwingProxy = () =>
    new Proxy({}, {
      get() {
        throw new Error('get trap');
      },
      getPrototypeOf() {
        throw new Error('prototype trap');
      },
    });

  it('shows the model a tool failure whose thrown value has no text (a null-prototype object), and completes the run', async () => {
    const weird = defineTool({
      name: 'weird',
      description: 'Throws a bare object.',
      input: z.object({}),
      execute: () => {
        throw Object.assign(Object.create(null), { code: 'E_WEIRD' });
      },
    });
    const model = new ScriptedModel([{ toolCalls: [{ name: 'weird', arguments: {} }] }, { content: 'recovered' }]);
    const runId = nextRunId();
    const result = await runContext(() => new Agent({ model, tools: [weird] }).run('go'), { runId });
    expect(result.reason).toBe('completed');
    expect(result.output).toBe('recovered');
    expect(result.toolCalls.map((c) => [c.result, c.isError])).toEqual([['Error: [unprintable object]', true]]);
    const events = runEvents(runId);
    expect(data(only(events, 'agent.terminate')).reason).toBe('completed');
    expectStepsClosedOnce(events);
  });

  it('shows the model a tool failure whose thrown value throws from every trap', async () => {
    const evil = defineTool({ name: 'evil', description: 'Throws a Proxy.', input: z.object({}), execute: () => { throw throwingProxy(); } });
    const model = new ScriptedModel([{ toolCalls: [{ name: 'evil', arguments: {} }] }, { content: 'done' }]);
    const runId = nextRunId();
    const result = await runContext(() => new Agent({ model, tools: [evil] }).run('go'), { runId });
    expect(result.reason).toBe('completed');
    expect(result.toolCalls[0]).toMatchObject({ result: 'Error: [unprintable object]', isError: true });
    expectStepsClosedOnce(runEvents(runId));
  });

  it('shows the model a tool output that can be written neither as JSON nor as text', async () => {
    const cyclic = Object.create(null) as Record<string, unknown>;
    cyclic.self = cyclic;
    const odd = defineTool({ name: 'odd', description: 'Returns a cycle.', input: z.object({}), execute: () => cyclic });
    const model = new ScriptedModel([{ toolCalls: [{ name: 'odd', arguments: {} }] }, { content: 'done' }]);
    const result = await new Agent({ model, tools: [odd] }).run('go');
    expect(result.toolCalls[0]).toMatchObject({ result: '[unprintable object]', isError: false });
  });

  it('emits agent.terminate and rejects with an AbortError when the abort reason throws from every trap', async () => {
    const controller = new AbortController();
    controller.abort(throwingProxy());
    const runId = nextRunId();
    const run = runContext(() => new Agent({ model: new ScriptedModel() }).run('hi', { signal: controller.signal }), { runId });
    await expect(run).rejects.toMatchObject({ name: 'AbortError', message: 'agent "agent" was aborted: [unprintable object]' });
    const events = runEvents(runId);
    expect(data(only(events, 'agent.terminate'))).toMatchObject({ reason: 'aborted', errorType: 'AbortError' });
    expect(data(only(events, 'run.completed')).status).toBe('aborted');
    expectStepsClosedOnce(events);
  });

  it('emits agent.terminate when the run is aborted mid-call with a hostile reason', async () => {
    const controller = new AbortController();
    const model = new ScriptedModel([{ content: 'slow', delayMs: 5_000 }]);
    const runId = nextRunId();
    const run = runContext(() => new Agent({ model }).run('hi', { signal: controller.signal }), { runId });
    setTimeout(() => controller.abort(throwingProxy()), 10);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    const events = runEvents(runId);
    expect(data(only(events, 'agent.terminate')).reason).toBe('aborted');
    expectStepsClosedOnce(events);
  });
});

describe('Agent options that flow into events', () => {
  it('refuses options that are not an object, and tools that are not an array', () => {
    const model = new ScriptedModel();
    expect(() => new Agent(null as never)).toThrow('Agent: options must be an AgentOptions object ({ model, tools, ... }), got null');
    expect(() => new Agent({ model, tools: {} as never })).toThrow(
      'Agent: tools must be an array of tools (built with defineTool()) or undefined, got object',
    );
    expect(() => new Agent({ model, tools: 'x' as never })).toThrow('Agent: tools must be an array of tools (built with defineTool()) or undefined, got "x"');
  });

  it('refuses an id that is not a string, which agent.invocation.started would carry', () => {
    const model = new ScriptedModel();
    expect(() => new Agent({ model, id: 7 as never })).toThrow(new TypeError('Agent: id must be a string or undefined, got 7'));
    expect(() => new Agent({ model, id: null as never })).toThrow('Agent: id must be a string or undefined, got null');
    expect(new Agent({ model, id: 'agent-7' }).id).toBe('agent-7');
  });

  it('refuses a model whose name or provider is not a string, which every model event carries', () => {
    const generate = async () => ({ content: '', toolCalls: [], stopReason: 'stop' });
    expect(() => new Agent({ model: { name: 42, provider: 'p', generate } as never })).toThrow('Agent: model.name must be a string, got 42');
    expect(() => new Agent({ model: { name: 'm', generate } as never })).toThrow('Agent: model.provider must be a string, got undefined');
  });

  it('describes a bad name or maxIterations without throwing while describing it', () => {
    const model = new ScriptedModel();
    expect(() => new Agent({ model, name: 10n as never })).toThrow('Agent: name must be a non-empty string, got bigint');
    expect(() => new Agent({ model, maxIterations: Object.create(null) })).toThrow('Agent: maxIterations must be a positive integer, got object');
    expect(() => new Agent({ model, maxIterations: NaN })).toThrow(new RangeError('Agent: maxIterations must be a positive integer, got NaN'));
  });

  it('rejects run options that are not an object, and a signal that is not an AbortSignal, before any event', async () => {
    const agent = new Agent({ model: new ScriptedModel() });
    const runId = nextRunId();
    await expect(runContext(() => agent.run('hi', { signal: 'x' as never }), { runId })).rejects.toThrow(
      new TypeError('Agent.run: options.signal must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got "x"'),
    );
    expect(types(runEvents(runId))).toEqual(['run.started', 'run.completed']);
    await expect(agent.run('hi', null as never)).rejects.toThrow('Agent.run: options must be an AgentRunOptions object ({ signal }) or undefined, got null');
    await expect(agent.run('hi', { signal: {} as never })).rejects.toThrow('Agent.run: options.signal must be an AbortSignal');
    await expect(agent.run('hi', { signal: AbortSignal.timeout(60_000) })).resolves.toMatchObject({ reason: 'completed' });
  });

  it('fails the model call, not the catalogue, when a model reports token counts that are not non-negative integers', async () => {
    const model = { name: 'm', provider: 'p', generate: async () => ({ content: 'x', toolCalls: [], stopReason: 'stop', usage: { inputTokens: -5, outputTokens: 1 } }) };
    const runId = nextRunId();
    await expect(runContext(() => new Agent({ model }).run('x'), { runId })).rejects.toThrow(
      'model p/m returned a bad response: expected usage.inputTokens to be a non-negative integer, got -5',
    );
    const events = runEvents(runId);
    expect(types(events)).not.toContain('agent.tokens.used');
    expect(data(only(events, 'agent.terminate')).reason).toBe('error');
  });

  it('fails the model call when a tool call has no string id, which the tool events carry', async () => {
    const model = { name: 'm', provider: 'p', generate: async () => ({ content: '', toolCalls: [{ id: 5, name: 'calc', arguments: {} }], stopReason: 'tool_calls' }) };
    const runId = nextRunId();
    await expect(runContext(() => new Agent({ model: model as never, tools: [calc] }).run('x'), { runId })).rejects.toThrow(
      'model p/m returned a bad response: expected toolCalls[0].id to be a string, got 5',
    );
    expect(types(runEvents(runId))).not.toContain('agent.tool.started');
  });

  it('publishes only events that pass the catalogue for valid options (an id, scripted usage)', async () => {
    const model = new ScriptedModel([{ content: 'x', usage: { inputTokens: 5, outputTokens: 0, cacheReadInputTokens: 2 } }], { name: 'm1', provider: 'p1' });
    const runId = nextRunId();
    await runContext(() => new Agent({ model, id: 'agent-1' }).run('hi'), { runId, name: 'checked' });
    const events = runEvents(runId);
    expect(data(only(events, 'agent.invocation.started'))).toMatchObject({ agentId: 'agent-1', model: 'm1', provider: 'p1' });
    expect(data(only(events, 'agent.tokens.used'))).toMatchObject({ inputTokens: 5, outputTokens: 0, totalTokens: 5 });
  });
});

describe('OpenAICompatibleModel options that flow into events', () => {
  it('refuses a model or provider that is not a string, and options that are not an object', () => {
    expect(() => new OpenAICompatibleModel({ model: 42 as never })).toThrow(new TypeError('OpenAICompatibleModel: model must be a string, got 42'));
    expect(() => new OpenAICompatibleModel({ model: 'gpt', provider: 7 as never })).toThrow('OpenAICompatibleModel: provider must be a string or undefined, got 7');
    expect(() => new OpenAICompatibleModel(null as never)).toThrow('OpenAICompatibleModel: options must be an OpenAICompatibleModelOptions object');
    expect(() => new OpenAICompatibleModel({ model: 'gpt', temperature: 1n as never })).toThrow(
      new TypeError('OpenAICompatibleModel: temperature must be a finite number or undefined, got bigint'),
    );
  });

  it('says what a caller-supplied fetch threw, even a value without text', async () => {
    const model = new OpenAICompatibleModel({ model: 'gpt', apiKey: 'k', fetch: (async () => { throw Object.create(null); }) as never });
    await expect(model.generate({ messages: [{ role: 'user', content: 'x' }], tools: [] })).rejects.toThrow(
      'OpenAICompatibleModel: POST https://api.openai.com/v1/chat/completions failed: [unprintable object]',
    );
  });
});
