// Conformance of what the bridge writes to the OpenTelemetry registry: every
// span name's operation, attribute key, span event name and metric name the
// bridge produces over the scenarios below (the reference agent with the
// OpenAI-compatible model against a local server, MCP client and server, the
// three adapters against their real SDKs) must be a name of
// `@opentelemetry/semantic-conventions` (stable or incubating), a name of the
// short explicit list of development names below, a name of the shorter list
// of proposed names (a pull request of the conventions, not merged), or our
// own `agentbus.*`.
// A key outside all three fails the test, naming the span or metric it is on.
// Every scenario runs in both shapes of the bridge: the released names, and
// the latest (development) ones of `semconv: 'latest'`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as stable from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CAPTURE_CONTENT_ENV, emit, recordEvaluation, resetEventBus, runContext, traceFanout, traceTool } from '../src/index.js';
import { resetContentEnv } from '../src/content.js';
import { Agent, OpenAICompatibleModel, ScriptedModel, defineTool } from '../src/agent/index.js';
import { instrumentMcpClient, instrumentMcpServer } from '../src/mcp/index.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/index.js';
import { makeTelemetry, type Telemetry } from './otel-harness.js';

/** Every attribute, metric and event name of the released conventions (stable and incubating entries). */
const RELEASED = new Set(
  Object.entries({ ...stable, ...incubating })
    .filter(([key, value]) => /^(ATTR|METRIC|EVENT)_/.test(key) && typeof value === 'string')
    .map(([, value]) => value as string),
);

/**
 * Names of the GenAI conventions in development (`open-telemetry/semantic-conventions-genai`)
 * that no released `@opentelemetry/semantic-conventions` has yet. Each is
 * checked below to be absent from the released set, so the list shrinks
 * as releases catch up.
 */
const DEVELOPMENT = new Set<string>([
  // The latest shape (`semconv: 'latest'`, OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental):
  // gen-ai-token-metrics.md, client-inference.md and gen-ai-metrics.md of the development repository.
  'gen_ai.client.inference.usage.input_tokens',
  'gen_ai.client.inference.usage.output_tokens',
  'gen_ai.client.inference.usage.cache_read.input_tokens',
  'gen_ai.client.inference.usage.cache_write.input_tokens',
  'gen_ai.client.inference.usage.reasoning.output_tokens',
  'gen_ai.client.inference.operation.input_tokens',
  'gen_ai.client.inference.operation.output_tokens',
  'gen_ai.client.inference.duration',
  'gen_ai.invocation.duration',
  'gen_ai.execute_tool.duration',
  'gen_ai.token.modality',
  'gen_ai.invocation.is_nested',
  'gen_ai.usage.cache_write.input_tokens',
]);

/**
 * Names only proposed, in a pull request of `open-telemetry/semantic-conventions-genai`
 * that has not merged: the README marks them **proposed**. Each is checked
 * below to be in neither list above.
 */
const PROPOSED = new Set<string>([
  // #443, "Add per-operation cost conventions (gen_ai.usage.cost.*)": on chat spans, and the cost counter.
  'gen_ai.usage.cost.amount',
  'gen_ai.usage.cost.currency',
  'gen_ai.usage.cost.source',
  'gen_ai.client.operation.cost',
]);

/** `gen_ai.operation.name` values of the conventions, and the MCP methods that name MCP spans. */
const OPERATIONS = new Set(
  Object.entries(incubating)
    .filter(([key, value]) => key.startsWith('GEN_AI_OPERATION_NAME_VALUE_') && typeof value === 'string')
    .map(([, value]) => value as string),
);
const MCP_METHODS = new Set(['tools/call', 'resources/read', 'prompts/get']);

const known = (name: string) => RELEASED.has(name) || DEVELOPMENT.has(name) || PROPOSED.has(name) || name.startsWith('agentbus.');

