// Token counts on their way into spans and metrics: the bridge takes only
// counts that are counts (non-negative safe integers), whoever emitted the
// event, so a span attribute or a metric series never becomes a string, a
// negative number, NaN or Infinity; a span's sum stops at
// Number.MAX_SAFE_INTEGER. Real SDK providers (otel-harness.ts).
import { describe, expect, it } from 'vitest';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { runContext } from '../src/context.js';
import { emit, startStep } from '../src/emit.js';
import { traceModel, type TokenUsage } from '../src/trace.js';
import { METRIC_GEN_AI_CLIENT_TOKEN_USAGE, METRIC_LATEST } from '../src/otel/semconv.js';
import { byName, histogramPoints, useBridge } from './otel-harness.js';

const fx = useBridge();
const { tel, attach } = fx;

const MODEL = { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 };
const COMPLETED = { stopReason: 'stop', toolCallCount: 0, contentPreview: '' };

/** The values of a collected counter's points. */
function sums(metric: MetricData | undefined): number[] {
  if (metric === undefined) return [];
  expect(metric.dataPointType).toBe(DataPointType.SUM);
  return (metric.dataPoints as Array<{ value: number }>).map((p) => p.value);
}

/**
 * An agent with one model step, given tokens events emitted by hand (as an
 * adapter or another process might), each as it is: the bus does not validate.
 */
async function handEmitted(usages: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  await runContext(async () => {
    const agent = startStep('agent.invocation.started', { agentName: 'a' });
    await agent.run(async () => {
      emit('agent.model.started', MODEL, { spanId: 'call' });
      for (const usage of usages) emit('agent.tokens.used', { model: 'm', provider: 'p', ...usage } as never, { spanId: 'call' });
      emit('agent.model.completed', COMPLETED, { spanId: 'call' });
    });
    agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '' });
  });
}

const BAD_COUNTS = ['12', -10, Number.NaN, Number.POSITIVE_INFINITY, 1e308, 1.5, 2 ** 53, null, true];

