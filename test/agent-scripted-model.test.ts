import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Agent, ScriptedModel, argumentsFromSchema, defineTool, type ModelRequest } from '../src/agent/index.js';

const weather = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city.',
  input: z.object({ city: z.string(), days: z.number().int().min(1).max(7).optional() }),
  execute: ({ city }) => `sunny in ${city}`,
});

const calculator = defineTool({
  name: 'calculator',
  description: 'Arithmetic on two numbers: add, subtract, multiply or divide.',
  input: z.object({ a: z.number(), b: z.number(), op: z.enum(['add', 'subtract', 'multiply', 'divide']) }),
  execute: ({ a, b, op }) => (op === 'add' ? a + b : op === 'subtract' ? a - b : op === 'multiply' ? a * b : a / b),
});

function request(prompt: string, tools = [weather, calculator]): ModelRequest {
  return {
    messages: [{ role: 'user', content: prompt }],
    tools: tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
  };
}

describe('ScriptedModel without a script', () => {
  it('first calls the tool that matches the prompt, with arguments built from its schema', async () => {
    const response = await new ScriptedModel().generate(request('Please add two and two'));
    expect(response.content).toBe('');
    expect(response.stopReason).toBe('tool_calls');
    expect(response.toolCalls).toEqual([{ id: 'call_1_1', name: 'calculator', arguments: { a: 2, b: 2, op: 'add' } }]);
    const weatherCall = await new ScriptedModel().generate(request('What is the weather in Oslo?'));
    expect(weatherCall.toolCalls).toEqual([{ id: 'call_1_1', name: 'get_weather', arguments: { city: 'What is the weather in Oslo?' } }]);
  });

  it('answers from the tool result on the next turn, and answers at once without tools', async () => {
    const agent = new Agent({ model: new ScriptedModel(), tools: [calculator] });
    const result = await agent.run('add two and two');
    expect(result.iterations).toBe(2);
    expect(result.output).toBe('Here is what I found: calculator says 4.');

    const plain = await new Agent({ model: new ScriptedModel() }).run('Hi there');
    expect(plain.iterations).toBe(1);
    expect(plain.toolCalls).toEqual([]);
    expect(plain.output).toBe('You asked: "Hi there". This is a scripted reply from ScriptedModel (offline and deterministic).');
  });

  it('reports the same token usage for the same conversation, about one token per four characters', async () => {
    const a = await new ScriptedModel().generate(request('Hi', []));
    const b = await new ScriptedModel().generate(request('Hi', []));
    expect(a.usage).toEqual(b.usage);
    expect(a.usage?.outputTokens).toBe(Math.ceil(a.content.length / 4));
    expect(a.usage?.inputTokens).toBe(Math.ceil(('[]'.length + 'Hi'.length) / 4));
  });
});

