// The latest shape of the GenAI conventions (the development repository's
// names), chosen by `semconv: 'latest'` or by
// OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental, against the
// released shape that stays the default. Real SDK providers (otel-harness.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { runContext } from '../src/context.js';
import { startStep, traceTool } from '../src/emit.js';
import { traceFanout, traceModel } from '../src/trace.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import {
  INVOCATION_DURATION_BUCKETS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_LATEST,
  OPERATION_DURATION_BUCKETS,
  TOKEN_USAGE_BUCKETS,
} from '../src/otel/semconv.js';
import { byName, histogramPoints, useBridge } from './otel-harness.js';

const OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN';

const fx = useBridge();
const { tel, attach } = fx;
let savedOptIn: string | undefined;

beforeEach(() => {
  savedOptIn = process.env[OPT_IN];
  delete process.env[OPT_IN];
});
afterEach(() => {
  if (savedOptIn === undefined) delete process.env[OPT_IN];
  else process.env[OPT_IN] = savedOptIn;
});

const modelInfo = { model: 'gpt-4o', provider: 'openai', messageCount: 2, toolCount: 1 };

/** An agent: a model call with every kind of token count, a tool, a failing tool, a model call with totals only. */
async function agentTurn(agentName = 'planner'): Promise<void> {
  const agent = startStep('agent.invocation.started', { agentName, model: 'gpt-4o', provider: 'openai' });
  await agent.run(async () => {
    await traceModel({ ...modelInfo, serverAddress: 'llm.example.test', serverPort: 443 }, async () => ({
      stopReason: 'tool_calls',
      toolCallCount: 1,
      content: '',
      responseModel: 'gpt-4o-2024-08-06',
      usage: { inputTokens: 900, outputTokens: 30, cacheReadInputTokens: 40, cacheCreationInputTokens: 850, reasoningOutputTokens: 12 },
    }));
    await traceTool({ name: 'add', args: { a: 1, b: 2 } }, async () => 3);
    await traceTool({ name: 'add', args: {} }, async () => {
      throw new RangeError('no');
    }).catch(() => undefined);
    await traceModel(modelInfo, async () => ({ stopReason: 'stop', toolCallCount: 0, content: 'ok', usage: { inputTokens: 100, outputTokens: 10 } }));
  });
  agent.end({ reason: 'completed', iterationsUsed: 2, totalToolCalls: 2, finalMessagePreview: 'ok' });
}

/** Data points of a collected counter (a monotonic sum). */
function sumPoints(metric: MetricData | undefined): Array<{ attributes: Record<string, unknown>; value: number }> {
  if (metric === undefined) throw new Error('metric not collected');
  if (metric.dataPointType !== DataPointType.SUM) throw new Error(`${metric.descriptor.name} is not a sum`);
  expect(metric.isMonotonic).toBe(true);
  return metric.dataPoints as Array<{ attributes: Record<string, unknown>; value: number }>;
}

const LATEST_NAMES: readonly string[] = Object.values(METRIC_LATEST);
const RELEASED_NAMES = [METRIC_GEN_AI_CLIENT_TOKEN_USAGE, METRIC_GEN_AI_CLIENT_OPERATION_DURATION];

async function metricNames(): Promise<string[]> {
  return (await tel.collect()).map((m) => m.descriptor.name);
}

async function oneOfEach(): Promise<void> {
  await runContext(() => agentTurn(), { name: 'single' });
}