describe('the bridge takes only counts that are counts', () => {
  it.each(BAD_COUNTS.map((bad) => [String(bad), bad]))('a hand-emitted count of %s is ignored on the spans and the released histogram; the good counts of the same event are kept', async (_label, bad) => {
    attach({ semconv: 'released' });
    await handEmitted([
      { inputTokens: bad, outputTokens: 3, totalTokens: 3 },
      { inputTokens: 7, outputTokens: bad, totalTokens: 7, cacheReadInputTokens: bad, reasoningOutputTokens: bad },
    ]);
    for (const name of ['chat m', 'invoke_agent a']) {
      const attributes = byName(tel.spans(), name).attributes;
      expect(attributes['gen_ai.usage.input_tokens']).toBe(7);
      expect(attributes['gen_ai.usage.output_tokens']).toBe(3);
      expect(attributes['gen_ai.usage.cache_read.input_tokens']).toBeUndefined();
      expect(attributes['gen_ai.usage.reasoning.output_tokens']).toBeUndefined();
    }
    await tel.collect();
    const points = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_TOKEN_USAGE));
    const byType = Object.fromEntries(points.map((p) => [p.attributes['gen_ai.token.type'], { count: p.value.count, sum: p.value.sum }]));
    expect(byType).toEqual({ input: { count: 1, sum: 7 }, output: { count: 1, sum: 3 } });
  });

  it('the latest shape\'s cumulative counters and histograms stay finite numbers: Infinity, strings and negatives never reach them', async () => {
    attach({ semconv: 'latest' });
    await handEmitted([
      { inputTokens: 1e308, outputTokens: 1e308, totalTokens: 1e308 },
      { inputTokens: 1e308, outputTokens: '12', totalTokens: 1e308, cacheReadInputTokens: -10, cacheCreationInputTokens: Number.NaN },
      { inputTokens: 5, outputTokens: 2, totalTokens: 7, cacheReadInputTokens: 1 },
    ]);
    await tel.collect();
    expect(sums(tel.metric(METRIC_LATEST.usageInputTokens))).toEqual([5]);
    expect(sums(tel.metric(METRIC_LATEST.usageOutputTokens))).toEqual([2]);
    expect(sums(tel.metric(METRIC_LATEST.usageCacheReadInputTokens))).toEqual([1]);
    expect(tel.metric(METRIC_LATEST.usageCacheWriteInputTokens)?.dataPoints ?? []).toEqual([]);
    const input = histogramPoints(tel.metric(METRIC_LATEST.operationInputTokens));
    expect(input.map((p) => [p.value.count, p.value.sum])).toEqual([[1, 5]]);
    const chat = byName(tel.spans(), 'chat m').attributes;
    expect(chat['gen_ai.usage.input_tokens']).toBe(5);
    expect(chat['gen_ai.usage.output_tokens']).toBe(2);
  });

  it('an event with no count at all gives the span no usage attributes (not zeros)', async () => {
    attach({ semconv: 'released' });
    await handEmitted([{ inputTokens: '1', outputTokens: -1, totalTokens: 0 }]);
    const chat = byName(tel.spans(), 'chat m').attributes;
    expect(chat['gen_ai.usage.input_tokens']).toBeUndefined();
    expect(chat['gen_ai.usage.output_tokens']).toBeUndefined();
    await tel.collect();
    expect(tel.metric(METRIC_GEN_AI_CLIENT_TOKEN_USAGE)?.dataPoints ?? []).toEqual([]);
  });

  it('a span\'s sum stops at Number.MAX_SAFE_INTEGER rather than going on inexactly towards Infinity', async () => {
    attach({ semconv: 'released' });
    const most = Number.MAX_SAFE_INTEGER;
    await handEmitted([
      { inputTokens: most, outputTokens: 1, totalTokens: most },
      { inputTokens: most, outputTokens: 1, totalTokens: most },
      { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
    ]);
    for (const name of ['chat m', 'invoke_agent a']) {
      const attributes = byName(tel.spans(), name).attributes;
      expect(attributes['gen_ai.usage.input_tokens']).toBe(most);
      expect(attributes['gen_ai.usage.output_tokens']).toBe(3);
    }
  });

  it('the prices of the bridge apply to the counts it took, never to ones it ignored', async () => {
    attach({ semconv: 'released', prices: { m: { currency: 'USD', inputPerMillion: 1, outputPerMillion: 1 } } });
    await handEmitted([
      { inputTokens: 1e20, outputTokens: 1, totalTokens: 1e20 },
      { inputTokens: 1_000_000, outputTokens: 1_000_000, totalTokens: 2_000_000 },
    ]);
    const chat = byName(tel.spans(), 'chat m').attributes;
    expect(chat['gen_ai.usage.cost.amount']).toBe(2);
  });
});

describe('through traceModel: bad usage is refused before it is published', () => {
  it('string counts (a provider\'s JSON) and counts of 1e308 reach neither the span nor a metric; a good call does', async () => {
    attach({ semconv: 'latest' });
    await runContext(async () => {
      for (const usage of [{ inputTokens: '12', outputTokens: '3' }, { inputTokens: 1e308, outputTokens: 1e308 }, { inputTokens: 1e308, outputTokens: 1e308 }]) {
        await traceModel(MODEL, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '', usage: usage as unknown as TokenUsage }));
      }
      await traceModel({ ...MODEL, model: 'good' }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '', usage: { inputTokens: 12, outputTokens: 3 } }));
    });
    const spans = tel.spans().filter((s) => s.name === 'chat m');
    expect(spans).toHaveLength(3);
    for (const span of spans) expect(span.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    expect(byName(tel.spans(), 'chat good').attributes['gen_ai.usage.input_tokens']).toBe(12);
    await tel.collect();
    expect(sums(tel.metric(METRIC_LATEST.usageOutputTokens))).toEqual([3]);
  });
});