/** What does not conform, one line per problem; empty when everything does. */
function problems(spans: readonly ReadableSpan[], metrics: readonly MetricData[]): string[] {
  const found = new Set<string>();
  for (const span of spans) {
    const operation = span.name.split(' ')[0] as string;
    // A span that only carries an event of the conventions (an evaluation of a step that already ended) is named for it.
    const carrier = span.name === operation && RELEASED.has(operation) && span.events.some((e) => e.name === operation);
    if (!OPERATIONS.has(operation) && !MCP_METHODS.has(operation) && !carrier) found.add(`span "${span.name}": its name does not start with an operation of the conventions`);
    const named = span.attributes['gen_ai.operation.name'];
    if (named !== undefined && !OPERATIONS.has(String(named))) found.add(`span "${span.name}": gen_ai.operation.name ${String(named)} is not a value of the conventions`);
    for (const key of Object.keys(span.attributes)) if (!known(key)) found.add(`span "${span.name}": attribute ${key}`);
    for (const event of span.events) {
      if (!known(event.name)) found.add(`span "${span.name}": event ${event.name}`);
      for (const key of Object.keys(event.attributes ?? {})) if (!known(key)) found.add(`span "${span.name}", event ${event.name}: attribute ${key}`);
    }
  }
  for (const metric of metrics) {
    const name = metric.descriptor.name;
    if (!known(name)) found.add(`metric ${name}`);
    for (const point of metric.dataPoints as Array<{ attributes: Record<string, unknown> }>) {
      for (const key of Object.keys(point.attributes)) if (!known(key)) found.add(`metric ${name}: attribute ${key}`);
    }
  }
  return [...found].sort();
}

/** A Chat Completions server on 127.0.0.1 answering from a script: a tool call turn, then text. */
async function chatServer(replies: unknown[]): Promise<{ baseURL: string; server: Server }> {
  const server = createServer(async (req, res) => {
    for await (const _ of req) void _;
    const reply = replies.shift();
    if (reply === undefined) {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"script exhausted"}}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server };
}

const completion = (message: object, finish: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-test-2026',
  choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
  usage: { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } },
});

let tel: Telemetry;
let bridge: OtelBridge | undefined;
const servers: Server[] = [];

/** The shape of the conventions the bridge of the running scenario writes. */
let shape: 'released' | 'latest';

async function conforms(): Promise<void> {
  const metrics = await tel.collect();
  // Not vacuous: the scenario made spans and measurements, in the shape it asked for.
  expect(tel.spans().length).toBeGreaterThan(0);
  expect(metrics.length).toBeGreaterThan(0);
  const tokenMetric = shape === 'latest' ? 'gen_ai.client.inference.usage.input_tokens' : 'gen_ai.client.token.usage';
  if (tel.spans().some((s) => s.attributes['gen_ai.usage.input_tokens'] !== undefined)) expect(metrics.map((m) => m.descriptor.name)).toContain(tokenMetric);
  expect(problems(tel.spans(), metrics)).toEqual([]);
}

// Every run of every scenario captures content (the variable, read once), and hands it to a hook,
// so that the content attributes and the hook's reference are checked too.
beforeAll(() => {
  process.env[CAPTURE_CONTENT_ENV] = 'true';
  resetContentEnv();
});
afterAll(() => {
  delete process.env[CAPTURE_CONTENT_ENV];
  resetContentEnv();
});