describe("instrumentOtel with semconv: 'latest'", () => {
  it('counts tokens on the inference usage counters by modality unknown, each reported count on its own counter, and none on gen_ai.client.token.usage', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    await tel.collect();
    expect(tel.metric(METRIC_GEN_AI_CLIENT_TOKEN_USAGE)).toBeUndefined();
    const attributes = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.token.modality': 'unknown' };
    const counted = (name: string) => {
      const points = sumPoints(tel.metric(name));
      expect(points.map((p) => p.attributes), name).toEqual([attributes]);
      expect(tel.metric(name)!.descriptor.unit).toBe('{token}');
      return points[0]!.value;
    };
    expect(counted(METRIC_LATEST.usageInputTokens)).toBe(1000);
    expect(counted(METRIC_LATEST.usageOutputTokens)).toBe(40);
    // Only the call that reported them: the second call's totals add nothing here.
    expect(counted(METRIC_LATEST.usageCacheReadInputTokens)).toBe(40);
    expect(counted(METRIC_LATEST.usageCacheWriteInputTokens)).toBe(850);
    expect(counted(METRIC_LATEST.usageReasoningOutputTokens)).toBe(12);
  });

  it('records the per-operation token histograms without modality, with the convention buckets', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    await tel.collect();
    for (const [name, sum] of [[METRIC_LATEST.operationInputTokens, 1000], [METRIC_LATEST.operationOutputTokens, 40]] as const) {
      const [point, ...rest] = histogramPoints(tel.metric(name));
      expect(rest).toEqual([]);
      expect(point!.attributes).toEqual({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' });
      expect(point!.value.count).toBe(2);
      expect(point!.value.sum).toBe(sum);
      expect(point!.value.buckets.boundaries).toEqual([...TOKEN_USAGE_BUCKETS]);
    }
  });

  it('measures model calls on gen_ai.client.inference.duration, and nothing on gen_ai.client.operation.duration', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    await tel.collect();
    expect(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)).toBeUndefined();
    const metric = tel.metric(METRIC_LATEST.inferenceDuration)!;
    expect(metric.descriptor.unit).toBe('s');
    const points = histogramPoints(metric);
    expect(points.map((p) => p.attributes)).toEqual([
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'server.address': 'llm.example.test',
        'server.port': 443,
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
      },
      { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' },
    ]);
    expect(points[0]!.value.buckets.boundaries).toEqual([...OPERATION_DURATION_BUCKETS]);
  });

  it('measures tools on gen_ai.execute_tool.duration by tool name, type and the agent running it, error.type on failures', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    await runContext(() => traceTool({ name: 'loose', args: {} }, () => 1), { name: 'helpers' });
    await tel.collect();
    const metric = tel.metric(METRIC_LATEST.executeToolDuration)!;
    expect(metric.descriptor.unit).toBe('s');
    const points = histogramPoints(metric);
    expect(points.map((p) => [p.attributes, p.value.count])).toEqual([
      [{ 'gen_ai.tool.name': 'add', 'gen_ai.tool.type': 'function', 'gen_ai.agent.name': 'planner' }, 1],
      [{ 'gen_ai.tool.name': 'add', 'gen_ai.tool.type': 'function', 'gen_ai.agent.name': 'planner', 'error.type': 'RangeError' }, 1],
      // Outside any agent: no gen_ai.agent.name.
      [{ 'gen_ai.tool.name': 'loose', 'gen_ai.tool.type': 'function' }, 1],
    ]);
    expect(points[0]!.value.buckets.boundaries).toEqual([...OPERATION_DURATION_BUCKETS]);
  });

  it('a tool name holding NUL never shares a tool series with a tool run by an agent', async () => {
    attach({ semconv: 'latest' });
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'y', model: 'gpt-4o', provider: 'openai' });
      await agent.run(() => traceTool({ name: 'x', args: {} }, () => 1));
      agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: 'ok' });
      traceTool({ name: 'x\u0000y', args: {} }, () => 1);
      traceTool({ name: '1:x\u0000y', args: {} }, () => 1);
    });
    await tel.collect();
    const points = histogramPoints(tel.metric(METRIC_LATEST.executeToolDuration));
    expect(points.map((p) => p.attributes)).toEqual(expect.arrayContaining([
      { 'gen_ai.tool.name': 'x', 'gen_ai.tool.type': 'function', 'gen_ai.agent.name': 'y' },
      { 'gen_ai.tool.name': 'x\u0000y', 'gen_ai.tool.type': 'function' },
      { 'gen_ai.tool.name': '1:x\u0000y', 'gen_ai.tool.type': 'function' },
    ]));
  });

  it('measures agents, fan-outs and run roots on gen_ai.invocation.duration, nested or not', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    await runContext(() => traceFanout({ mergeStrategy: 'all', name: 'research' }, [() => agentTurn('a'), () => agentTurn('b')]), { name: 'job' });
    await tel.collect();
    const metric = tel.metric(METRIC_LATEST.invocationDuration)!;
    expect(metric.descriptor.unit).toBe('s');
    const points = histogramPoints(metric);
    const agent = (name: string, nested: boolean) => ({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.invocation.is_nested': nested,
      'gen_ai.agent.name': name,
      'gen_ai.request.model': 'gpt-4o',
    });
    expect(points.map((p) => p.attributes)).toEqual(
      expect.arrayContaining([
        // An agent heading its run: the outermost invocation.
        agent('planner', false),
        // The run of a fan-out: its own root (workflow), the fan-out under it, the agents under that.
        { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.invocation.is_nested': false, 'gen_ai.workflow.name': 'job' },
        { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.invocation.is_nested': true, 'gen_ai.workflow.name': 'research' },
        agent('a', true),
        agent('b', true),
      ]),
    );
    expect(points).toHaveLength(5);
    expect(points[0]!.value.buckets.boundaries).toEqual([...INVOCATION_DURATION_BUCKETS]);
    // Seconds, not milliseconds.
    for (const point of points) expect(point.value.sum).toBeLessThan(5);
  });

  it('counts an agent of a nested run as nested: the tool that started the run is inside an invocation', async () => {
    attach({ semconv: 'latest' });
    await runContext(async () => {
      await traceTool({ name: 'delegate', args: {} }, () => runContext(() => agentTurn('child'), { runId: 'child-run' }));
    }, { runId: 'parent-run', name: 'parent' });
    // A run of its own, not started inside anything: its agent is the outermost invocation.
    await runContext(() => agentTurn('alone'), { runId: 'alone-run' });
    await tel.collect();
    const nestedOf = (name: string) =>
      histogramPoints(tel.metric(METRIC_LATEST.invocationDuration)).find((p) => p.attributes['gen_ai.agent.name'] === name)!.attributes['gen_ai.invocation.is_nested'];
    expect(nestedOf('child')).toBe(true);
    expect(nestedOf('alone')).toBe(false);
  });

  it('puts error.type on a failed invocation', async () => {
    attach({ semconv: 'latest' });
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'broken' });
      agent.end({ reason: 'error', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '', errorType: 'TypeError' });
    });
    await tel.collect();
    expect(histogramPoints(tel.metric(METRIC_LATEST.invocationDuration)).map((p) => p.attributes)).toEqual([
      { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.invocation.is_nested': false, 'gen_ai.agent.name': 'broken', 'error.type': 'TypeError' },
    ]);
  });

  it('names cache writes gen_ai.usage.cache_write.input_tokens on the chat span, and leaves the cache breakdown off the agent span', async () => {
    attach({ semconv: 'latest' });
    await oneOfEach();
    const spans = tel.spans();
    const chat = spans.find((s) => s.name === 'chat gpt-4o' && s.attributes['gen_ai.usage.input_tokens'] === 900)!;
    expect(chat.attributes).toMatchObject({
      'gen_ai.usage.cache_read.input_tokens': 40,
      'gen_ai.usage.cache_write.input_tokens': 850,
      'gen_ai.usage.reasoning.output_tokens': 12,
    });
    expect(chat.attributes['gen_ai.usage.cache_creation.input_tokens']).toBeUndefined();
    const agent = byName(spans, 'invoke_agent planner');
    expect(agent.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 40, 'gen_ai.usage.reasoning.output_tokens': 12 });
    for (const key of ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_write.input_tokens', 'gen_ai.usage.cache_creation.input_tokens']) {
      expect(agent.attributes[key], key).toBeUndefined();
    }
  });
});

