// The framework adapters end to end: a real agent of each framework, inside an
// agentbus run, through the OpenTelemetry bridge and setupOtlp into the real
// collector and Jaeger, where it must show invoke_agent > chat / execute_tool
// with the GenAI semantic-convention attributes.
import { randomBytes } from 'node:crypto';
import * as agents from '@openai/agents';
import { Agent, run, setTraceProcessors, setTracingDisabled, tool as agentsTool, Usage, withGenerationSpan, type Model, type ModelRequest, type ModelResponse } from '@openai/agents';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { tool as lcTool } from '@langchain/core/tools';
import { createAgent } from 'langchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentbusTelemetry } from '../../src/adapters/ai-sdk/index.js';
import { AgentbusCallbackHandler } from '../../src/adapters/langchain/index.js';
import { AgentbusTraceProcessor, instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
import { runContext } from '../../src/context.js';
import { instrumentOtel, type OtelBridge } from '../../src/otel/bridge.js';
import { setupOtlp, type OtlpSetup } from '../../src/otel/setup.js';
import { queryJaegerTraces, spanTag, startBackends, type Backends, type JaegerSpan } from './backends.js';

let be: Backends;
let otel: OtlpSetup;
let bridge: OtelBridge;
const service = `adapters-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  be = await startBackends();
  otel = await setupOtlp({ endpoint: be.otlpHttpEndpoint, serviceName: service, exportIntervalMillis: 500, exportTimeoutMillis: 3_000 });
  bridge = instrumentOtel();
});
afterAll(async () => {
  bridge?.shutdown();
  await otel?.shutdown();
  await be?.stop();
});

const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

/** Runs `body` in a run, exports it, and checks the span tree Jaeger stores for it. */
async function expectAgentTree(runId: string, body: () => Promise<unknown>, agentName: string, model: string): Promise<void> {
  await runContext(body, { runId }).catch(() => undefined);
  await otel.forceFlush();
  const runSpans = (spans: JaegerSpan[]) => spans.filter((s) => spanTag(s, 'agentbus.run.id') === runId);
  const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
    until: (t) => runSpans(t.flatMap((tr) => tr.spans)).filter((s) => s.operationName.startsWith('execute_tool')).length >= 2
      && runSpans(t.flatMap((tr) => tr.spans)).some((s) => s.operationName.startsWith('invoke_agent')),
  });
  const spans = runSpans(traces.flatMap((t) => t.spans));
  const agent = spans.find((s) => s.operationName === `invoke_agent ${agentName}`)!;
  expect(agent, `invoke_agent ${agentName} in ${spans.map((s) => s.operationName).join(', ')}`).toBeDefined();
  expect(spanTag(agent, 'gen_ai.operation.name')).toBe('invoke_agent');
  expect(spanTag(agent, 'gen_ai.agent.name')).toBe(agentName);
  const chats = spans.filter((s) => s.operationName === `chat ${model}`);
  expect(chats).toHaveLength(2);
  for (const chat of chats) {
    expect(parentOf(chat)).toBe(agent.spanID);
    expect(spanTag(chat, 'gen_ai.operation.name')).toBe('chat');
    expect(spanTag(chat, 'gen_ai.request.model')).toBe(model);
    expect(Number(spanTag(chat, 'gen_ai.usage.input_tokens'))).toBeGreaterThan(0);
  }
  const tools = spans.filter((s) => s.operationName.startsWith('execute_tool'));
  expect(tools.map((s) => s.operationName).sort()).toEqual(['execute_tool add', 'execute_tool lookup']);
  for (const t of tools) {
    expect(parentOf(t)).toBe(agent.spanID);
    expect(spanTag(t, 'gen_ai.operation.name')).toBe('execute_tool');
    expect(spanTag(t, 'gen_ai.tool.name')).toBe(t.operationName.slice('execute_tool '.length));
  }
  const failed = tools.find((s) => s.operationName === 'execute_tool lookup')!;
  expect(spanTag(failed, 'error.type')).toBeDefined();
}

const nodeMajor = Number(process.versions.node.split('.')[0]);

describe.skipIf(nodeMajor < 22)('Vercel AI SDK v7 through the bridge', () => {
  it('shows invoke_agent > chat / execute_tool in Jaeger', async () => {
    const ai = await import('ai-v7');
    const { MockLanguageModelV4 } = await import('ai-v7/test');
    const usage = { inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 7, text: 7, reasoning: undefined } };
    const model = new MockLanguageModelV4({
      doGenerate: [
        {
          content: [
            { type: 'tool-call', toolCallId: 'c1', toolName: 'add', input: '{"a":2,"b":3}' },
            { type: 'tool-call', toolCallId: 'c2', toolName: 'lookup', input: '{"city":"Oslo"}' },
          ],
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage, warnings: [],
        },
        { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
      ],
    });
    const tools = {
      add: ai.tool({ inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => a + b }),
      lookup: ai.tool({ inputSchema: z.object({ city: z.string() }), execute: async (): Promise<string> => { throw new Error('lookup down'); } }),
    };
    await expectAgentTree(`ai-sdk-${randomBytes(4).toString('hex')}`, () => ai.generateText({
      model, tools, prompt: 'go', stopWhen: ai.stepCountIs(5),
      telemetry: { functionId: 'ai-agent', integrations: [new AgentbusTelemetry()] },
    }), 'ai-agent', 'mock-model-id');
  });
});

describe('OpenAI Agents SDK through the bridge', () => {
  it('shows invoke_agent > chat / execute_tool in Jaeger', async () => {
    setTracingDisabled(false);
    setTraceProcessors([new AgentbusTraceProcessor()]);
    const turns: ModelResponse['output'][] = [
      [
        { type: 'function_call', callId: 'c1', name: 'add', arguments: '{"a":2,"b":3}', status: 'completed' },
        { type: 'function_call', callId: 'c2', name: 'lookup', arguments: '{"city":"Oslo"}', status: 'completed' },
      ],
      [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'done' }] }],
    ];
    const model: Model = {
      getResponse: (request: ModelRequest) => withGenerationSpan(async (span) => {
        const output = turns.shift()!;
        span.spanData.output = output as never;
        span.spanData.usage = { input_tokens: 10, output_tokens: 4 };
        return { usage: new Usage({ requests: 1, inputTokens: 10, outputTokens: 4, totalTokens: 14 }), output };
      }, { data: { model: 'scripted-model', input: Array.isArray(request.input) ? request.input : [] } }),
      getStreamedResponse: () => { throw new Error('not scripted'); },
    };
    const agent = new Agent({
      name: 'agents-agent',
      model,
      tools: [
        agentsTool({ name: 'add', description: 'add', parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) }),
        agentsTool({ name: 'lookup', description: 'lookup', parameters: z.object({ city: z.string() }), execute: async (): Promise<string> => { throw new Error('lookup down'); } }),
      ],
    });
    try {
      await expectAgentTree(`openai-agents-${randomBytes(4).toString('hex')}`, () => run(agent, 'go'), 'agents-agent', 'scripted-model');
    } finally {
      setTraceProcessors([]);
    }
  });
});

describe('OpenAI Agents SDK with a model that traces nothing, through the bridge', () => {
  it('shows invoke_agent > chat / execute_tool in Jaeger', async () => {
    setTracingDisabled(false);
    const agentbus = instrumentOpenAIAgents(agents, { exportToOpenAI: false });
    const turns: ModelResponse['output'][] = [
      [
        { type: 'function_call', callId: 'c1', name: 'add', arguments: '{"a":2,"b":3}', status: 'completed' },
        { type: 'function_call', callId: 'c2', name: 'lookup', arguments: '{"city":"Oslo"}', status: 'completed' },
      ],
      [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'done' }] }],
    ];
    // No generation span: most Model implementations trace nothing themselves.
    const model: Model = {
      getResponse: async () => ({ usage: new Usage({ requests: 1, inputTokens: 10, outputTokens: 4, totalTokens: 14 }), output: turns.shift()! }),
      getStreamedResponse: () => { throw new Error('not scripted'); },
    };
    const agent = new Agent({
      name: 'plain-agent',
      model: agentbus.instrumentModel(model, { model: 'plain-model' }),
      tools: [
        agentsTool({ name: 'add', description: 'add', parameters: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) }),
        agentsTool({ name: 'lookup', description: 'lookup', parameters: z.object({ city: z.string() }), execute: async (): Promise<string> => { throw new Error('lookup down'); } }),
      ],
    });
    try {
      await expectAgentTree(`openai-agents-plain-${randomBytes(4).toString('hex')}`, () => run(agent, 'go'), 'plain-agent', 'plain-model');
    } finally {
      setTraceProcessors([]);
    }
  });
});

describe('LangChain through the bridge', () => {
  it('shows invoke_agent > chat / execute_tool in Jaeger', async () => {
    const usage = { input_tokens: 11, output_tokens: 6, total_tokens: 17 };
    const turns = [
      new AIMessage({ content: '', usage_metadata: usage, tool_calls: [
        { id: 'c1', name: 'add', args: { a: 2, b: 3 }, type: 'tool_call' },
        { id: 'c2', name: 'lookup', args: { city: 'Oslo' }, type: 'tool_call' },
      ] }),
      new AIMessage({ content: 'done', usage_metadata: usage }),
    ];
    class Scripted extends BaseChatModel {
      _llmType(): string { return 'scripted'; }
      override getLsParams(options: this['ParsedCallOptions']) {
        return { ...super.getLsParams(options), ls_provider: 'scripted', ls_model_name: 'scripted-model' };
      }
      override bindTools(): this { return this; }
      async _generate(): Promise<ChatResult> {
        const message = turns.shift()!;
        return { generations: [{ message, text: typeof message.content === 'string' ? message.content : '' }] };
      }
    }
    const agent = createAgent({
      model: new Scripted({}),
      name: 'lc-agent',
      tools: [
        lcTool(async ({ a, b }: { a: number; b: number }) => String(a + b), { name: 'add', description: 'add', schema: z.object({ a: z.number(), b: z.number() }) }),
        lcTool(async (): Promise<string> => { throw new Error('lookup down'); }, { name: 'lookup', description: 'lookup', schema: z.object({ city: z.string() }) }),
      ],
    });
    await expectAgentTree(`langchain-${randomBytes(4).toString('hex')}`, () => agent.invoke(
      { messages: [{ role: 'user', content: 'go' }] },
      { callbacks: [new AgentbusCallbackHandler()] },
    ), 'lc-agent', 'scripted-model');
  });
});