beforeEach(() => {
  resetEventBus();
  tel = makeTelemetry();
});
afterEach(() => bridge?.shutdown());
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe.each(['released', 'latest'] as const)('what the bridge writes is in the conventions (%s shape)', (semconv) => {
  beforeEach(() => {
    shape = semconv;
    // Content capture on: the content attributes are checked too.
    bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, captureContent: true, semconv });
  });

  it('the development list holds only names no release has, the proposed list only names in neither', () => {
    for (const name of DEVELOPMENT) expect(RELEASED.has(name), name).toBe(false);
    for (const name of PROPOSED) expect(RELEASED.has(name) || DEVELOPMENT.has(name), name).toBe(false);
    expect(RELEASED.has('gen_ai.operation.name')).toBe(true);
    expect(OPERATIONS.has('chat')).toBe(true);
  });

  it('catches a name outside the registry, on a span, a span event and a metric', () => {
    const span = { name: 'chat m', attributes: { 'gen_ai.request.model': 'm', 'gen_ai.made_up': 1 }, events: [{ name: 'gen_ai.odd', attributes: { 'agentbus.ok': 1 } }] };
    const metric = { descriptor: { name: 'gen_ai.client.made_up' }, dataPoints: [{ attributes: { 'gen_ai.provider.name': 'x', 'made.up': 1 } }] };
    expect(problems([span as never, { name: 'frobnicate x', attributes: {}, events: [] } as never], [metric as never])).toEqual([
      'metric gen_ai.client.made_up',
      'metric gen_ai.client.made_up: attribute made.up',
      'span "chat m": attribute gen_ai.made_up',
      'span "chat m": event gen_ai.odd',
      'span "frobnicate x": its name does not start with an operation of the conventions',
    ]);
  });

  it('the reference agent with the OpenAI-compatible model: tools (one failing), a fan-out, point events, a failed and an aborted run', async () => {
    const { baseURL, server } = await chatServer([
      completion({ content: null, tool_calls: [
        { id: 'call-add', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":3}' } },
        { id: 'call-fail', type: 'function', function: { name: 'fails', arguments: '{}' } },
      ] }, 'tool_calls'),
      completion({ content: 'Five.' }, 'stop'),
    ]);
    servers.push(server);
    const add = defineTool({ name: 'add', description: 'Adds two numbers.', input: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => a + b });
    const fails = defineTool({ name: 'fails', description: 'Always fails.', input: z.object({}), execute: async () => {
      throw new TypeError('no such thing');
    } });
    const agent = new Agent({ name: 'calculator', model: new OpenAICompatibleModel({ baseURL, model: 'gpt-test', apiKey: 'k' }), tools: [add, fails] });
    await runContext(async () => {
      await agent.run('Add 2 and 3.');
      // Evaluations: one of a step still open, one of a step that ended.
      const judged = await traceTool({ name: 'judged', args: {} }, (step) => {
        recordEvaluation({ name: 'relevance', score: 0.9, label: 'relevant', explanation: 'on topic' });
        return step;
      });
      recordEvaluation({ name: 'correctness', score: 0, label: 'wrong', explanation: 'off by one', responseId: 'r-1' }, judged);
      emit('agent.handoff', { fromAgent: 'calculator', toAgent: 'checker' });
      emit('memory.checkpoint.saved', { threadId: 't', iteration: 1, backend: 'memory' });
      emit('memory.checkpoint.loaded', { threadId: 't', iteration: 1, backend: 'memory' });
      await traceFanout({ mergeStrategy: 'all' }, [
        () => new Agent({ name: 'a', model: new ScriptedModel([{ content: 'one' }]) }).run('x'),
        () => new Agent({ name: 'b', model: new ScriptedModel([{ reasoning: 'hm', content: 'two' }]) }).run('y'),
      ]);
    }, { name: 'conformance', prices: { 'gpt-test': { currency: 'USD', inputPerMillion: 2.5, outputPerMillion: 10, cacheReadPerMillion: 1.25, reasoningPerMillion: 12 } }, contentHook: (content) => `mem://${content.spanId}` });
    // A run with a tool outside any agent, and one that fails.
    await runContext(() => traceTool({ name: 'standalone', args: { q: 1 } }, () => 'ok'), { name: 'tool only' });
    await runContext(() => traceTool({ name: 'broken' }, () => {
      throw new RangeError('out of range');
    }), { name: 'fails' }).catch(() => undefined);
    // An aborted agent run (the model server answers 500 to anything more: the script is exhausted).
    const controller = new AbortController();
    const slow = defineTool({ name: 'slow', description: 'Waits.', input: z.object({}), execute: (_args, { signal }) => new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason));
    }) });
    const aborting = new Agent({ name: 'aborting', model: new ScriptedModel([{ toolCalls: [{ name: 'slow', arguments: {} }] }]), tools: [slow] });
    setTimeout(() => controller.abort(), 50);
    await runContext(() => aborting.run('wait', { signal: controller.signal }), { name: 'aborted' }).catch(() => undefined);
    const failing = new Agent({ name: 'failing', model: new OpenAICompatibleModel({ baseURL, model: 'gpt-test', apiKey: 'k' }) });
    await runContext(() => failing.run('hello'), { name: 'model fails' }).catch(() => undefined);
    await conforms();
    // The scenario covered what it says.
    const names = tel.spans().map((s) => s.name);
    for (const name of ['invoke_agent calculator', 'chat gpt-test', 'execute_tool add', 'execute_tool fails', 'execute_tool standalone', 'execute_tool slow', 'gen_ai.evaluation.result']) expect(names).toContain(name);
    // The priced run's calls carried their cost, so the proposed names were checked too.
    expect(tel.spans().find((s) => s.name === 'chat gpt-test')?.attributes['gen_ai.usage.cost.amount']).toBeTypeOf('number');
    expect((await tel.collect()).map((m) => m.descriptor.name)).toContain('gen_ai.client.operation.cost');
    expect(tel.spans().flatMap((span) => span.events.map((e) => e.name))).toContain('gen_ai.evaluation.result');
    // Content was captured, so its names were checked.
    const keys = new Set(tel.spans().flatMap((span) => Object.keys(span.attributes)));
    for (const key of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.tool.definitions', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result', 'agentbus.content.ref']) expect(keys).toContain(key);
  });

  it('MCP client and server, with a tool call, a resource read and a failure', async () => {
    const server = instrumentMcpServer(new McpServer({ name: 'weather', version: '1.0.0' }));
    server.registerTool('forecast', { description: 'A forecast.', inputSchema: { city: z.string() } }, async ({ city }) => ({ content: [{ type: 'text', text: `Sunny in ${city}` }] }));
    server.registerResource('readme', 'file:///readme.txt', { description: 'A text.' }, (uri) => ({ contents: [{ uri: uri.href, text: 'hi' }] }));
    const client = instrumentMcpClient(new Client({ name: 'agent', version: '1.0.0' }));
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
    await runContext(async () => {
      await client.callTool({ name: 'forecast', arguments: { city: 'Paris' } });
      await client.readResource({ uri: 'file:///readme.txt' });
      await client.readResource({ uri: 'file:///missing.txt' }).catch(() => undefined);
    });
    await client.close();
    await conforms();
    expect(tel.spans().map((s) => s.name)).toContain('tools/call forecast');
  });

  describe.skipIf(Number(process.versions.node.split('.')[0]) < 22)('the AI SDK adapter (ai v7 needs Node >= 22)', () => {
    let ai: typeof import('ai-v7');
    let aiTest: typeof import('ai-v7/test');
    beforeAll(async () => {
      ai = await import('ai-v7');
      aiTest = await import('ai-v7/test');
      const { AgentbusTelemetry } = await import('../src/adapters/ai-sdk/index.js');
      ai.registerTelemetry(new AgentbusTelemetry());
    });
    afterAll(() => {
      globalThis.AI_SDK_TELEMETRY_INTEGRATIONS = undefined;
    });

    it('a generateText tool loop with a failing tool', async () => {
      const usage = (input: number, output: number) => ({
        inputTokens: { total: input, noCache: input - 2, cacheRead: 2, cacheWrite: undefined },
        outputTokens: { total: output, text: output, reasoning: undefined },
      });
      const model = new aiTest.MockLanguageModelV4({ doGenerate: [
        { content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'add', input: '{"a":2,"b":3}' }, { type: 'tool-call', toolCallId: 'c2', toolName: 'fails', input: '{}' }], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(12, 7), warnings: [] },
        { content: [{ type: 'text', text: 'Five.' }], finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(30, 9), warnings: [] },
      ] });
      await runContext(() => ai.generateText({
        model,
        tools: {
          add: ai.tool({ description: 'Adds.', inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => a + b }),
          fails: ai.tool({ inputSchema: z.object({}), execute: async (): Promise<string> => {
            throw new Error('unavailable');
          } }),
        },
        prompt: 'Add 2 and 3.',
        stopWhen: ai.stepCountIs(5),
        telemetry: { functionId: 'adder' },
      }));
      await conforms();
      expect(tel.spans().map((s) => s.name)).toContain('execute_tool add');
    });
  });

  it('the OpenAI Agents adapter: an agent calling two tools, one failing', async () => {
    const agents = await import('@openai/agents');
    const { AgentbusTraceProcessor } = await import('../src/adapters/openai-agents/index.js');
    agents.setTracingDisabled(false);
    agents.setTraceProcessors([new AgentbusTraceProcessor()]);
    try {
      const turns = [
        [{ type: 'function_call', callId: 'c1', name: 'add', arguments: '{"a":2,"b":3}', status: 'completed' }, { type: 'function_call', callId: 'c2', name: 'fails', arguments: '{}', status: 'completed' }],
        [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Five.' }] }],
      ];
      const model = {
        async getResponse() {
          const usage = new agents.Usage({ requests: 1, inputTokens: 20, outputTokens: 5, totalTokens: 25, inputTokensDetails: { cached_tokens: 8 }, outputTokensDetails: { reasoning_tokens: 2 } });
          return { usage, output: turns.shift() as never, responseId: 'resp-1' };
        },
        async *getStreamedResponse(): AsyncIterable<never> {
          throw new Error('not scripted');
        },
      };
      const agent = new agents.Agent({
        name: 'Calculator',
        instructions: 'Use the tools.',
        model,
        modelSettings: { parallelToolCalls: false },
        tools: [
          agents.tool({ name: 'add', description: 'Adds.', parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) }),
          agents.tool({ name: 'fails', description: 'Fails.', parameters: z.object({}), execute: async (): Promise<string> => {
            throw new Error('unavailable');
          } }),
        ],
      });
      await runContext(() => agents.run(agent, 'Add 2 and 3.'));
    } finally {
      agents.setTraceProcessors([]);
    }
    await conforms();
    expect(tel.spans().map((s) => s.name)).toContain('execute_tool add');
  });

  it('the LangChain adapter: a createAgent loop calling two tools, one failing', async () => {
    const { AIMessage } = await import('@langchain/core/messages');
    const { FakeListChatModel } = await import('@langchain/core/utils/testing');
    const { tool } = await import('@langchain/core/tools');
    const { createAgent } = await import('langchain');
    const { AgentbusCallbackHandler } = await import('../src/adapters/langchain/index.js');
    const usage = { input_tokens: 11, output_tokens: 6, total_tokens: 17 };
    const turns = [
      new AIMessage({ content: '', tool_calls: [{ id: 'c1', name: 'add', args: { a: 2, b: 3 }, type: 'tool_call' }, { id: 'c2', name: 'fails', args: {}, type: 'tool_call' }], usage_metadata: usage }),
      new AIMessage({ content: 'Five.', usage_metadata: usage }),
    ];
    class Scripted extends FakeListChatModel {
      override bindTools(): this {
        return this;
      }
      override async _generate() {
        const message = turns.shift() as InstanceType<typeof AIMessage>;
        return { generations: [{ message, text: String(message.content) }] };
      }
    }
    const agent = createAgent({
      model: new Scripted({ responses: [] }),
      tools: [
        tool(async ({ a, b }: { a: number; b: number }) => String(a + b), { name: 'add', description: 'Adds.', schema: z.object({ a: z.number(), b: z.number() }) }),
        tool(async (): Promise<string> => {
          throw new Error('unavailable');
        }, { name: 'fails', description: 'Fails.', schema: z.object({}) }),
      ],
      name: 'calculator',
    });
    await runContext(() => agent.invoke({ messages: [{ role: 'user', content: 'Add 2 and 3.' }] }, { callbacks: [new AgentbusCallbackHandler()] }));
    await conforms();
    expect(tel.spans().map((s) => s.name)).toContain('execute_tool add');
  });
});