describe('OTEL_SEMCONV_STABILITY_OPT_IN', () => {
  it('with gen_ai_latest_experimental in its list, writes the development metric names and not the released ones', async () => {
    process.env[OPT_IN] = 'http, gen_ai_latest_experimental ,database/dup';
    attach();
    await oneOfEach();
    const names = await metricNames();
    for (const name of LATEST_NAMES) expect(names, name).toContain(name);
    for (const name of RELEASED_NAMES) expect(names, name).not.toContain(name);
    expect(byName(tel.spans(), 'invoke_agent planner').attributes['gen_ai.usage.cache_read.input_tokens']).toBeUndefined();
  });

  it('without it (unset, or other instrumentations\' entries only), writes the released names and not the development ones', async () => {
    for (const value of [undefined, 'http/dup,database', 'gen_ai_latest_experimental_not']) {
      if (value === undefined) delete process.env[OPT_IN];
      else process.env[OPT_IN] = value;
      fx.renew();
      attach();
      await oneOfEach();
      const names = await metricNames();
      for (const name of RELEASED_NAMES) expect(names, `${value}: ${name}`).toContain(name);
      for (const name of LATEST_NAMES) expect(names, `${value}: ${name}`).not.toContain(name);
      const chat = tel.spans().find((s) => s.attributes['gen_ai.usage.input_tokens'] === 900)!;
      expect(chat.attributes['gen_ai.usage.cache_creation.input_tokens']).toBe(850);
      expect(chat.attributes['gen_ai.usage.cache_write.input_tokens']).toBeUndefined();
      fx.bridge!.shutdown();
    }
  });

  it('is read once, when the bridge is created', async () => {
    attach();
    process.env[OPT_IN] = 'gen_ai_latest_experimental';
    await oneOfEach();
    const names = await metricNames();
    expect(names).toContain(METRIC_GEN_AI_CLIENT_TOKEN_USAGE);
    expect(names).not.toContain(METRIC_LATEST.usageInputTokens);
  });

  it("loses to the semconv option: 'released' keeps the released names under the opt-in", async () => {
    process.env[OPT_IN] = 'gen_ai_latest_experimental';
    attach({ semconv: 'released' });
    await oneOfEach();
    const names = await metricNames();
    for (const name of RELEASED_NAMES) expect(names).toContain(name);
    for (const name of LATEST_NAMES) expect(names).not.toContain(name);
  });

  it('rejects a semconv option other than released or latest with a TypeError naming the field', () => {
    expect(() => instrumentOtel({ semconv: 'newest' as never })).toThrow(new TypeError(`instrumentOtel: semconv must be 'released' or 'latest', got "newest"`));
    expect(() => instrumentOtel({ semconv: 1 as never })).toThrow(/semconv must be 'released' or 'latest', got 1$/);
  });
});