describe('ScriptedModel with a script', () => {
  it('replays the steps in order, functions of the request included', async () => {
    const model = new ScriptedModel([
      { content: 'first', stopReason: 'length', usage: { inputTokens: 1, outputTokens: 2 } },
      (req, call) => ({ content: `call ${call} saw ${req.messages.length} message(s)` }),
    ]);
    expect(await model.generate(request('x'))).toEqual({
      content: 'first',
      toolCalls: [],
      stopReason: 'length',
      usage: { inputTokens: 1, outputTokens: 2 },
      reasoning: undefined,
    });
    expect((await model.generate(request('x'))).content).toBe('call 2 saw 1 message(s)');
    await expect(model.generate(request('x'))).rejects.toThrow(
      'ScriptedModel: the script ran out: call 3 but the script has only 2 step(s); add a step for this call',
    );
  });

  it('fails a step with its error, and honours abort during a delay', async () => {
    const failing = new ScriptedModel([{ error: new RangeError('quota') }]);
    await expect(failing.generate(request('x'))).rejects.toThrow(RangeError);

    const slow = new ScriptedModel([{ delayMs: 60_000, content: 'late' }]);
    const controller = new AbortController();
    const pending = slow.generate({ ...request('x'), signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects a script that is not an array', () => {
    expect(() => new ScriptedModel({} as never)).toThrow('ScriptedModel: script must be an array of steps, got object');
  });
});

describe('argumentsFromSchema', () => {
  it('satisfies strings, numbers within bounds, booleans, enums, arrays, nested objects and nullable fields', () => {
    const schema = z.object({
      q: z.string().max(5),
      n: z.number().int().min(10).max(20),
      small: z.number().max(1),
      flag: z.boolean(),
      mode: z.enum(['fast', 'slow']),
      kind: z.literal('x'),
      tags: z.array(z.string()).min(2),
      nested: z.object({ deep: z.number() }),
      maybe: z.string().nullable(),
      optional: z.string().optional(),
    });
    const json = z.toJSONSchema(schema) as Record<string, unknown>;
    const args = argumentsFromSchema(json, 'hello world');
    expect(args).toEqual({
      q: 'hello',
      n: 10,
      small: 1,
      flag: true,
      mode: 'fast',
      kind: 'x',
      tags: ['hello world', 'hello world'],
      nested: { deep: 2 },
      maybe: 'hello world',
    });
    expect(schema.safeParse(args).success).toBe(true);
  });
});

describe('ScriptedModel checks each scripted reply where it is given', () => {
  it('refuses token counts that are not non-negative integers, naming the step and the count', () => {
    expect(() => new ScriptedModel([{ content: 'x', usage: { inputTokens: -5, outputTokens: 1 } }])).toThrow(
      new RangeError('ScriptedModel: script[0].usage.inputTokens must be a non-negative integer, got -5'),
    );
    expect(() => new ScriptedModel([{}, { usage: { inputTokens: 1, outputTokens: NaN } }])).toThrow(
      new RangeError('ScriptedModel: script[1].usage.outputTokens must be a non-negative integer, got NaN'),
    );
    expect(() => new ScriptedModel([{ usage: { inputTokens: 1, outputTokens: 2, reasoningOutputTokens: 1.5 } }])).toThrow(
      'ScriptedModel: script[0].usage.reasoningOutputTokens must be a non-negative integer or undefined, got 1.5',
    );
    expect(() => new ScriptedModel([{ usage: { inputTokens: '5', outputTokens: 2 } as never }])).toThrow(
      new TypeError('ScriptedModel: script[0].usage.inputTokens must be a non-negative integer, got "5"'),
    );
    expect(() => new ScriptedModel([{ usage: 7 as never }])).toThrow(
      'ScriptedModel: script[0].usage must be an object of token counts ({ inputTokens, outputTokens }) or undefined, got 7',
    );
  });

  it('refuses a bad count that a step function returns, when the call is made', async () => {
    const model = new ScriptedModel([() => ({ content: 'x', usage: { inputTokens: 3, outputTokens: -1 } })]);
    await expect(model.generate(request('hi'))).rejects.toThrow(
      new RangeError('ScriptedModel: script[0]().usage.outputTokens must be a non-negative integer, got -1'),
    );
    await expect(new ScriptedModel([() => null as never]).generate(request('hi'))).rejects.toThrow(
      'ScriptedModel: script[0]() must be a ScriptedResponse object, got null',
    );
  });

  it('refuses steps, tool calls and text fields of the wrong type', () => {
    expect(() => new ScriptedModel([5 as never])).toThrow('ScriptedModel: script[0] must be a ScriptedResponse object or a function, got 5');
    expect(() => new ScriptedModel('x' as never)).toThrow('ScriptedModel: script must be an array of steps, got "x"');
    expect(() => new ScriptedModel([{ content: 5 as never }])).toThrow('ScriptedModel: script[0].content must be a string or undefined, got 5');
    expect(() => new ScriptedModel([{ toolCalls: {} as never }])).toThrow('ScriptedModel: script[0].toolCalls must be an array of tool calls or undefined, got object');
    expect(() => new ScriptedModel([{ toolCalls: [{ name: 5 as never, arguments: {} }] }])).toThrow(
      'ScriptedModel: script[0].toolCalls[0].name must be a string, got 5',
    );
    expect(() => new ScriptedModel([{ toolCalls: [{ id: 9 as never, name: 't', arguments: {} }] }])).toThrow(
      'ScriptedModel: script[0].toolCalls[0].id must be a string or undefined, got 9',
    );
    expect(() => new ScriptedModel([{ delayMs: -1 }])).toThrow(
      new RangeError('ScriptedModel: script[0].delayMs must be a finite number of milliseconds >= 0 or undefined, got -1'),
    );
  });

  it('refuses a name or provider that is not a string, which every model event carries', () => {
    expect(() => new ScriptedModel(undefined, { name: 42 as never })).toThrow(new TypeError('ScriptedModel: options.name must be a string or undefined, got 42'));
    expect(() => new ScriptedModel(undefined, { provider: null as never })).toThrow('ScriptedModel: options.provider must be a string or undefined, got null');
    expect(() => new ScriptedModel(undefined, null as never)).toThrow('ScriptedModel: options must be a ScriptedModelOptions object');
  });

  it('still accepts every valid reply, zero counts included', async () => {
    const model = new ScriptedModel([
      { content: 'a', usage: { inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, reasoningOutputTokens: 0 }, delayMs: 0 },
      { toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' }, argumentsError: 'bad json' }], stopReason: 'tool_calls', reasoning: 'r' },
    ]);
    expect((await model.generate(request('hi'))).usage).toEqual({ inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, reasoningOutputTokens: 0 });
    expect((await model.generate(request('hi'))).toolCalls).toEqual([{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' }, argumentsError: 'bad json' }]);
  });
});

describe('ScriptedModel token estimate', () => {
  it('estimates usage for scripted arguments that JSON cannot write, instead of failing the call', async () => {
    const response = await new ScriptedModel([{ toolCalls: [{ name: 'get_weather', arguments: { big: 10n } }] }]).generate(request('hi'));
    expect(response.usage?.outputTokens).toBe(0);
    expect(response.toolCalls[0]?.arguments).toEqual({ big: 10n });
  });
});
