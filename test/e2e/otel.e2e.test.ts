// The OpenTelemetry bridge end to end: agent runs -> bridge -> setupOtlp
// (OTLP/HTTP) -> the real collector -> the real Jaeger (checked through its
// query API) and the collector's Prometheus exporter.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, OpenAICompatibleModel, ScriptedModel, defineTool } from '../../src/agent/index.js';
import { getEventBus } from '../../src/global.js';
import { runContext } from '../../src/context.js';
import { traceTool } from '../../src/emit.js';
import { recordEvaluation } from '../../src/evaluation.js';
import type { Step } from '../../src/step.js';
import type { EventData } from '../../src/events.js';
import { instrumentOtel, type OtelBridge } from '../../src/otel/bridge.js';
import { setupOtlp, type OtlpSetup } from '../../src/otel/setup.js';
import { VERSION } from '../../src/version.js';
import {
  pollPrometheus,
  queryJaegerTraces,
  spanTag,
  startBackends,
  type Backends,
  type JaegerSpan,
  type JaegerTrace,
} from './backends.js';
import { inputMessagesShape, jsonObjectShape, outputMessagesShape, systemInstructionsShape, textOf, toolDefinitionsShape } from '../genai-content-shapes.js';

let be: Backends;

beforeAll(async () => {
  be = await startBackends();
});
afterAll(async () => {
  await be?.stop();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/**
 * setupOtlp + the bridge for one describe block, under its own service name;
 * with `semconvOptIn`, the bridge is created under that
 * OTEL_SEMCONV_STABILITY_OPT_IN (which it reads once, then).
 */
function telemetry(service: string, semconvOptIn?: string) {
  const state: { otel?: OtlpSetup; bridge?: OtelBridge } = {};
  beforeAll(async () => {
    state.otel = await setupOtlp({ endpoint: be.otlpHttpEndpoint, serviceName: service, exportIntervalMillis: 500, exportTimeoutMillis: 3_000 });
    const saved = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    if (semconvOptIn !== undefined) process.env.OTEL_SEMCONV_STABILITY_OPT_IN = semconvOptIn;
    try {
      state.bridge = instrumentOtel();
    } finally {
      if (saved === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
      else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = saved;
    }
  });
  afterAll(async () => {
    state.bridge?.shutdown();
    await state.otel?.shutdown();
  });
  return {
    flush: () => state.otel!.forceFlush(),
  };
}

const weather = defineTool({
  name: 'get_weather',
  description: 'Weather for a city.',
  input: z.object({ city: z.string() }),
  async execute({ city }) {
    await new Promise((r) => setTimeout(r, 5));
    return `${city}: 14°C`;
  },
});

const divide = defineTool({
  name: 'divide',
  description: 'a / b',
  input: z.object({ a: z.number(), b: z.number() }),
  execute({ a, b }) {
    if (b === 0) throw new RangeError('cannot divide by zero');
    return a / b;
  },
});

const waitForAbort = defineTool({
  name: 'wait_for_abort',
  description: 'Waits until the run is aborted.',
  input: z.object({}),
  execute(_args, { signal }) {
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  },
});

function tripAgent(): Agent {
  return new Agent({
    name: 'trip-planner',
    id: 'agent-7',
    model: new ScriptedModel(
      [
        {
          reasoning: 'Look up both cities and compute the ratio.',
          toolCalls: [
            { id: 'call-paris', name: 'get_weather', arguments: { city: 'Paris' } },
            { id: 'call-oslo', name: 'get_weather', arguments: { city: 'Oslo' } },
            { id: 'call-div', name: 'divide', arguments: { a: 1, b: 0 } },
          ],
          usage: { inputTokens: 150, outputTokens: 25 },
        },
        { content: 'Paris is warmer.', usage: { inputTokens: 260, outputTokens: 12 } },
      ],
      { name: 'scripted-gpt', provider: 'openai' },
    ),
    tools: [weather, divide],
  });
}

const tagOf = spanTag;
const runSpans = (traces: JaegerTrace[], runId: string): JaegerSpan[] =>
  traces.flatMap((t) => t.spans).filter((s) => tagOf(s, 'agentbus.run.id') === runId);
const parentId = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

function expectInside(child: JaegerSpan, parent: JaegerSpan): void {
  // Jaeger keeps microseconds; allow one for rounding.
  expect(child.startTime).toBeGreaterThanOrEqual(parent.startTime - 1);
  expect(child.startTime + child.duration).toBeLessThanOrEqual(parent.startTime + parent.duration + 1);
}

function tokensOf(runId: string): { input: number; output: number } {
  let input = 0;
  let output = 0;
  for (const event of getEventBus().history(runId)) {
    if (event.eventType !== 'agent.tokens.used') continue;
    const data = event.data as EventData<'agent.tokens.used'>;
    input += data.inputTokens;
    output += data.outputTokens;
  }
  return { input, output };
}

describe('spans through the collector into Jaeger', () => {
  const service = unique('agentbus-e2e-traces');
  const { flush } = telemetry(service);

  it('a run is one trace: invoke_agent at the root, chat and execute_tool children with GenAI attributes', async () => {
    const runId = unique('run');
    const result = await runContext(() => tripAgent().run('Compare Paris and Oslo'), { runId });
    expect(result.output).toBe('Paris is warmer.');
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length === 6 });
    const spans = runSpans(traces, runId);
    expect(new Set(spans.map((s) => s.traceID)).size).toBe(1);
    const trace = traces.find((t) => t.traceID === spans[0]!.traceID)!;
    expect(trace.spans).toHaveLength(6);
    expect(trace.processes[spans[0]!.processID]!.serviceName).toBe(service);

    const agent = spans.find((s) => s.operationName === 'invoke_agent trip-planner')!;
    expect(agent.references).toEqual([]);
    expect(tagOf(agent, 'gen_ai.operation.name')).toBe('invoke_agent');
    expect(tagOf(agent, 'gen_ai.agent.name')).toBe('trip-planner');
    expect(tagOf(agent, 'gen_ai.agent.id')).toBe('agent-7');
    expect(tagOf(agent, 'gen_ai.provider.name')).toBe('openai');
    expect(tagOf(agent, 'gen_ai.usage.input_tokens')).toBe(410);
    expect(tagOf(agent, 'gen_ai.usage.output_tokens')).toBe(37);

    const chats = spans.filter((s) => s.operationName === 'chat scripted-gpt');
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      expect(parentId(chat)).toBe(agent.spanID);
      expect(tagOf(chat, 'span.kind')).toBe('client');
      expect(tagOf(chat, 'gen_ai.operation.name')).toBe('chat');
      expect(tagOf(chat, 'gen_ai.request.model')).toBe('scripted-gpt');
      expect(tagOf(chat, 'gen_ai.provider.name')).toBe('openai');
      expectInside(chat, agent);
    }
    expect(chats.map((c) => tagOf(c, 'gen_ai.usage.input_tokens')).sort()).toEqual([150, 260]);

    const weatherSpans = spans.filter((s) => s.operationName === 'execute_tool get_weather');
    expect(weatherSpans).toHaveLength(2);
    expect(weatherSpans[0]!.spanID).not.toBe(weatherSpans[1]!.spanID);
    expect(weatherSpans.map((s) => tagOf(s, 'gen_ai.tool.call.id')).sort()).toEqual(['call-oslo', 'call-paris']);
    for (const tool of weatherSpans) {
      expect(parentId(tool)).toBe(agent.spanID);
      expect(tagOf(tool, 'gen_ai.tool.name')).toBe('get_weather');
      expect(tagOf(tool, 'gen_ai.tool.type')).toBe('function');
      expect(tagOf(tool, 'otel.status_code')).toBeUndefined();
      expectInside(tool, agent);
    }

    const failed = spans.find((s) => s.operationName === 'execute_tool divide')!;
    expect(tagOf(failed, 'otel.status_code')).toBe('ERROR');
    expect(tagOf(failed, 'error.type')).toBe('RangeError');
    expect(tagOf(failed, 'otel.status_description')).toBe('RangeError: cannot divide by zero');
    expectInside(failed, agent);

    expect(agent.logs.length).toBe(2); // agent.think per iteration
  });

  it('a run started inside a caller span is part of the caller trace, invoke_agent under the caller span', async () => {
    const runId = unique('run');
    const tracer = trace.getTracer('e2e-caller');
    let callerSpanId = '';
    await tracer.startActiveSpan('POST /chat', async (span) => {
      callerSpanId = span.spanContext().spanId;
      await runContext(() => tripAgent().run('Compare'), { runId });
      span.end();
    });
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
      until: (t) => t.some((tr) => tr.spans.length === 7 && tr.spans.some((s) => tagOf(s, 'agentbus.run.id') === runId)),
    });
    const tr = traces.find((t) => t.spans.some((s) => tagOf(s, 'agentbus.run.id') === runId))!;
    const root = tr.spans.find((s) => s.operationName === 'POST /chat')!;
    expect(root.spanID).toBe(callerSpanId);
    expect(root.references).toEqual([]);
    const agent = tr.spans.find((s) => s.operationName === 'invoke_agent trip-planner')!;
    expect(parentId(agent)).toBe(callerSpanId);
  });

  it('a run of helpers is one trace under its own root, and SDK spans inside a tool never start before it', async () => {
    const runId = unique('run');
    const app = trace.getTracer('app');
    await runContext(async () => {
      for (let i = 0; i < 200; i++) {
        await traceTool({ name: `fetch${i}`, args: {} }, async () => {
          // What an instrumented HTTP client does inside a tool: a span of the SDK's own.
          app.startSpan(`GET /${i}`).end();
        });
      }
    }, { runId, name: 'crawl' });
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length === 201 });
    const ours = runSpans(traces, runId);
    const root = ours.find((s) => s.operationName === 'invoke_workflow crawl')!;
    expect(root).toBeDefined();
    expect(new Set(ours.map((s) => s.traceID))).toEqual(new Set([root.traceID]));
    const byId = new Map(traces.flatMap((t) => t.spans).map((s) => [s.spanID, s]));
    const children = traces.flatMap((t) => t.spans).filter((s) => s.operationName.startsWith('GET /') && s.traceID === root.traceID);
    expect(children).toHaveLength(200);
    // Jaeger keeps microseconds; the SDK stamps whole milliseconds: no tolerance needed.
    const early = children.filter((child) => child.startTime < byId.get(parentId(child)!)!.startTime);
    expect(early).toHaveLength(0);
  });

  it('an evaluation is a gen_ai.evaluation.result event of the span it judges: on it while open, on a span right under it once it ended', async () => {
    const runId = unique('run');
    await runContext(async () => {
      let lookup: Step | undefined;
      await traceTool({ name: 'lookup', args: { q: 'otel' } }, async (step) => {
        lookup = step;
        recordEvaluation({ name: 'result_count', score: 3, label: 'pass' });
        return 'three hits';
      });
      // Judged after it returned, from inside another step: still the lookup's.
      await traceTool({ name: 'judge', args: {} }, async () => {
        recordEvaluation({ name: 'relevance', score: 0.75, label: 'relevant', explanation: 'Close enough.', responseId: 'chatcmpl-e2e' }, lookup);
      });
    }, { runId, name: 'judged' });
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length === 4 });
    const spans = runSpans(traces, runId);
    expect(new Set(spans.map((s) => s.traceID)).size).toBe(1);
    const tool = spans.find((s) => s.operationName === 'execute_tool lookup')!;
    const judge = spans.find((s) => s.operationName === 'execute_tool judge')!;
    const carrier = spans.find((s) => s.operationName === 'gen_ai.evaluation.result')!;
    expect(parentId(carrier)).toBe(tool.spanID);
    expect(parentId(carrier)).not.toBe(judge.spanID);
    expect(carrier.duration).toBe(0);
    const fields = (log: JaegerSpan['logs'][number]) => Object.fromEntries(log.fields.map((f) => [f.key, f.value]));
    expect(tool.logs.map(fields)).toEqual([
      { event: 'gen_ai.evaluation.result', 'gen_ai.evaluation.name': 'result_count', 'gen_ai.evaluation.score.value': 3, 'gen_ai.evaluation.score.label': 'pass' },
    ]);
    expect(carrier.logs.map(fields)).toEqual([
      {
        event: 'gen_ai.evaluation.result',
        'gen_ai.evaluation.name': 'relevance',
        'gen_ai.evaluation.score.value': 0.75,
        'gen_ai.evaluation.score.label': 'relevant',
        'gen_ai.evaluation.explanation': 'Close enough.',
        'gen_ai.response.id': 'chatcmpl-e2e',
      },
    ]);
    expect(judge.logs).toEqual([]);
  });

  it('a run aborted mid-tool exports every span exactly once, the cut-off ones marked', async () => {
    const runId = unique('run');
    const controller = new AbortController();
    const agent = new Agent({
      name: 'waiter',
      model: new ScriptedModel([{ toolCalls: [{ id: 'call-w', name: 'wait_for_abort', arguments: {} }] }], { provider: 'openai' }),
      tools: [waitForAbort],
    });
    let release!: () => void;
    let late!: Promise<unknown>;
    const run = runContext(async () => {
      // A tool that ignores the abort and outlives the run: its span is ended as unfinished.
      late = traceTool({ name: 'ignores_abort', args: {} }, () => new Promise((r) => (release = () => r('late'))));
      return agent.run('wait', { signal: controller.signal });
    }, { runId });
    setTimeout(() => controller.abort(), 30);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    release();
    await late;
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length >= 5 });
    await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive in a later batch
    await flush();
    const spans = runSpans(await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length >= 5 }), runId);
    expect(traces.length).toBeGreaterThan(0);
    const names = spans.map((s) => s.operationName).sort();
    // The run's first top-level step is a helper, so the run is the root of its one trace.
    expect(names).toEqual(['chat scripted', 'execute_tool ignores_abort', 'execute_tool wait_for_abort', 'invoke_agent waiter', 'invoke_workflow']);
    expect(new Set(spans.map((s) => s.spanID)).size).toBe(5);
    expect(new Set(spans.map((s) => s.traceID)).size).toBe(1);
    const byName = (n: string) => spans.find((s) => s.operationName === n)!;
    expect(tagOf(byName('execute_tool ignores_abort'), 'error.type')).toBe('unfinished');
    expect(tagOf(byName('execute_tool wait_for_abort'), 'error.type')).toBe('AbortError');
    // One name for the abort on every span it ended.
    expect(tagOf(byName('invoke_agent waiter'), 'error.type')).toBe('AbortError');
    expect(tagOf(byName('invoke_workflow'), 'error.type')).toBe('AbortError');
    for (const span of spans) expect(span.duration).toBeGreaterThanOrEqual(0);
  });
});

