// One run is one trace, on one clock with the OpenTelemetry SDK: spans the SDK
// makes itself inside a step (an instrumented HTTP call in a tool) start no
// earlier than the step, however far the wall clock has drifted from the
// monotonic one; a run of helpers with no agent gets a root span of its own.
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { traceModel } from '../src/trace.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/bridge.js';
import { byName, makeTelemetry, parentOf, type Telemetry, useAsyncContextManager } from './otel-harness.js';

useAsyncContextManager();

let tel: Telemetry;
let bridge: OtelBridge;
const realDateNow = Date.now;

beforeEach(() => {
  resetEventBus({});
  tel = makeTelemetry();
  bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
});
afterEach(() => {
  Date.now = realDateNow;
  bridge.shutdown();
});

/** Nanoseconds since the epoch of an SDK span time, exact (HrTime is [s, ns]). */
function ns(time: readonly [number, number]): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

/** 200 tools, each opening an SDK span at once (as an instrumented fetch would); pairs of [tool, child]. */
async function toolsWithSdkChildren(): Promise<Array<[ReadableSpan, ReadableSpan]>> {
  const sdkTracer = tel.sdkTracerProvider.getTracer('app');
  await runContext(async () => {
    for (let i = 0; i < 200; i++) {
      await traceTool({ name: `fetch${i}`, args: {} }, async () => {
        sdkTracer.startSpan(`GET /${i}`).end();
        // A little work after the child, as a tool parsing a response would do.
        for (let spin = 0; spin < 200; spin++) Math.sqrt(spin);
      });
    }
  });
  const spans = tel.spans();
  return Array.from({ length: 200 }, (_, i) => {
    const tool = byName(spans, `execute_tool fetch${i}`);
    const child = byName(spans, `GET /${i}`);
    expect(parentOf(child)).toBe(tool.spanContext().spanId);
    return [tool, child];
  });
}

function earlyChildren(pairs: Array<[ReadableSpan, ReadableSpan]>): number {
  return pairs.filter(([tool, child]) => ns(child.startTime) < ns(tool.startTime)).length;
}

describe('one clock with the OpenTelemetry SDK', () => {
  it('an SDK span opened inside a step never starts before it (200 children)', async () => {
    const pairs = await toolsWithSdkChildren();
    expect(earlyChildren(pairs)).toBe(0);
  });

  it('holds when the wall clock has drifted behind the monotonic clock, as over a long process', async () => {
    // NTP slews the wall clock and not performance.now(): after hours the two
    // differ by milliseconds. Model a wall clock 50 ms behind.
    Date.now = () => realDateNow() - 50;
    const pairs = await toolsWithSdkChildren();
    expect(earlyChildren(pairs)).toBe(0);
    // The steps sit on the wall clock the SDK reads, not 50 ms off it: off, every
    // child would start ~50 ms from its tool. The smallest gap of the 200 says
    // which; the first pair alone measured a cold start too (8 ms once, in CI).
    const gapsMs = pairs.map(([tool, child]) => Number(ns(child.startTime) - ns(tool.startTime)) / 1e6);
    expect(Math.min(...gapsMs)).toBeLessThan(5);
  });

  it('holds when the wall clock runs ahead', async () => {
    Date.now = () => realDateNow() + 50;
    const pairs = await toolsWithSdkChildren();
    expect(earlyChildren(pairs)).toBe(0);
  });
});

describe('one run, one trace', () => {
  it('gives a run of helpers with no agent a root span named from the run, and puts every step under it', async () => {
    await runContext(
      async () => {
        await traceModel({ model: 'gpt-4o', provider: 'openai', messageCount: 1, toolCount: 1 }, async () => ({
          stopReason: 'tool_calls',
          toolCallCount: 1,
          content: '',
        }));
        await traceTool({ name: 'search', args: { q: 'x' } }, async () => 'found');
        emit('app.note', {});
        await traceModel({ model: 'gpt-4o', provider: 'openai', messageCount: 3, toolCount: 1 }, async () => ({
          stopReason: 'stop',
          toolCallCount: 0,
          content: 'done',
        }));
      },
      { name: 'nightly-report' },
    );
    const spans = tel.spans();
    expect(spans.map((s) => s.name)).toEqual(['chat gpt-4o', 'execute_tool search', 'chat gpt-4o', 'invoke_workflow nightly-report']);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    const root = byName(spans, 'invoke_workflow nightly-report');
    expect(parentOf(root)).toBeUndefined();
    expect(root.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_workflow',
      'gen_ai.workflow.name': 'nightly-report',
      'agentbus.run.status': 'ok',
    });
    for (const span of spans) if (span !== root) expect(parentOf(span)).toBe(root.spanContext().spanId);
    expect(root.status.code).toBe(SpanStatusCode.UNSET);
    expect([...tel.endCalls.values()].every((n) => n === 1)).toBe(true);
  });

  it('marks the root span of a failed run with the error', async () => {
    const failure = new TypeError('bad input');
    await runContext(
      async () => {
        await traceTool({ name: 'parse', args: {} }, async () => 'ok');
        throw failure;
      },
      { name: 'job' },
    ).catch(() => {});
    const root = byName(tel.spans(), 'invoke_workflow job');
    expect(root.status).toEqual({ code: SpanStatusCode.ERROR, message: 'TypeError: bad input' });
    expect(root.attributes['error.type']).toBe('TypeError');
    expect(root.attributes['agentbus.run.status']).toBe('error');
  });

  it('keeps an agent invocation at the top of a run as the root, with no extra span', async () => {
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'planner' });
      await agent.run(() => traceTool({ name: 'lookup', args: {} }, async () => 1));
      agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '' });
      // A helper after the agent, at the top of the run: same trace, under the agent that heads it.
      await traceTool({ name: 'cleanup', args: {} }, async () => 2);
    }, { name: 'with-agent' });
    const spans = tel.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['execute_tool cleanup', 'execute_tool lookup', 'invoke_agent planner']);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(parentOf(byName(spans, 'invoke_agent planner'))).toBeUndefined();
  });

  it('hangs the run (and its root) under the span active where runContext was called', async () => {
    const outer = tel.sdkTracerProvider.getTracer('app').startSpan('HTTP POST /jobs');
    await context.with(trace.setSpan(context.active(), outer), () =>
      runContext(() => traceTool({ name: 'work', args: {} }, async () => 1), { name: 'job' }),
    );
    outer.end();
    const root = byName(tel.spans(), 'invoke_workflow job');
    expect(parentOf(root)).toBe(outer.spanContext().spanId);
    expect(root.spanContext().traceId).toBe(outer.spanContext().traceId);
  });
});
