/**
 * The measuring half of `ai-sdk-peer.bench.ts`, run by it under Node >= 22
 * (the AI SDK 7, installed as `ai-v7`, needs it). Prints one JSON line.
 *
 * The same `generateText` (a mock model answering a turn of two tool calls,
 * then text; two tools) three ways, alternating sample by sample:
 * - untraced: no telemetry integration anywhere;
 * - sdk: the AI SDK's own OpenTelemetry integration (`OpenTelemetry` from
 *   `@ai-sdk/otel`), passed per call, with our tracer;
 * - ours: `AgentbusTelemetry` passed per call, inside `runContext`, with
 *   `instrumentOtel` bridging the run's events into spans.
 * Both traced variants use one BasicTracerProvider, a BatchSpanProcessor and
 * an exporter that counts spans and answers success at once; forceFlush
 * every FLUSH_EVERY calls, timed, for every variant alike. Both integrations
 * run with their defaults (the SDK's records inputs and outputs as
 * attributes; ours records previews). Overhead per call = traced - untraced,
 * per sample; the ratio ours/sdk is taken per sample. Both are differences
 * of figures taken a few hundred ms apart on a shared machine: read the spread.
 *
 * `@ai-sdk/otel` is not a dependency of this repository: when it cannot be
 * imported, the sdk variant is reported as skipped and the rest is measured.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { generateText, stepCountIs, tool } from 'ai-v7';
import { MockLanguageModelV4 } from 'ai-v7/test';
import { resetEventBus, runContext } from 'agentbus';
import { AgentbusTelemetry } from 'agentbus/ai-sdk';
import { instrumentOtel } from 'agentbus/otel';
import { z } from 'zod';
import { CountingExporter } from './counting-exporter.js';
import { median, ratios, rotated, round, spread } from './measure.js';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const CALLS_PER_SAMPLE = 400;
const FLUSH_EVERY = 50; // a few hundred spans at most between flushes: the queue of 2,048 never fills
const SAMPLES = 11;
const WARM_UP_SAMPLES = 2;
const SDK_OTEL_PACKAGE = '@ai-sdk/otel';

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});
const toolTurn = {
  content: [
    { type: 'tool-call' as const, toolCallId: 'call-add', toolName: 'add', input: '{"a":2,"b":3}' },
    { type: 'tool-call' as const, toolCallId: 'call-lookup', toolName: 'lookup', input: '{"city":"Oslo"}' },
  ],
  finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
  usage: usage(12, 7),
  warnings: [],
};
const answerTurn = {
  content: [{ type: 'text' as const, text: 'The sum is 5; Oslo is mild.' }],
  finishReason: { unified: 'stop' as const, raw: 'stop' },
  usage: usage(30, 9),
  warnings: [],
};

let toolRuns = 0;
const tools = {
  add: tool({ inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => { toolRuns++; return a + b; } }),
  lookup: tool({ inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => { toolRuns++; return `${city}: 14°C`; } }),
};

type Integration = NonNullable<NonNullable<Parameters<typeof generateText>[0]['telemetry']>['integrations']>;
/** One call; a fresh mock each time (it records its calls, and answers them in order). */
async function call(integrations: Integration | undefined): Promise<void> {
  const result = await generateText({
    model: new MockLanguageModelV4({ doGenerate: [toolTurn, answerTurn] }),
    tools,
    prompt: 'Add 2 and 3, then look up Oslo.',
    stopWhen: stepCountIs(5),
    ...(integrations === undefined ? {} : { telemetry: { integrations } }),
  });
  if (result.text !== answerTurn.content[0]!.text) throw new Error(`unexpected answer: ${result.text}`);
}

const exporter = new CountingExporter();
const processor = new BatchSpanProcessor(exporter);
const provider = new BasicTracerProvider({ spanProcessors: [processor] });

let sdkOtel: Integration | undefined;
let sdkSkipped: string | undefined;
try {
  const { OpenTelemetry } = (await import(SDK_OTEL_PACKAGE)) as { OpenTelemetry: new (options: { tracer: unknown }) => Integration };
  sdkOtel = new OpenTelemetry({ tracer: provider.getTracer('ai') });
} catch (error) {
  sdkSkipped = `${SDK_OTEL_PACKAGE} (the AI SDK 7's own OpenTelemetry integration) could not be imported: ${(error as Error).message.split('\n')[0]}`;
}

resetEventBus({});
const bridge = instrumentOtel({ tracerProvider: provider });
const ours = new AgentbusTelemetry();

const variants: Record<string, () => Promise<void>> = {
  untraced: () => call(undefined),
  ...(sdkOtel === undefined ? {} : { sdk: () => call(sdkOtel) }),
  ours: () => runContext(() => call(ours)),
};

const us: Record<string, number[]> = {};
const spans: Record<string, number> = {};
const toolRunsBy: Record<string, number> = {};
for (const name of Object.keys(variants)) {
  us[name] = [];
  spans[name] = 0;
  toolRunsBy[name] = 0;
}
const names = Object.keys(variants);
for (let s = -WARM_UP_SAMPLES; s < SAMPLES; s++) {
  // Which variant goes first rotates: none always follows the same one.
  for (const name of rotated(names, s)) {
    const run = variants[name]!;
    globalThis.gc?.();
    const exportedBefore = exporter.spans;
    const toolRunsBefore = toolRuns;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS_PER_SAMPLE; i++) {
      await run();
      if ((i + 1) % FLUSH_EVERY === 0) await processor.forceFlush();
    }
    const elapsed = Number(process.hrtime.bigint() - t0);
    // Anything a variant ends late (after its call resolved) is still its own.
    await new Promise((resolve) => setTimeout(resolve, 10));
    await processor.forceFlush();
    spans[name]! += exporter.spans - exportedBefore;
    toolRunsBy[name]! += toolRuns - toolRunsBefore;
    if (s >= 0) us[name]!.push(elapsed / CALLS_PER_SAMPLE / 1000);
  }
}
bridge.shutdown();

const calls = (SAMPLES + WARM_UP_SAMPLES) * CALLS_PER_SAMPLE;
const overhead = (name: string) => us[name]!.map((v, i) => v - us.untraced![i]!);
const perCall = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, round(v / calls, 3)]));
// Every variant must have done the same work: two tool runs per call.
const valid = Object.values(toolRunsBy).every((n) => n === 2 * calls) && spans.untraced === 0;
const ourOverhead = overhead('ours');
const result: Record<string, unknown> = {
  method: `${SAMPLES} samples of ${CALLS_PER_SAMPLE} generateText calls per variant after ${WARM_UP_SAMPLES} warm-up, alternating; forceFlush every ${FLUSH_EVERY} calls, timed; overhead and ratio per sample`,
  usPerCall: Object.fromEntries(Object.entries(us).map(([k, v]) => [k, spread(v)])),
  overheadUsPerCall: { ours: spread(ourOverhead), ...(sdkOtel === undefined ? {} : { sdk: spread(overhead('sdk')) }) },
  exportedSpansPerCall: perCall(spans),
  toolRunsPerCall: perCall(toolRunsBy),
  valid,
};
if (sdkOtel === undefined) {
  result.oursVsSdk = { skipped: sdkSkipped, target: '<= 1.0' };
} else {
  const r = ratios(ourOverhead, overhead('sdk'));
  result.oursVsSdk = { ratio: spread(r), target: '<= 1.0', ok: valid && median(r) <= 1 };
}
process.stdout.write(`${JSON.stringify({ node: process.version, ...result })}\n`);