describe('metrics through the collector into its Prometheus exporter', () => {
  const service = unique('agentbus-e2e-metrics');
  const { flush } = telemetry(service);

  it('shows gen_ai_client_token_usage buckets per token type summing to the reported tokens, and the duration histogram', async () => {
    let input = 0;
    let output = 0;
    for (let i = 0; i < 3; i++) {
      const runId = unique('run');
      await runContext(() => tripAgent().run('Compare'), { runId });
      const t = tokensOf(runId);
      input += t.input;
      output += t.output;
    }
    expect(input).toBe(3 * 410);
    await flush();
    const mine = (line: string) => line.includes(`job="${service}"`);
    const sumOf = (text: string, type: string) =>
      text
        .split('\n')
        .filter((l) => mine(l) && l.startsWith('gen_ai_client_token_usage_sum{') && l.includes(`gen_ai_token_type="${type}"`))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const text = await pollPrometheus(be.prometheusMetricsUrl, (t) => sumOf(t, 'input') === input && sumOf(t, 'output') === output);
    const lines = text.split('\n').filter(mine);
    const buckets = lines.filter((l) => l.startsWith('gen_ai_client_token_usage_bucket{'));
    expect(buckets.some((l) => l.includes('gen_ai_token_type="input"'))).toBe(true);
    expect(buckets.some((l) => l.includes('gen_ai_token_type="output"'))).toBe(true);
    // The convention's boundaries: powers of 4 from 1 to 67108864.
    expect(buckets.some((l) => l.includes('le="256"'))).toBe(true);
    expect(buckets.some((l) => l.includes('le="6.7108864e+07"'))).toBe(true);
    expect(buckets.filter((l) => l.includes('gen_ai_token_type="input"') && l.includes('le="+Inf"')).every((l) => l.includes('gen_ai_operation_name="chat"'))).toBe(true);

    const duration = lines.filter((l) => /^gen_ai_client_operation_duration(_seconds)?_bucket\{/.test(l));
    for (const op of ['chat', 'execute_tool', 'invoke_agent']) {
      expect(duration.some((l) => l.includes(`gen_ai_operation_name="${op}"`)), op).toBe(true);
    }
    expect(duration.some((l) => l.includes('le="0.01"'))).toBe(true);
    expect(duration.some((l) => l.includes('error_type="RangeError"'))).toBe(true);
  });
});

describe('cost (proposed gen_ai.usage.cost.*, gen_ai.client.operation.cost) through the collector into Jaeger and Prometheus', () => {
  const service = unique('agentbus-e2e-cost');
  const state: { otel?: OtlpSetup; bridge?: OtelBridge } = {};
  beforeAll(async () => {
    state.otel = await setupOtlp({ endpoint: be.otlpHttpEndpoint, serviceName: service, exportIntervalMillis: 500, exportTimeoutMillis: 3_000 });
    // The bridge's own table prices what the events do not carry a cost for.
    state.bridge = instrumentOtel({ prices: { 'bridge-priced': { currency: 'EUR', inputPerMillion: 4, outputPerMillion: 8 } } });
  });
  afterAll(async () => {
    state.bridge?.shutdown();
    await state.otel?.shutdown();
  });

  const model = (name: string) =>
    new ScriptedModel(
      [
        { toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Paris' } }], usage: { inputTokens: 1500, outputTokens: 250 } },
        { content: 'Warm.', usage: { inputTokens: 2600, outputTokens: 120 } },
      ],
      { name, provider: 'openai' },
    );
  const run = (name: string, prices?: Parameters<typeof runContext>[1]) => {
    const runId = unique('run');
    return runContext(() => new Agent({ name: 'pricer', model: model(name), tools: [weather] }).run('Paris?'), { ...prices, runId }).then(() => runId);
  };

  it('chat spans carry amount = tokens x prices, currency and source; the agent span none; the counter in Prometheus is their sum, per currency', async () => {
    // Per million: USD 2.5 in, 10 out, priced on the bus side; EUR 4 in, 8 out, priced by the bridge; a model priced nowhere.
    const busPriced = await run('bus-priced', { prices: { 'bus-priced': { currency: 'USD', inputPerMillion: 2.5, outputPerMillion: 10 } } });
    const bridgePriced = await run('bridge-priced');
    const unpriced = await run('unpriced-model');
    await state.otel!.forceFlush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
      until: (t) => [busPriced, bridgePriced, unpriced].every((id) => runSpans(t, id).filter((s) => s.operationName.startsWith('chat ')).length === 2),
    });
    const expected: Record<string, { currency: string; input: number; output: number; sum: number }> = {
      [busPriced]: { currency: 'USD', input: 2.5, output: 10, sum: 0 },
      [bridgePriced]: { currency: 'EUR', input: 4, output: 8, sum: 0 },
    };
    for (const [runId, price] of Object.entries(expected)) {
      const spans = runSpans(traces, runId);
      const chats = spans.filter((s) => s.operationName.startsWith('chat '));
      expect(chats).toHaveLength(2);
      for (const chat of chats) {
        // Expected from the span's own token attributes, times the prices.
        const amount = ((tagOf(chat, 'gen_ai.usage.input_tokens') as number) * price.input + (tagOf(chat, 'gen_ai.usage.output_tokens') as number) * price.output) / 1e6;
        expect(tagOf(chat, 'gen_ai.usage.cost.amount')).toBeCloseTo(amount, 12);
        expect(tagOf(chat, 'gen_ai.usage.cost.currency')).toBe(price.currency);
        expect(tagOf(chat, 'gen_ai.usage.cost.source')).toBe('local');
        price.sum += amount;
      }
      const agent = spans.find((s) => s.operationName === 'invoke_agent pricer')!;
      expect(agent.tags.map((t) => t.key).filter((k) => k.startsWith('gen_ai.usage.cost'))).toEqual([]);
    }
    for (const chat of runSpans(traces, unpriced).filter((s) => s.operationName.startsWith('chat '))) {
      expect(chat.tags.map((t) => t.key).filter((k) => k.startsWith('gen_ai.usage.cost'))).toEqual([]);
    }
    // (1500 + 2600) x 2.5 + (250 + 120) x 10 per million; (1500 + 2600) x 4 + 370 x 8 per million.
    expect(expected[busPriced]!.sum).toBeCloseTo(0.01395, 12);
    expect(expected[bridgePriced]!.sum).toBeCloseTo(0.01936, 12);

    const mine = (line: string) => line.includes(`job="${service}"`);
    const costLines = (text: string) => text.split('\n').filter((l) => mine(l) && /^gen_ai_client_operation_cost\w*\{/.test(l));
    const valueOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
    const text = await pollPrometheus(be.prometheusMetricsUrl, (t) => costLines(t).length === 2);
    const lines = costLines(text);
    const usd = lines.find((l) => l.includes('gen_ai_usage_cost_currency="USD"'))!;
    const eur = lines.find((l) => l.includes('gen_ai_usage_cost_currency="EUR"'))!;
    // One counter, a series per currency (the unit is an annotation, which the exporter leaves out of the name).
    expect(usd).toMatch(/^gen_ai_client_operation_cost_total\{/);
    expect(eur).toMatch(/^gen_ai_client_operation_cost_total\{/);
    for (const [line, model] of [[usd, 'bus-priced'], [eur, 'bridge-priced']] as const) {
      expect(line).toContain(`gen_ai_request_model="${model}"`);
      expect(line).toContain('gen_ai_operation_name="chat"');
      expect(line).toContain('gen_ai_provider_name="openai"');
      expect(line).toContain('gen_ai_usage_cost_source="local"');
    }
    expect(valueOf(usd)).toBeCloseTo(expected[busPriced]!.sum, 12);
    expect(valueOf(eur)).toBeCloseTo(expected[bridgePriced]!.sum, 12);
    // The model priced nowhere has no point at all.
    expect(text.split('\n').filter((l) => mine(l) && l.startsWith('gen_ai_client_operation_cost') && l.includes('unpriced-model'))).toEqual([]);
  });
});

describe('the latest conventions (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental) through the collector into Prometheus', () => {
  const service = unique('agentbus-e2e-latest');
  const { flush } = telemetry(service, 'gen_ai_latest_experimental');

  it('shows the development metric names, the token counters summing to the reported tokens, and not gen_ai_client_token_usage', async () => {
    let input = 0;
    let output = 0;
    for (let i = 0; i < 2; i++) {
      const runId = unique('run');
      await runContext(() => tripAgent().run('Compare'), { runId });
      const t = tokensOf(runId);
      input += t.input;
      output += t.output;
    }
    expect(input).toBe(2 * 410);
    await flush();
    const mine = (line: string) => line.includes(`job="${service}"`);
    // A counter's value line: `name_total{...} value` (the exporter adds _total to a monotonic sum).
    const counterOf = (text: string, name: string) =>
      text
        .split('\n')
        .filter((l) => mine(l) && new RegExp(`^${name}(_total)?\\{`).test(l))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const text = await pollPrometheus(
      be.prometheusMetricsUrl,
      (t) => counterOf(t, 'gen_ai_client_inference_usage_input_tokens') === input && counterOf(t, 'gen_ai_client_inference_usage_output_tokens') === output,
    );
    const lines = text.split('\n').filter(mine);
    const has = (pattern: RegExp) => lines.filter((l) => pattern.test(l));
    // The counters by modality (ours: unknown, the events have no breakdown).
    const inputCounter = has(/^gen_ai_client_inference_usage_input_tokens(_total)?\{/);
    expect(inputCounter.length).toBeGreaterThan(0);
    expect(inputCounter.every((l) => l.includes('gen_ai_token_modality="unknown"') && l.includes('gen_ai_operation_name="chat"'))).toBe(true);
    // The per-operation histograms, with the powers-of-4 buckets and no modality.
    const perOperation = has(/^gen_ai_client_inference_operation_input_tokens_bucket\{/);
    expect(perOperation.some((l) => l.includes('le="256"'))).toBe(true);
    expect(perOperation.some((l) => l.includes('gen_ai_token_modality'))).toBe(false);
    expect(has(/^gen_ai_client_inference_operation_output_tokens_bucket\{/).length).toBeGreaterThan(0);
    // The durations: model calls, the agent, the tools (one failing).
    expect(has(/^gen_ai_client_inference_duration(_seconds)?_bucket\{/).some((l) => l.includes('gen_ai_operation_name="chat"'))).toBe(true);
    const invocations = has(/^gen_ai_invocation_duration(_seconds)?_bucket\{/);
    expect(invocations.some((l) => l.includes('gen_ai_agent_name="trip-planner"') && l.includes('gen_ai_invocation_is_nested="false"'))).toBe(true);
    expect(invocations.some((l) => l.includes('le="409.6"'))).toBe(true);
    const tools = has(/^gen_ai_execute_tool_duration(_seconds)?_bucket\{/);
    expect(tools.some((l) => l.includes('gen_ai_tool_name="get_weather"') && l.includes('gen_ai_agent_name="trip-planner"'))).toBe(true);
    expect(tools.some((l) => l.includes('gen_ai_tool_name="divide"') && l.includes('error_type="RangeError"'))).toBe(true);
    // And not the released names, for this service.
    expect(has(/^gen_ai_client_token_usage/)).toEqual([]);
    expect(has(/^gen_ai_client_operation_duration/)).toEqual([]);
  });
});

describe('the OpenAI-compatible model against a local server, through the collector', () => {
  const service = unique('agentbus-e2e-oai');
  const { flush } = telemetry(service);
  let server: Server;
  let port = 0;
  let calls = 0;

  beforeAll(async () => {
    // A Chat Completions server on 127.0.0.1: a tool call, then an answer; both name their model and id.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const first = calls++ % 2 === 0;
        const message = first
          ? { role: 'assistant', content: null, tool_calls: [{ id: 'call-oai', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }
          : { role: 'assistant', content: 'Oslo: 14°C.' };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id: first ? 'chatcmpl-e2e-1' : 'chatcmpl-e2e-2',
          object: 'chat.completion',
          model: 'local-model-2025-01-01',
          choices: [{ index: 0, message, finish_reason: first ? 'tool_calls' : 'stop' }],
          usage: { prompt_tokens: 900, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 850 } },
        }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  function localAgent(): Agent {
    const model = new OpenAICompatibleModel({
      baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-e2e', model: 'local-model', temperature: 0.2, maxTokens: 256, topP: 0.9,
    });
    return new Agent({ name: 'local-agent', model, tools: [weather] });
  }

  it('puts the server, the request parameters, the response and the conversation on chat spans, and the description on execute_tool', async () => {
    const runId = unique('run');
    await runContext(() => localAgent().run('Weather in Oslo?'), { runId, conversationId: 'conv-e2e' });
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length === 4 });
    const spans = runSpans(traces, runId);
    const chats = spans.filter((s) => s.operationName === 'chat local-model');
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      expect(tagOf(chat, 'server.address')).toBe('127.0.0.1');
      expect(tagOf(chat, 'server.port')).toBe(port);
      expect(tagOf(chat, 'gen_ai.request.temperature')).toBe(0.2);
      expect(tagOf(chat, 'gen_ai.request.max_tokens')).toBe(256);
      expect(tagOf(chat, 'gen_ai.request.top_p')).toBe(0.9);
      expect(tagOf(chat, 'gen_ai.request.stream')).toBeUndefined();
      expect(tagOf(chat, 'gen_ai.response.model')).toBe('local-model-2025-01-01');
      expect(tagOf(chat, 'gen_ai.usage.cache_creation.input_tokens')).toBe(850);
      expect(tagOf(chat, 'gen_ai.conversation.id')).toBe('conv-e2e');
      expect(tagOf(chat, 'otel.scope.name')).toBe('agentbus');
      expect(tagOf(chat, 'otel.scope.version')).toBe(VERSION);
    }
    expect(chats.map((c) => tagOf(c, 'gen_ai.response.id')).sort()).toEqual(['chatcmpl-e2e-1', 'chatcmpl-e2e-2']);
    const tool = spans.find((s) => s.operationName === 'execute_tool get_weather')!;
    expect(tagOf(tool, 'gen_ai.tool.description')).toBe('Weather for a city.');
    expect(tagOf(tool, 'gen_ai.conversation.id')).toBeUndefined();
    const agent = spans.find((s) => s.operationName === 'invoke_agent local-agent')!;
    expect(tagOf(agent, 'gen_ai.conversation.id')).toBe('conv-e2e');
    expect(tagOf(agent, 'gen_ai.usage.cache_creation.input_tokens')).toBe(1700);
  });

  it('measures chats by server and response model, and tools without a provider, in Prometheus', async () => {
    await runContext(() => localAgent().run('Weather in Oslo?'), { runId: unique('run') });
    await flush();
    const mine = (line: string) => line.includes(`job="${service}"`);
    const chatLine = (l: string) =>
      mine(l) && /^gen_ai_client_operation_duration(_seconds)?_count\{/.test(l) && l.includes('gen_ai_operation_name="chat"') && l.includes('server_address="127.0.0.1"');
    const text = await pollPrometheus(be.prometheusMetricsUrl, (t) => t.split('\n').some(chatLine));
    const chat = text.split('\n').find(chatLine)!;
    expect(chat).toContain(`server_port="${port}"`);
    expect(chat).toContain('gen_ai_response_model="local-model-2025-01-01"');
    expect(chat).toContain('gen_ai_provider_name="openai"');
    expect(chat).toContain('gen_ai_request_model="local-model"');
    // Low cardinality: no response id, no conversation, no request parameter.
    expect(chat).not.toContain('chatcmpl');
    expect(chat).not.toContain('gen_ai_response_id');
    expect(chat).not.toContain('gen_ai_request_temperature');
    const tools = text.split('\n').filter((l) => mine(l) && /^gen_ai_client_operation_duration(_seconds)?_count\{/.test(l) && l.includes('gen_ai_operation_name="execute_tool"'));
    expect(tools.length).toBeGreaterThan(0);
    for (const line of tools) expect(line).not.toContain('gen_ai_provider_name');
  });
});

describe('a collector that goes away and comes back', () => {
  const service = unique('agentbus-e2e-outage');
  const { flush } = telemetry(service);

  it('agents keep running without errors while it is down, and later runs arrive once it is back', async () => {
    await be.stopCollector();
    try {
      for (let i = 0; i < 5; i++) {
        const result = await runContext(() => tripAgent().run('Compare'), { runId: unique('down') });
        expect(result.output).toBe('Paris is warmer.');
      }
      await flush();
    } finally {
      await be.startCollector();
    }
    const runIds = [unique('back'), unique('back')];
    for (const runId of runIds) await runContext(() => tripAgent().run('Compare'), { runId });
    await flush();
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, {
      until: (t) => runIds.every((id) => runSpans(t, id).length === 6),
      timeoutMs: 60_000,
    });
    for (const runId of runIds) expect(runSpans(traces, runId)).toHaveLength(6);
  });
});

describe('content capture through the collector into Jaeger', () => {
  // Each run is its own process with the built package, configured as an app would be:
  // only OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT decides whether content is captured.
  const SERVICE = fileURLToPath(new URL('./fixtures/content-service.mjs', import.meta.url));
  const CONTENT_KEYS = ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions', 'gen_ai.tool.definitions', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'];
  const MAX = 1500;

  async function runService(env: Record<string, string>): Promise<{ service: string; runId: string; spans: JaegerSpan[] }> {
    const service = unique('agentbus-e2e-content');
    const runId = unique('run');
    const childEnv: NodeJS.ProcessEnv = { ...process.env, SERVICE_NAME: service, OTLP_ENDPOINT: be.otlpHttpEndpoint, RUN_ID: runId, MAX_CONTENT_LENGTH: String(MAX), ...env };
    if (env['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'] === undefined) delete childEnv['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'];
    const { stdout } = await promisify(execFile)(process.execPath, [SERVICE], { env: childEnv, timeout: 30_000 });
    expect(JSON.parse(stdout.trim()).runId).toBe(runId);
    const traces = await queryJaegerTraces(be.jaegerQueryUrl, service, { until: (t) => runSpans(t, runId).length === 4 });
    return { service, runId, spans: runSpans(traces, runId) };
  }

  const contentTags = (spans: JaegerSpan[]) => spans.flatMap((s) => s.tags.map((t) => t.key)).filter((k) => CONTENT_KEYS.includes(k) || k.startsWith('agentbus.content'));

  it('by default no span carries content', async () => {
    const { spans } = await runService({});
    expect(spans.map((s) => s.operationName).sort()).toEqual(['chat scripted', 'chat scripted', 'execute_tool lookup', 'invoke_agent content-agent']);
    expect(contentTags(spans)).toEqual([]);
  });

  it('with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true: the content attributes, valid JSON in the conventions\' shapes, cut within maxContentLength, and the hook\'s reference', async () => {
    const { spans } = await runService({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true', HOOK: '1' });
    const chats = spans.filter((s) => s.operationName === 'chat scripted').sort((a, b) => a.startTime - b.startTime);
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      for (const key of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions', 'gen_ai.tool.definitions']) {
        const value = tagOf(chat, key);
        expect(typeof value, key).toBe('string');
        expect((value as string).length, key).toBeLessThanOrEqual(MAX);
      }
      expect(systemInstructionsShape.parse(JSON.parse(tagOf(chat, 'gen_ai.system_instructions') as string))).toEqual([{ type: 'text', content: 'Answer briefly.' }]);
      expect(toolDefinitionsShape.parse(JSON.parse(tagOf(chat, 'gen_ai.tool.definitions') as string))).toEqual([{ type: 'function', name: 'lookup' }]);
      outputMessagesShape.parse(JSON.parse(tagOf(chat, 'gen_ai.output.messages') as string));
      expect(tagOf(chat, 'agentbus.content.ref')).toMatch(/^store:\/\/.+/);
    }
    // The long prompt was cut, and its JSON is still valid and in its shape; what follows it was kept.
    const [first, second] = chats as [JaegerSpan, JaegerSpan];
    expect(tagOf(first, 'agentbus.content.truncated')).toBe(true);
    const cut = inputMessagesShape.parse(JSON.parse(tagOf(second, 'gen_ai.input.messages') as string));
    expect(cut.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    const promptText = textOf(cut[0]!.parts[0]);
    expect(promptText.startsWith('How many people live in Oslo? Please be precise.')).toBe(true);
    expect(promptText.endsWith('…')).toBe(true);
    expect(cut[1]!.parts).toEqual([{ type: 'tool_call', id: 'call-oslo', name: 'lookup', arguments: { city: 'Oslo' } }]);
    expect(cut[2]!.parts).toEqual([{ type: 'tool_call_response', id: 'call-oslo', response: { city: 'Oslo', population: 700000, note: 'é😀' } }]);
    expect(outputMessagesShape.parse(JSON.parse(tagOf(second, 'gen_ai.output.messages') as string))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Oslo has 700k people.' }], finish_reason: 'stop' },
    ]);
    const tool = spans.find((s) => s.operationName === 'execute_tool lookup')!;
    expect(jsonObjectShape.parse(JSON.parse(tagOf(tool, 'gen_ai.tool.call.arguments') as string))).toEqual({ city: 'Oslo' });
    expect(jsonObjectShape.parse(JSON.parse(tagOf(tool, 'gen_ai.tool.call.result') as string))).toEqual({ city: 'Oslo', population: 700000, note: 'é😀' });
    expect(tagOf(tool, 'agentbus.content.ref')).toMatch(/^store:\/\/.+/);
    // Content goes on chat and tool spans only.
    expect(contentTags(spans.filter((s) => s.operationName.startsWith('invoke_agent')))).toEqual([]);
  });
});
