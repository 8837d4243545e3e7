/**
 * The OpenTelemetry bridge's cost, measured on the built package (dist/, as
 * shipped; `npm run bench` builds first).
 *
 * 1. One tool call turned into an exported span: `traceTool` inside an open
 *    run with the bridge attached (events, bus, bridge, span, export) against
 *    the same span made directly with the OTel SDK (same attributes, body run
 *    in the span's context). Both export through a SimpleSpanProcessor into
 *    an InMemorySpanExporter. Target: <= 1.5x. Measured with the metrics API
 *    left no-op, and with a real MeterProvider (the direct baseline then
 *    records the same duration histogram).
 * 2. The reference agent's loop (ScriptedModel: two model calls, one tool)
 *    with the bridge on against off.
 *
 * The variants alternate batch by batch in one process and the medians are
 * compared, so a machine that gets busier half-way colours both alike.
 */
import { context, SpanKind, trace, type Attributes, type Histogram, type MeterProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider as SdkMeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resetEventBus, runContext, traceTool } from 'agentbus';
import { Agent, ScriptedModel, defineTool } from 'agentbus/agent';
import { instrumentOtel, semconv } from 'agentbus/otel';
import { z } from 'zod';
import { median, report, round } from './measure.js';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const BATCH = 500;
const BATCHES_PER_SAMPLE = 40; // 20,000 calls per sample
const SAMPLES = 9;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs the variants in alternation: each sample is BATCHES_PER_SAMPLE
 * batches of BATCH calls, yielding to the event loop after each batch
 * (inside the timed region, for every variant alike: SimpleSpanProcessor
 * settles each export through a promise). Returns median ns per call.
 */
async function alternate(variants: Record<string, () => void>, after: () => void): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = {};
  for (const name of Object.keys(variants)) samples[name] = [];
  for (let s = -2; s < SAMPLES; s++) {
    for (const [name, fn] of Object.entries(variants)) {
      globalThis.gc?.();
      const t0 = process.hrtime.bigint();
      for (let b = 0; b < BATCHES_PER_SAMPLE; b++) {
        for (let i = 0; i < BATCH; i++) fn();
        await tick();
        after();
      }
      // The first two rounds warm up the JIT.
      if (s >= 0) samples[name]!.push(Number(process.hrtime.bigint() - t0) / (BATCH * BATCHES_PER_SAMPLE));
    }
  }
  const out: Record<string, number> = {};
  for (const [name, values] of Object.entries(samples)) out[name] = median(values);
  return out;
}

function durationHistogram(provider: MeterProvider): Histogram {
  return provider.getMeter('bench').createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
    unit: 's',
    advice: { explicitBucketBoundaries: [...semconv.OPERATION_DURATION_BUCKETS] },
  });
}

async function toolPair(withMetrics: boolean): Promise<Record<string, number>> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('bench');
  const histogram = withMetrics ? durationHistogram(new SdkMeterProvider()) : undefined;
  const toolAttributes: Attributes = { [semconv.ATTR_GEN_AI_OPERATION_NAME]: semconv.GEN_AI_OPERATION.executeTool };
  const args = { a: 1, b: 2 };
  const body = () => 3;

  // The same span the bridge makes, made directly with the SDK.
  const direct = () => {
    const start = performance.timeOrigin + performance.now();
    const parent = context.active();
    const span = tracer.startSpan(
      'execute_tool add',
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [semconv.ATTR_GEN_AI_OPERATION_NAME]: semconv.GEN_AI_OPERATION.executeTool,
          [semconv.ATTR_GEN_AI_TOOL_NAME]: 'add',
          [semconv.ATTR_GEN_AI_TOOL_CALL_ID]: 'call-1',
          [semconv.ATTR_GEN_AI_TOOL_TYPE]: semconv.GEN_AI_TOOL_TYPE_FUNCTION,
          [semconv.ATTR_AGENTBUS.runId]: 'bench-run',
        },
        startTime: start,
      },
      parent,
    );
    context.with(trace.setSpan(parent, span), body);
    const end = performance.timeOrigin + performance.now();
    span.end(end);
    histogram?.record((end - start) / 1000, toolAttributes);
  };
  const bridged = () => {
    traceTool({ name: 'add', args: args, toolCallId: 'call-1' }, body);
  };

  resetEventBus({});
  const bridge = instrumentOtel({
    tracerProvider: provider,
    ...(withMetrics ? { meterProvider: new SdkMeterProvider() } : {}),
  });
  let result: Record<string, number> = {};
  await runContext(async () => {
    result = await alternate({ direct, bridged }, () => exporter.reset());
  }, { runId: 'bench-run' });
  bridge.shutdown();

  // The core alone (traceTool in a run, no bridge), for reference.
  resetEventBus({});
  let core: Record<string, number> = {};
  await runContext(async () => {
    core = await alternate({ core: bridged }, () => {});
  });
  const directNs = result.direct!;
  const bridgeNs = result.bridged!;
  return { directNs: round(directNs), bridgeNs: round(bridgeNs), coreOnlyNs: round(core.core!), ratio: round(bridgeNs / directNs, 3) };
}

const weather = defineTool({
  name: 'get_weather',
  description: 'Weather for a city.',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => `${city}: 14°C`,
});

function agent(): Agent {
  return new Agent({
    name: 'bench-agent',
    model: new ScriptedModel(
      [
        { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], usage: { inputTokens: 100, outputTokens: 10 } },
        { content: 'Mild.', usage: { inputTokens: 120, outputTokens: 5 } },
      ],
      { name: 'scripted-gpt', provider: 'openai' },
    ),
    tools: [weather],
  });
}

/** Agent runs (each inside runContext) with the bridge on and off, alternating batches. Median µs per run. */
async function agentLoop(): Promise<Record<string, number>> {
  resetEventBus({});
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const meterProvider = new SdkMeterProvider();
  const RUNS = 500;
  const samples: Record<'off' | 'on', number[]> = { off: [], on: [] };
  for (let s = -2; s < SAMPLES; s++) {
    for (const mode of ['off', 'on'] as const) {
      const bridge = mode === 'on' ? instrumentOtel({ tracerProvider, meterProvider }) : undefined;
      globalThis.gc?.();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < RUNS; i++) await runContext(() => agent().run('weather?'));
      const us = Number(process.hrtime.bigint() - t0) / RUNS / 1000;
      bridge?.shutdown();
      exporter.reset();
      if (s >= 0) samples[mode].push(us);
    }
  }
  if (exporter.getFinishedSpans().length !== 0) throw new Error('exporter was not drained');
  const off = median(samples.off);
  const on = median(samples.on);
  return { offUs: round(off), onUs: round(on), ratio: round(on / off, 3), spansPerRun: 4 };
}

const metricsOff = await toolPair(false);
const metricsOn = await toolPair(true);
const loop = await agentLoop();
report('otel-bridge', {
  toolPairToExportedSpan: { ...metricsOff, target: '<= 1.5x', ok: metricsOff.ratio! <= 1.5 },
  toolPairWithMetrics: { ...metricsOn, target: '<= 1.5x', ok: metricsOn.ratio! <= 1.5 },
  agentLoopBridgeOnVsOff: loop,
});
