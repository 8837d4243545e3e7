import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventBus } from '../src/bus.js';
import { getEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { traceFanout, traceModel, type TokenUsage } from '../src/trace.js';
import type { StreamEvent } from '../src/events.js';
import { VERSION } from '../src/version.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import {
  ATTR_ERROR_TYPE,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_LATEST,
  OPERATION_DURATION_BUCKETS,
  TOKEN_USAGE_BUCKETS,
} from '../src/otel/semconv.js';
import { byName, histogramPoints, ms, parentOf, useAsyncContextManager, useBridge } from './otel-harness.js';

useAsyncContextManager();

const fx = useBridge();
const { tel, attach } = fx;

const modelInfo = { model: 'gpt-4o', provider: 'openai', messageCount: 2, toolCount: 1 };

/** One agent invocation: a model call that asks for a tool, the tool, a second model call. */
async function agentTurn(options: { toolArgs?: unknown; tokens?: [number, number][] } = {}): Promise<void> {
  const tokens = options.tokens ?? [[120, 30], [200, 40]];
  const agent = startStep('agent.invocation.started', { agentName: 'planner', agentId: 'a-1', model: 'gpt-4o', provider: 'openai' });
  await agent.run(async () => {
    await traceModel(modelInfo, async () => ({
      stopReason: 'tool_calls',
      toolCallCount: 1,
      content: '',
      usage: { inputTokens: tokens[0]![0], outputTokens: tokens[0]![1], cacheReadInputTokens: 100 },
    }));
    emit('agent.think', { iteration: 1, reasoningPreview: 'I should add the numbers', hasToolCalls: true, toolCallCount: 1 });
    await traceTool({ name: 'add', args: options.toolArgs ?? { a: 1, b: 2 }, toolCallId: 'call-1' }, async () => 3);
    await traceModel(modelInfo, async () => ({
      stopReason: 'stop',
      toolCallCount: 0,
      content: 'The sum is 3',
      usage: { inputTokens: tokens[1]![0], outputTokens: tokens[1]![1] },
    }));
  });
  agent.end({ reason: 'completed', iterationsUsed: 2, totalToolCalls: 1, finalMessagePreview: 'The sum is 3' });
}

function historyOf(runId: string): StreamEvent[] {
  return getEventBus().history(runId);
}

describe('instrumentOtel spans', () => {
  it('turns an agent turn into invoke_agent, chat and execute_tool spans of one trace with GenAI attributes', async () => {
    attach();
    await runContext(() => agentTurn(), { runId: 'run-basic' });
    const spans = tel.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['chat gpt-4o', 'chat gpt-4o', 'execute_tool add', 'invoke_agent planner']);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);

    const agent = byName(spans, 'invoke_agent planner');
    expect(agent.kind).toBe(SpanKind.INTERNAL);
    expect(parentOf(agent)).toBeUndefined();
    expect(agent.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.agent.id': 'a-1',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'agentbus.run.id': 'run-basic',
      'agentbus.agent.terminate_reason': 'completed',
    });

    const chats = spans.filter((s) => s.name === 'chat gpt-4o');
    for (const chat of chats) {
      expect(chat.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(chat)).toBe(agent.spanContext().spanId);
      expect(chat.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.provider.name': 'openai',
      });
    }
    expect(chats.map((c) => c.attributes['gen_ai.response.finish_reasons'])).toEqual([['tool_calls'], ['stop']]);

    const tool = byName(spans, 'execute_tool add');
    expect(tool.kind).toBe(SpanKind.INTERNAL);
    expect(parentOf(tool)).toBe(agent.spanContext().spanId);
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'add',
      'gen_ai.tool.call.id': 'call-1',
      'gen_ai.tool.type': 'function',
    });
    expect(tool.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('times spans from the events: on the wall clock the SDK reads, durations exact', async () => {
    attach();
    await runContext(() => agentTurn(), { runId: 'run-times' });
    const events = historyOf('run-times');
    const tool = byName(tel.spans(), 'execute_tool add');
    const started = events.find((e) => e.eventType === 'agent.tool.started')!;
    const completed = events.find((e) => e.eventType === 'agent.tool.completed')!;
    // Placed as the SDK places its own spans: the wall clock (Date.now) read at creation.
    const drift = Date.now() - (performance.timeOrigin + performance.now());
    expect(Math.abs(ms(tool.startTime) - (started.timestamp + drift))).toBeLessThan(2);
    expect(Math.abs(ms(tool.endTime) - ms(tool.startTime) - (completed.timestamp - started.timestamp))).toBeLessThan(0.01);
    const agent = byName(tel.spans(), 'invoke_agent planner');
    const invoked = events.find((e) => e.eventType === 'agent.invocation.started')!;
    const terminate = events.find((e) => e.eventType === 'agent.terminate')!;
    // A parent ends no earlier than its children, whose starts read the wall clock a little later: up to 1 ms longer.
    const stretch = ms(agent.endTime) - ms(agent.startTime) - (terminate.timestamp - invoked.timestamp);
    expect(stretch).toBeGreaterThan(-0.01);
    expect(stretch).toBeLessThan(1.01);
    // Children inside their parent.
    for (const span of tel.spans()) {
      if (span === agent) continue;
      expect(ms(span.startTime)).toBeGreaterThanOrEqual(ms(agent.startTime));
      expect(ms(span.endTime)).toBeLessThanOrEqual(ms(agent.endTime));
    }
  });

  it('puts token usage on each chat span and the sum on invoke_agent', async () => {
    attach();
    await runContext(() => agentTurn({ tokens: [[120, 30], [200, 40]] }));
    const spans = tel.spans();
    const chats = spans.filter((s) => s.name === 'chat gpt-4o');
    expect(chats.map((c) => [c.attributes['gen_ai.usage.input_tokens'], c.attributes['gen_ai.usage.output_tokens']])).toEqual([
      [120, 30],
      [200, 40],
    ]);
    expect(chats[0]!.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(100);
    expect(chats[1]!.attributes['gen_ai.usage.cache_read.input_tokens']).toBeUndefined();
    const agent = byName(spans, 'invoke_agent planner');
    expect(agent.attributes['gen_ai.usage.input_tokens']).toBe(320);
    expect(agent.attributes['gen_ai.usage.output_tokens']).toBe(70);
    expect(agent.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(100);
    expect(byName(spans, 'execute_tool add').attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  });

  it('makes two concurrent calls of the same tool two spans, each with its own call id', async () => {
    attach();
    await runContext(async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const a = traceTool({ name: 'search', args: { q: 'a' }, toolCallId: 'call-a' }, () => gate.then(() => 'A'));
      const b = traceTool({ name: 'search', args: { q: 'b' }, toolCallId: 'call-b' }, () => gate.then(() => 'B'));
      release();
      await Promise.all([a, b]);
    });
    const tools = tel.spans().filter((s) => s.name === 'execute_tool search');
    expect(tools).toHaveLength(2);
    expect(tools.map((t) => t.attributes['gen_ai.tool.call.id']).sort()).toEqual(['call-a', 'call-b']);
    expect(tools[0]!.spanContext().spanId).not.toBe(tools[1]!.spanContext().spanId);
    expect([...tel.endCalls.values()].every((n) => n === 1)).toBe(true);
  });

  it('marks a tool that throws with ERROR status and error.type from the error class', async () => {
    attach();
    await runContext(async () => {
      expect(() =>
        traceTool({ name: 'divide', args: { a: 1, b: 0 } }, () => {
          throw new RangeError('division by zero');
        }),
      ).toThrow('division by zero');
      traceTool({ name: 'ok', args: {} }, () => 1);
    }).catch(() => {});
    const failed = byName(tel.spans(), 'execute_tool divide');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'RangeError: division by zero' });
    expect(failed.attributes[ATTR_ERROR_TYPE]).toBe('RangeError');
    const ok = byName(tel.spans(), 'execute_tool ok');
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);
    expect(ok.attributes[ATTR_ERROR_TYPE]).toBeUndefined();
  });

  it('marks a failed model call with ERROR status and error.type', async () => {
    attach();
    await runContext(async () => {
      await traceModel(modelInfo, async () => {
        throw new TypeError('bad request');
      }).catch(() => {});
    });
    const chat = byName(tel.spans(), 'chat gpt-4o');
    expect(chat.status.code).toBe(SpanStatusCode.ERROR);
    expect(chat.attributes[ATTR_ERROR_TYPE]).toBe('TypeError');
  });

  it('parents invoke_agent to the span active where runContext was called', async () => {
    attach();
    const caller = tel.sdkTracerProvider.getTracer('caller');
    let requestSpanId = '';
    let requestTraceId = '';
    await caller.startActiveSpan('GET /ask', async (span) => {
      requestSpanId = span.spanContext().spanId;
      requestTraceId = span.spanContext().traceId;
      await runContext(() => agentTurn());
      span.end();
    });
    const agent = byName(tel.spans(), 'invoke_agent planner');
    expect(parentOf(agent)).toBe(requestSpanId);
    expect(agent.spanContext().traceId).toBe(requestTraceId);
  });

  it('runs a tool body in the tool span context, so spans made inside are its children', async () => {
    attach();
    const inner = tel.sdkTracerProvider.getTracer('inner');
    await runContext(() =>
      traceTool({ name: 'fetch_page', args: {} }, async () => {
        await new Promise((r) => setTimeout(r, 1));
        inner.startSpan('inner work').end();
      }),
    );
    const tool = byName(tel.spans(), 'execute_tool fetch_page');
    const work = byName(tel.spans(), 'inner work');
    expect(parentOf(work)).toBe(tool.spanContext().spanId);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('nests a child run under the step of the parent run that started it', async () => {
    attach();
    await runContext(async () => {
      await traceTool({ name: 'delegate', args: {} }, () => runContext(() => agentTurn(), { runId: 'child-run' }));
    }, { runId: 'parent-run' });
    const spans = tel.spans();
    const delegate = byName(spans, 'execute_tool delegate');
    const child = byName(spans, 'invoke_agent planner');
    expect(parentOf(child)).toBe(delegate.spanContext().spanId);
    expect(child.attributes['agentbus.run.id']).toBe('child-run');
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('parents the agents of a fan-out to one invoke_workflow span, named for its workflow', async () => {
    attach();
    await runContext(async () => {
      await traceFanout({ mergeStrategy: 'concat', name: 'research' }, [() => agentTurn(), () => agentTurn()]);
    }, { name: 'job' });
    const spans = tel.spans();
    const fanout = byName(spans, 'invoke_workflow research');
    expect(fanout.kind).toBe(SpanKind.INTERNAL);
    expect(fanout.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_workflow',
      'gen_ai.workflow.name': 'research',
      'agentbus.fanout.agent_count': 2,
      'agentbus.fanout.succeeded': 2,
      'agentbus.fanout.failed': 0,
    });
    // Under the run's own root (a fan-out is not an agent); not measured as an operation.
    expect(parentOf(fanout)).toBe(byName(spans, 'invoke_workflow job').spanContext().spanId);
    await tel.collect();
    const operations = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)).map((p) => p.attributes['gen_ai.operation.name']);
    expect(operations).not.toContain('invoke_workflow');
    const agents = spans.filter((s) => s.name === 'invoke_agent planner');
    expect(agents).toHaveLength(2);
    for (const agent of agents) expect(parentOf(agent)).toBe(fanout.spanContext().spanId);
    // Each agent sums only its own model calls.
    for (const agent of agents) expect(agent.attributes['gen_ai.usage.input_tokens']).toBe(320);
  });

  it('records agent.think and checkpoints as span events on the enclosing span', async () => {
    attach();
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'memo' });
      agent.run(() => {
        emit('agent.think', { iteration: 1, reasoningPreview: 'secret plan', hasToolCalls: false, toolCallCount: 0 });
        emit('memory.checkpoint.saved', { threadId: 't-1', iteration: 1, backend: 'memory' });
      });
      agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '' });
    }, { runId: 'run-events' });
    const span = byName(tel.spans(), 'invoke_agent memo');
    expect(span.events.map((e) => e.name)).toEqual(['agentbus.agent.think', 'agentbus.memory.checkpoint.saved']);
    expect(span.events[0]!.attributes).toEqual({ 'agentbus.iteration': 1, 'agentbus.has_tool_calls': false, 'agentbus.tool_call_count': 0 });
    expect(span.events[1]!.attributes).toMatchObject({ 'agentbus.checkpoint.thread_id': 't-1', 'agentbus.checkpoint.backend': 'memory' });
    const history = historyOf('run-events');
    const thinkEvent = history.find((e) => e.eventType === 'agent.think')!;
    const invoked = history.find((e) => e.eventType === 'agent.invocation.started')!;
    expect(Math.abs(ms(span.events[0]!.time) - ms(span.startTime) - (thinkEvent.timestamp - invoked.timestamp))).toBeLessThan(0.01);
  });

  it('keeps two interleaved runs in two separate traces', async () => {
    attach();
    await Promise.all([runContext(() => agentTurn(), { runId: 'r-a' }), runContext(() => agentTurn(), { runId: 'r-b' })]);
    const spans = tel.spans();
    expect(spans).toHaveLength(8);
    const traceOf = (runId: string) => new Set(spans.filter((s) => s.attributes['agentbus.run.id'] === runId).map((s) => s.spanContext().traceId));
    expect(traceOf('r-a').size).toBe(1);
    expect(traceOf('r-b').size).toBe(1);
    expect([...traceOf('r-a')][0]).not.toBe([...traceOf('r-b')][0]);
  });
});

describe('instrumentOtel content capture', () => {
  const longArgs = { text: 'x'.repeat(5000) };

  it('leaves tool arguments, results and reasoning out by default', async () => {
    attach();
    await runContext(() => agentTurn({ toolArgs: longArgs }), { captureContent: true });
    const tool = byName(tel.spans(), 'execute_tool add');
    expect(tool.attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    expect(tool.attributes['gen_ai.tool.call.result']).toBeUndefined();
    const think = byName(tel.spans(), 'invoke_agent planner').events.find((e) => e.name === 'agentbus.agent.think')!;
    expect(think.attributes?.['agentbus.reasoning']).toBeUndefined();
  });

  it('with captureContent records them, cut to maxContentLength so that their JSON stays valid', async () => {
    attach({ captureContent: true, maxContentLength: 100 });
    await runContext(() => agentTurn({ toolArgs: longArgs }), { captureContent: true });
    const tool = byName(tel.spans(), 'execute_tool add');
    const args = tool.attributes['gen_ai.tool.call.arguments'] as string;
    expect(args.length).toBeLessThanOrEqual(100);
    expect(args.length).toBeGreaterThan(90);
    const parsed = JSON.parse(args) as { text: string };
    expect(parsed.text.startsWith('xxx')).toBe(true);
    expect(parsed.text.endsWith('…')).toBe(true);
    expect(tool.attributes['agentbus.content.truncated']).toBe(true);
    expect(tool.attributes['gen_ai.tool.call.result']).toBe('3');
    const think = byName(tel.spans(), 'invoke_agent planner').events.find((e) => e.name === 'agentbus.agent.think')!;
    expect(think.attributes?.['agentbus.reasoning']).toBe('I should add the numbers');
  });

  it('records no arguments when the run itself did not capture them', async () => {
    attach({ captureContent: true });
    await runContext(() => agentTurn());
    expect(byName(tel.spans(), 'execute_tool add').attributes['gen_ai.tool.call.arguments']).toBeUndefined();
  });
});

describe('instrumentOtel unfinished spans', () => {
  it('ends a step that never closes once, with ERROR and error.type=unfinished, when its run ends', async () => {
    attach();
    await runContext(async () => {
      startStep('agent.tool.started', { toolName: 'hang', toolCallId: 'c-h', argKeys: [] });
    }, { runId: 'run-unfinished' });
    const span = byName(tel.spans(), 'execute_tool hang');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
    const history = historyOf('run-unfinished');
    const started = history.find((e) => e.eventType === 'agent.tool.started')!;
    const completed = history.find((e) => e.eventType === 'run.completed')!;
    expect(Math.abs(ms(span.endTime) - ms(span.startTime) - (completed.timestamp - started.timestamp))).toBeLessThan(0.01);
    expect(tel.endCalls.get(span.spanContext().spanId)).toBe(1);
    // The run had no agent at its top: the run itself is the root, and it completed fine.
    const root = byName(tel.spans(), 'invoke_workflow');
    expect(parentOf(span)).toBe(root.spanContext().spanId);
    expect(root.status.code).toBe(SpanStatusCode.UNSET);
    expect(tel.endCalls.get(root.spanContext().spanId)).toBe(1);
    expect(fx.bridge!.stats()).toEqual({ runs: 0, openSpans: 0 });
  });

  it('defers closeStream called inside a run until run.completed, so the last event is kept', async () => {
    attach();
    await runContext(async (runId) => {
      startStep('agent.model.started', modelInfo);
      getEventBus().closeStream(runId);
      expect(tel.spans()).toHaveLength(0);
      emit('demo.after_close', {});
    }, { runId: 'closed-inside' });
    expect(historyOf('closed-inside').map((e) => e.eventType)).toEqual(['run.started', 'agent.model.started', 'demo.after_close', 'run.completed']);
    expect(getEventBus().isClosed('closed-inside')).toBe(true);
    expect(byName(tel.spans(), 'chat gpt-4o').attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
  });

  it('ignores a closing event that arrives after the run ended the span', async () => {
    attach();
    let release!: () => void;
    let late!: Promise<unknown>;
    const aborted = new Error('stop');
    aborted.name = 'AbortError';
    await runContext(async () => {
      late = traceTool({ name: 'slow', args: {} }, () => new Promise((r) => (release = () => r('done'))));
      throw aborted;
      // Kept open, so the late closing event still reaches the bus (and the bridge).
    }, { runId: 'run-aborted', keepOpen: true }).catch(() => {});
    release();
    await late;
    expect(historyOf('run-aborted').map((e) => e.eventType)).toEqual(['run.started', 'agent.tool.started', 'run.completed', 'agent.tool.completed']);
    const spans = tel.spans();
    expect(spans.map((s) => s.name)).toEqual(['execute_tool slow', 'invoke_workflow']);
    expect(spans[0]!.attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
    // The run's own root span carries how the run ended.
    // The run's own root span carries how the run ended: aborted, by an AbortError.
    expect(spans[1]!.attributes[ATTR_ERROR_TYPE]).toBe('AbortError');
    expect(spans[1]!.attributes['agentbus.run.status']).toBe('aborted');
    expect([...tel.endCalls.values()]).toEqual([1, 1]);
  });

  it('ends open spans when a run stream is closed without run.completed', async () => {
    attach();
    // A producer publishing straight to the bus (no runContext) closes the stream mid-step.
    const bus = getEventBus();
    const at = performance.timeOrigin + performance.now();
    bus.publish({ eventId: '', runId: 'direct', seq: 0, eventType: 'run.started', timestamp: at, data: {} });
    bus.publish({ eventId: '', runId: 'direct', seq: 0, eventType: 'agent.model.started', timestamp: at, spanId: '00000000000000a1', data: modelInfo });
    expect(tel.spans()).toHaveLength(0);
    bus.closeStream('direct');
    expect(tel.spans().map((s) => s.name)).toEqual(['chat gpt-4o', 'invoke_workflow']);
    const chat = byName(tel.spans(), 'chat gpt-4o');
    expect(chat.attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
    expect(byName(tel.spans(), 'invoke_workflow').attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
    expect(tel.endCalls.get(chat.spanContext().spanId)).toBe(1);
  });

  it('ends open spans once on shutdown and then stops listening', async () => {
    const b = attach();
    let release!: () => void;
    const run = runContext(async () => {
      startStep('agent.invocation.started', { agentName: 'left-open' });
      await new Promise<void>((r) => (release = r));
      traceTool({ name: 'after', args: {} }, () => 1);
    });
    await Promise.resolve();
    b.shutdown();
    b.shutdown();
    release();
    await run;
    expect(tel.spans().map((s) => s.name)).toEqual(['invoke_agent left-open']);
    expect(tel.spans()[0]!.attributes[ATTR_ERROR_TYPE]).toBe('unfinished');
    expect([...tel.endCalls.values()]).toEqual([1]);
  });

  it('under any interleaving of step starts, ends, stream close and run end, every span is exported and ended exactly once', () => {
    type Op = { kind: 'start'; step: number } | { kind: 'end'; step: number } | { kind: 'close' } | { kind: 'think'; step: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), step: fc.nat(5) }),
      fc.record({ kind: fc.constant('end' as const), step: fc.nat(5) }),
      fc.record({ kind: fc.constant('think' as const), step: fc.nat(5) }),
      fc.constant({ kind: 'close' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.boolean(), (ops, completeRun) => {
        const bus: EventBus = resetEventBus({})!;
        fx.renew();
        const b = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, bus });
        let t = 1_700_000_000_000;
        const publish = (eventType: string, data: object, spanId?: string, parentSpanId?: string) =>
          bus.publish({ eventId: '', runId: 'p', seq: 0, eventType, timestamp: (t += 1), spanId, parentSpanId, data });
        publish('run.started', {});
        // A model of what the bus accepts and the bridge should open.
        const open = new Set<number>();
        let closed = false;
        let expectedSpans = 0;
        let rooted = false;
        for (const o of ops) {
          const spanId = `s${'step' in o ? o.step : 0}`;
          const parent = 'step' in o && o.step > 0 ? `s${o.step - 1}` : undefined;
          if (o.kind === 'start') {
            // The first top-level tool (no agent above it) opens the run's own root span.
            if (!closed && parent === undefined && !rooted) (rooted = true), expectedSpans++;
            if (!closed && !open.has(o.step)) expectedSpans++;
            if (!closed) open.add(o.step);
            publish('agent.tool.started', { toolName: `t${o.step}`, toolCallId: spanId, argKeys: [] }, spanId, parent);
          } else if (o.kind === 'end') {
            open.delete(o.step);
            publish('agent.tool.completed', { toolName: `t${o.step}`, toolCallId: spanId, success: true, durationMs: 1 }, spanId, parent);
          } else if (o.kind === 'think') {
            publish('agent.think', { iteration: 1, reasoningPreview: '', hasToolCalls: false, toolCallCount: 0 }, undefined, spanId);
          } else {
            closed = true;
            bus.closeStream('p');
          }
        }
        if (completeRun) publish('run.completed', { status: 'ok', durationMs: 1 });
        b.shutdown();
        const ids = tel.spans().map((s) => s.spanContext().spanId);
        expect(new Set(ids).size).toBe(ids.length);
        expect([...tel.endCalls.values()].every((n) => n === 1)).toBe(true);
        expect(tel.endCalls.size).toBe(ids.length);
        expect(ids.length).toBe(expectedSpans);
        expect(b.stats()).toEqual({ runs: 0, openSpans: 0 });
      }),
      { numRuns: 300 },
    );
  });
});

describe('instrumentOtel error.type', () => {
  it("takes error.type from the event's errorType, and is _OTHER without one, whatever the error text says", async () => {
    attach();
    await runContext(async () => {
      const typed = startStep('agent.tool.started', { toolName: 'typed', toolCallId: 'c-typed', argKeys: [] });
      typed.end({ toolName: 'typed', toolCallId: 'c-typed', success: false, durationMs: 1, error: 'quota exceeded', errorType: 'QuotaError' });
      const untyped = startStep('agent.tool.started', { toolName: 'untyped', toolCallId: 'c-untyped', argKeys: [] });
      untyped.end({ toolName: 'untyped', toolCallId: 'c-untyped', success: false, durationMs: 1, error: 'RangeError: only text' });
      const model = startStep('agent.model.started', modelInfo);
      model.end({ stopReason: 'error', toolCallCount: 0, contentPreview: '', error: 'TypeError: only text' });
      const typedModel = startStep('agent.model.started', { ...modelInfo, model: 'typed-model' });
      typedModel.end({ stopReason: 'error', toolCallCount: 0, contentPreview: '', error: 'busy', errorType: 'RateLimitError' });
    });
    const spans = tel.spans();
    const typed = byName(spans, 'execute_tool typed');
    expect(typed.attributes[ATTR_ERROR_TYPE]).toBe('QuotaError');
    expect(typed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'quota exceeded' });
    const untyped = byName(spans, 'execute_tool untyped');
    expect(untyped.attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(untyped.status).toEqual({ code: SpanStatusCode.ERROR, message: 'RangeError: only text' });
    expect(byName(spans, 'chat gpt-4o').attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(byName(spans, 'chat typed-model').attributes[ATTR_ERROR_TYPE]).toBe('RateLimitError');
    await tel.collect();
    const points = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)!);
    const errorTypes = points.map((p) => `${String(p.attributes['gen_ai.operation.name'])} ${String(p.attributes['error.type'])}`).sort();
    expect(errorTypes).toEqual(['chat RateLimitError', 'chat _OTHER', 'execute_tool QuotaError', 'execute_tool _OTHER']);
  });

  it('reports _OTHER for an errorType that is free text or huge: one metric series per message is not a type', async () => {
    attach();
    await runContext(async () => {
      const prose = startStep('agent.tool.started', { toolName: 'prose', toolCallId: 'c-prose', argKeys: [] });
      prose.end({ toolName: 'prose', toolCallId: 'c-prose', success: false, durationMs: 1, error: 'x', errorType: 'quota exceeded for user 42' });
      const huge = startStep('agent.tool.started', { toolName: 'huge', toolCallId: 'c-huge', argKeys: [] });
      huge.end({ toolName: 'huge', toolCallId: 'c-huge', success: false, durationMs: 1, error: 'x', errorType: 'E'.repeat(200_000) });
    });
    const spans = tel.spans();
    expect(byName(spans, 'execute_tool prose').attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(byName(spans, 'execute_tool huge').attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
  });

  it('takes an integer code as error.type (the conventions\' `500`, JSON-RPC\'s `-32602`); rpc.response.status_code only on an MCP span', async () => {
    attach();
    await runContext(async () => {
      const http = startStep('agent.tool.started', { toolName: 'http', toolCallId: 'c-http', argKeys: [] });
      http.end({ toolName: 'http', toolCallId: 'c-http', success: false, durationMs: 1, error: 'HTTP 500', errorType: '500' });
      const mcp = startStep('agent.tool.started', { toolName: 'remote', toolCallId: 'c-mcp', argKeys: [], mcp: { method: 'tools/call', side: 'client' } });
      mcp.end({ toolName: 'remote', toolCallId: 'c-mcp', success: false, durationMs: 1, error: 'McpError: MCP error -32602: bad', errorType: '-32602' });
      const toolError = startStep('agent.tool.started', { toolName: 'result', toolCallId: 'c-result', argKeys: [], mcp: { method: 'tools/call', side: 'client' } });
      toolError.end({ toolName: 'result', toolCallId: 'c-result', success: false, durationMs: 1, error: 'no', errorType: 'tool_error' });
      const sentence = startStep('agent.tool.started', { toolName: 'sentence', toolCallId: 'c-s', argKeys: [], mcp: { method: 'tools/call', side: 'client' } });
      sentence.end({ toolName: 'sentence', toolCallId: 'c-s', success: false, durationMs: 1, error: 'x', errorType: '-32602 invalid params' });
    });
    const spans = tel.spans();
    const http = byName(spans, 'execute_tool http');
    expect(http.attributes[ATTR_ERROR_TYPE]).toBe('500');
    expect(http.attributes['rpc.response.status_code']).toBeUndefined();
    const mcp = byName(spans, 'tools/call remote');
    expect(mcp.attributes).toMatchObject({ [ATTR_ERROR_TYPE]: '-32602', 'rpc.response.status_code': '-32602' });
    expect(mcp.status).toEqual({ code: SpanStatusCode.ERROR, message: 'McpError: MCP error -32602: bad' });
    const result = byName(spans, 'tools/call result');
    expect(result.attributes[ATTR_ERROR_TYPE]).toBe('tool_error');
    expect(result.attributes['rpc.response.status_code']).toBeUndefined();
    const sentence = byName(spans, 'tools/call sentence');
    expect(sentence.attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(sentence.attributes['rpc.response.status_code']).toBeUndefined();
  });

  it('gives a thrown string "Name: message" _OTHER, on the tool span and the run root alike', async () => {
    attach();
    await runContext(async () => {
      expect(() =>
        traceTool({ name: 'throws_text', args: {} }, () => {
          throw 'SyntaxError: a string, not an Error';
        }),
      ).toThrow();
      throw 'RangeError: the run threw a string';
    }, { runId: 'thrown-strings' }).catch(() => {});
    const tool = byName(tel.spans(), 'execute_tool throws_text');
    expect(tool.attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(tool.status).toEqual({ code: SpanStatusCode.ERROR, message: 'SyntaxError: a string, not an Error' });
    const root = byName(tel.spans(), 'invoke_workflow');
    expect(root.attributes[ATTR_ERROR_TYPE]).toBe('_OTHER');
    expect(root.status).toEqual({ code: SpanStatusCode.ERROR, message: 'RangeError: the run threw a string' });
  });

  it("takes a run root's error.type from run.completed's errorType", async () => {
    attach();
    const bus = getEventBus();
    const at = performance.timeOrigin + performance.now();
    bus.publish({ eventId: '', runId: 'typed-run', seq: 0, eventType: 'run.started', timestamp: at, data: {} });
    bus.publish({ eventId: '', runId: 'typed-run', seq: 0, eventType: 'agent.tool.started', timestamp: at, spanId: '00000000000000b1', data: { toolName: 't', toolCallId: 'c', argKeys: [] } });
    bus.publish({ eventId: '', runId: 'typed-run', seq: 0, eventType: 'agent.tool.completed', timestamp: at + 1, spanId: '00000000000000b1', data: { toolName: 't', toolCallId: 'c', success: true, durationMs: 1 } });
    bus.publish({ eventId: '', runId: 'typed-run', seq: 0, eventType: 'run.completed', timestamp: at + 2, data: { status: 'error', error: 'Error: text', errorType: 'WorkflowError', durationMs: 2 } });
    const root = byName(tel.spans(), 'invoke_workflow');
    expect(root.attributes[ATTR_ERROR_TYPE]).toBe('WorkflowError');
    expect(root.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Error: text' });
  });
});

describe('instrumentOtel recommended attributes', () => {
  const tunedModel = {
    ...modelInfo,
    serverAddress: 'llm.example.test',
    serverPort: 8443,
    temperature: 0.2,
    maxTokens: 256,
    topP: 0.9,
    stream: true,
  };

  async function tunedCall(response: { responseModel?: string; responseId?: string; usage?: TokenUsage } = {}): Promise<void> {
    await traceModel(tunedModel, async () => ({ stopReason: 'stop', toolCallCount: 0, content: 'ok', ...response }));
  }

  it('puts the server, the request parameters and the response\'s model and id on the chat span', async () => {
    attach();
    await runContext(() =>
      tunedCall({
        responseModel: 'gpt-4o-2024-08-06',
        responseId: 'chatcmpl-9',
        usage: { inputTokens: 900, outputTokens: 10, cacheReadInputTokens: 40, cacheCreationInputTokens: 850 },
      }),
    );
    const chat = byName(tel.spans(), 'chat gpt-4o');
    expect(chat.attributes).toMatchObject({
      'server.address': 'llm.example.test',
      'server.port': 8443,
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.max_tokens': 256,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.stream': true,
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.response.id': 'chatcmpl-9',
      'gen_ai.usage.cache_read.input_tokens': 40,
      'gen_ai.usage.cache_creation.input_tokens': 850,
    });
  });

  it('sets none of them when the events do not carry them', async () => {
    attach();
    await runContext(() => agentTurn());
    const absent = [
      'server.address', 'server.port', 'gen_ai.request.temperature', 'gen_ai.request.max_tokens', 'gen_ai.request.top_p',
      'gen_ai.request.stream', 'gen_ai.response.model', 'gen_ai.response.id', 'gen_ai.usage.cache_creation.input_tokens',
      'gen_ai.conversation.id', 'gen_ai.tool.description',
    ];
    for (const span of tel.spans()) for (const key of absent) expect(span.attributes[key], `${span.name} ${key}`).toBeUndefined();
    // Zero is a value, not an absence: a request that sets temperature 0 and no stream says so.
    await runContext(() => traceModel({ ...modelInfo, model: 'zero', temperature: 0, stream: false }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '' })));
    expect(byName(tel.spans(), 'chat zero').attributes).toMatchObject({ 'gen_ai.request.temperature': 0, 'gen_ai.request.stream': false });
  });

  it('sets server.port only beside server.address, and drops values of the wrong type an adapter could send', async () => {
    attach();
    await runContext(async () => {
      await traceModel({ ...modelInfo, model: 'port-only', serverPort: 443 }, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '' }));
      const hostile = { ...modelInfo, model: 'hostile', serverAddress: 42, serverPort: 70_000, temperature: 'hot', maxTokens: Number.NaN } as unknown as typeof modelInfo;
      await traceModel(hostile, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '', responseId: 7 as unknown as string }));
    });
    const portOnly = byName(tel.spans(), 'chat port-only');
    expect(portOnly.attributes['server.port']).toBeUndefined();
    const hostile = byName(tel.spans(), 'chat hostile');
    for (const key of ['server.address', 'server.port', 'gen_ai.request.temperature', 'gen_ai.request.max_tokens', 'gen_ai.response.id']) {
      expect(hostile.attributes[key], key).toBeUndefined();
    }
  });

  it('puts the tool\'s description on its execute_tool span', async () => {
    attach();
    await runContext(async () => {
      await traceTool({ name: 'add', args: { a: 1 }, description: 'Adds two numbers.' }, () => 3);
      await traceTool({ name: 'plain', args: {} }, () => 1);
    });
    expect(byName(tel.spans(), 'execute_tool add').attributes['gen_ai.tool.description']).toBe('Adds two numbers.');
    expect(byName(tel.spans(), 'execute_tool plain').attributes['gen_ai.tool.description']).toBeUndefined();
  });

  it('measures a chat with its server and the model that answered, never an id or a request parameter', async () => {
    attach();
    await runContext(() => tunedCall({ responseModel: 'gpt-4o-2024-08-06', responseId: 'chatcmpl-9' }), { conversationId: 'conv-1' });
    await runContext(() => traceModel(modelInfo, async () => ({ stopReason: 'stop', toolCallCount: 0, content: '' })));
    await tel.collect();
    const chats = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)).map((p) => p.attributes);
    expect(chats).toContainEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'server.address': 'llm.example.test',
      'server.port': 8443,
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
    });
    // Without a server or a response model: none of those keys.
    expect(chats).toContainEqual({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' });
    expect(chats).toHaveLength(2);
  });

  it("measures a tool without a provider, inside an agent or not: the agent's model provider is not the tool's", async () => {
    attach();
    await runContext(async () => {
      await agentTurn();
      await traceTool({ name: 'loose', args: {} }, () => 1);
      await traceTool({ name: 'failing', args: {} }, () => Promise.reject(new RangeError('no'))).catch(() => {});
    });
    await tel.collect();
    const tools = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION))
      .filter((p) => p.attributes['gen_ai.operation.name'] === 'execute_tool')
      .map((p) => [p.attributes, p.value.count]);
    expect(tools).toEqual([
      [{ 'gen_ai.operation.name': 'execute_tool' }, 2],
      [{ 'gen_ai.operation.name': 'execute_tool', 'error.type': 'RangeError' }, 1],
    ]);
    // The agent keeps its own.
    const agent = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)).find((p) => p.attributes['gen_ai.operation.name'] === 'invoke_agent');
    expect(agent?.attributes).toEqual({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' });
  });

  it("puts the run's conversation id on its agent and chat spans, and on those of its nested runs", async () => {
    attach();
    await runContext(async () => {
      await agentTurn();
      await traceTool({ name: 'delegate', args: {} }, () => runContext(() => tunedCall(), { runId: 'conv-child' }));
    }, { runId: 'conv-parent', conversationId: 'conv-42' });
    const spans = tel.spans();
    const conversation = (name: string) => spans.filter((s) => s.name === name).map((s) => s.attributes['gen_ai.conversation.id']);
    expect(conversation('invoke_agent planner')).toEqual(['conv-42']);
    expect(conversation('chat gpt-4o')).toEqual(['conv-42', 'conv-42', 'conv-42']);
    // Not on tool spans (the conventions do not put it there), nor on the run's root.
    expect(conversation('execute_tool add')).toEqual([undefined]);
    expect(conversation('execute_tool delegate')).toEqual([undefined]);
    expect(historyOf('conv-child')[0]!.data).toMatchObject({ conversationId: 'conv-42' });
    await tel.collect();
    for (const point of histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION))) {
      expect(point.attributes['gen_ai.conversation.id']).toBeUndefined();
    }
  });

  it('refuses a conversation id that is not a short string without control characters', async () => {
    await expect(runContext(() => 1, { conversationId: 42 as unknown as string })).rejects.toThrow(
      'runContext: options.conversationId must be undefined or 1-256 characters without control characters, got 42',
    );
    await expect(runContext(() => 1, { conversationId: 'a\nb' })).rejects.toThrow(TypeError);
    await expect(runContext(() => 1, { conversationId: 'x'.repeat(257) })).rejects.toThrow(TypeError);
  });
});

describe('instrumentOtel error.type of agents and aborts', () => {
  function endAgent(name: string, reason: 'completed' | 'error' | 'aborted', errorType?: string): void {
    const agent = startStep('agent.invocation.started', { agentName: name });
    agent.end({ reason, iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: '', errorType });
  }

  it("takes the agent span's error.type from the cause's class, _OTHER without one, AbortError for an abort without one", async () => {
    attach();
    await runContext(async () => {
      endAgent('http', 'error', 'ModelHttpError');
      endAgent('untyped', 'error');
      endAgent('prose', 'error', 'the model is down');
      endAgent('aborted', 'aborted');
      endAgent('timed-out', 'aborted', 'TimeoutError');
      endAgent('done', 'completed', 'Ignored');
    });
    const typeOf = (name: string) => byName(tel.spans(), `invoke_agent ${name}`).attributes[ATTR_ERROR_TYPE];
    expect(typeOf('http')).toBe('ModelHttpError');
    expect(typeOf('untyped')).toBe('_OTHER');
    expect(typeOf('prose')).toBe('_OTHER');
    expect(typeOf('aborted')).toBe('AbortError');
    expect(typeOf('timed-out')).toBe('TimeoutError');
    expect(typeOf('done')).toBeUndefined();
    expect(byName(tel.spans(), 'invoke_agent done').status.code).toBe(SpanStatusCode.UNSET);
    await tel.collect();
    const failures = histogramPoints(tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION))
      .filter((p) => p.attributes['gen_ai.operation.name'] === 'invoke_agent')
      .map((p) => String(p.attributes['error.type']))
      .sort();
    expect(failures).toEqual(['AbortError', 'ModelHttpError', 'TimeoutError', '_OTHER', 'undefined']);
  });

  it('names an abort AbortError on the tool it cut short, the agent and the run root alike', async () => {
    attach();
    const controller = new AbortController();
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'waiter' });
      const waiting = agent.run(() =>
        traceTool({ name: 'wait', args: {} }, () => new Promise((_resolve, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason)))),
      );
      controller.abort();
      const error = await waiting.catch((e: unknown) => e);
      agent.end({ reason: 'aborted', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: '', errorType: (error as Error).name });
    }, { runId: 'abort-names' });
    const spans = tel.spans();
    expect(byName(spans, 'execute_tool wait').attributes[ATTR_ERROR_TYPE]).toBe('AbortError');
    expect(byName(spans, 'invoke_agent waiter').attributes[ATTR_ERROR_TYPE]).toBe('AbortError');
    // A run root whose run.completed says aborted without a class.
    const bus = getEventBus();
    const at = performance.timeOrigin + performance.now();
    bus.publish({ eventId: '', runId: 'abort-root', seq: 0, eventType: 'run.started', timestamp: at, data: {} });
    bus.publish({ eventId: '', runId: 'abort-root', seq: 0, eventType: 'agent.tool.started', timestamp: at, spanId: '00000000000000c1', data: { toolName: 't', toolCallId: 'c', argKeys: [] } });
    bus.publish({ eventId: '', runId: 'abort-root', seq: 0, eventType: 'agent.tool.completed', timestamp: at + 1, spanId: '00000000000000c1', data: { toolName: 't', toolCallId: 'c', success: true, durationMs: 1 } });
    bus.publish({ eventId: '', runId: 'abort-root', seq: 0, eventType: 'run.completed', timestamp: at + 2, data: { status: 'aborted', durationMs: 2 } });
    const root = tel.spans().find((s) => s.name === 'invoke_workflow' && s.attributes['agentbus.run.id'] === 'abort-root')!;
    expect(root.attributes[ATTR_ERROR_TYPE]).toBe('AbortError');
  });
});

describe('instrumentOtel instrumentation scope', () => {
  it("names the bridge's tracer and meter agentbus, with the package version", async () => {
    attach();
    await runContext(() => agentTurn());
    for (const span of tel.spans()) expect(span.instrumentationScope).toMatchObject({ name: 'agentbus', version: VERSION });
    await tel.collect();
    expect(tel.metricScope(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)).toMatchObject({ name: 'agentbus', version: VERSION });
    expect(tel.metricScope(METRIC_GEN_AI_CLIENT_TOKEN_USAGE)).toMatchObject({ name: 'agentbus', version: VERSION });
  });
});

describe('instrumentOtel metrics', () => {
  it.each(['released', 'latest'] as const)('a provider and model whose names hold NUL characters never share a token series with another pair (%s shape)', async (semconv) => {
    {
      attach({ semconv });
      await runContext(async () => {
        emit('agent.tokens.used', { model: 'b\u0000c', provider: 'a', inputTokens: 1, outputTokens: 1, totalTokens: 2 });
        emit('agent.tokens.used', { model: 'c', provider: 'a\u0000b', inputTokens: 5, outputTokens: 5, totalTokens: 10 });
      });
      await tel.collect();
      const inputs = histogramPoints(tel.metric(semconv === 'released' ? METRIC_GEN_AI_CLIENT_TOKEN_USAGE : METRIC_LATEST.operationInputTokens))
        .filter((p) => p.attributes['gen_ai.token.type'] === (semconv === 'released' ? 'input' : undefined))
        .map((p) => [p.attributes['gen_ai.provider.name'], p.attributes['gen_ai.request.model'], p.value.sum]);
      expect(inputs, semconv).toEqual(expect.arrayContaining([['a', 'b\u0000c', 1], ['a\u0000b', 'c', 5]]));
    }
  });

  it('records gen_ai.client.token.usage per token type with the convention buckets, summing to the reported tokens', async () => {
    attach();
    await runContext(() => agentTurn({ tokens: [[120, 30], [200, 40]] }));
    await tel.collect();
    const metric = tel.metric(METRIC_GEN_AI_CLIENT_TOKEN_USAGE)!;
    expect(metric.descriptor.unit).toBe('{token}');
    const points = histogramPoints(metric);
    const input = points.find((p) => p.attributes['gen_ai.token.type'] === 'input')!;
    const output = points.find((p) => p.attributes['gen_ai.token.type'] === 'output')!;
    expect(input.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.token.type': 'input',
    });
    expect(input.value.sum).toBe(320);
    expect(input.value.count).toBe(2);
    expect(output.value.sum).toBe(70);
    expect(input.value.buckets.boundaries).toEqual([...TOKEN_USAGE_BUCKETS]);
  });

  it('records gen_ai.client.operation.duration in seconds by operation name, with error.type on failures', async () => {
    attach();
    await runContext(async () => {
      await agentTurn();
      await traceTool({ name: 'boom', args: {} }, async () => {
        throw new Error('nope');
      }).catch(() => {});
    });
    await tel.collect();
    const metric = tel.metric(METRIC_GEN_AI_CLIENT_OPERATION_DURATION)!;
    expect(metric.descriptor.unit).toBe('s');
    const points = histogramPoints(metric);
    const count = (op: string, error?: string) =>
      points
        .filter((p) => p.attributes['gen_ai.operation.name'] === op && p.attributes['error.type'] === error)
        .reduce((n, p) => n + p.value.count, 0);
    expect(count('chat')).toBe(2);
    expect(count('execute_tool')).toBe(1);
    expect(count('execute_tool', 'Error')).toBe(1);
    expect(count('invoke_agent')).toBe(1);
    expect(points[0]!.value.buckets.boundaries).toEqual([...OPERATION_DURATION_BUCKETS]);
    const chat = points.find((p) => p.attributes['gen_ai.operation.name'] === 'chat')!;
    expect(chat.attributes).toMatchObject({ 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' });
    expect(chat.value.sum).toBeLessThan(5);
  });
});

describe('instrumentOtel bounds and options', () => {
  it('drops per-run state when runs end, however many runs pass', async () => {
    const b = attach();
    for (let i = 0; i < 300; i++) await runContext(() => traceTool({ name: 't', args: {} }, () => i));
    expect(b.stats()).toEqual({ runs: 0, openSpans: 0 });
    // Each run: its tool and its own root span.
    expect(tel.spans()).toHaveLength(600);
  });

  it('caps open spans per run by ending the oldest as unfinished', async () => {
    const b = attach({ maxSpansPerRun: 3 });
    await runContext(async () => {
      for (let i = 0; i < 5; i++) startStep('agent.tool.started', { toolName: `t${i}`, toolCallId: `c${i}`, argKeys: [] });
      expect(b.stats().openSpans).toBe(3);
      expect(tel.spans().map((s) => s.name)).toEqual(['execute_tool t0', 'execute_tool t1']);
    });
    expect(tel.spans()).toHaveLength(6);
    expect([...tel.endCalls.values()].every((n) => n === 1)).toBe(true);
  });

  it('caps the runs it follows by finishing the oldest', async () => {
    const b = attach({ maxRuns: 2 });
    const gates: Array<() => void> = [];
    const runs = [0, 1, 2].map((i) =>
      runContext(async () => {
        startStep('agent.invocation.started', { agentName: `a${i}` });
        await new Promise<void>((r) => gates.push(r));
      }),
    );
    await new Promise((r) => setTimeout(r, 0));
    expect(b.stats().runs).toBe(2);
    expect(tel.spans().map((s) => s.name)).toEqual(['invoke_agent a0']);
    for (const release of gates) release();
    await Promise.all(runs);
    expect(tel.spans()).toHaveLength(3);
  });

  it('rejects bad options with a message naming the field', () => {
    expect(() => instrumentOtel({ maxContentLength: 0 })).toThrow('instrumentOtel: maxContentLength must be a positive integer, got 0');
    expect(() => instrumentOtel({ maxRuns: 1.5 })).toThrow(/maxRuns must be a positive integer, got 1.5/);
    expect(() => instrumentOtel({ maxSpansPerRun: -1 })).toThrow(/maxSpansPerRun/);
  });

  it('refuses options that are not an object, providers without the method it calls and a bus that is not one, naming the option', () => {
    const refused = (options: unknown) => () => instrumentOtel(options as never);
    const shape = '({ tracerProvider, meterProvider, bus, ... }) or undefined';
    expect(refused(null)).toThrow(new TypeError(`instrumentOtel: options must be an object ${shape}, got null`));
    expect(refused('x')).toThrow(new TypeError(`instrumentOtel: options must be an object ${shape}, got "x"`));
    expect(refused([])).toThrow(new TypeError(`instrumentOtel: options must be an object ${shape}, got an array`));
    const tracer = 'instrumentOtel: tracerProvider must be a TracerProvider (an object with a getTracer method, as the OpenTelemetry SDK\'s) or undefined, got';
    expect(refused({ tracerProvider: {} })).toThrow(new TypeError(`${tracer} an object without getTracer`));
    expect(refused({ tracerProvider: 'global' })).toThrow(new TypeError(`${tracer} "global"`));
    // A meter provider passed where the tracer provider goes: the method it lacks is named.
    expect(refused({ tracerProvider: tel.meterProvider })).toThrow(new TypeError(`${tracer} an object without getTracer`));
    const meter = 'instrumentOtel: meterProvider must be a MeterProvider (an object with a getMeter method, as the OpenTelemetry SDK\'s) or undefined, got';
    expect(refused({ meterProvider: 5 })).toThrow(new TypeError(`${meter} 5`));
    expect(refused({ meterProvider: null })).toThrow(new TypeError(`${meter} null`));
    expect(refused({ meterProvider: { get getMeter() { throw new Error('hostile'); } } })).toThrow(new TypeError(`${meter} an object without getMeter`));
    const bus = 'instrumentOtel: bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got';
    expect(refused({ bus: {} })).toThrow(new TypeError(`${bus} a plain object`));
    expect(refused({ bus: new Map() })).toThrow(new TypeError(`${bus} an instance of Map`));
    expect(refused({ bus: 'default' })).toThrow(new TypeError(`${bus} string`));
  });

  it('a refused option leaves nothing attached; undefined options and providers are the defaults', async () => {
    const bus = getEventBus();
    for (const options of [{ bus: {} }, { meterProvider: {} }, { maxRuns: 0 }]) {
      expect(() => instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, ...options } as never)).toThrow();
    }
    await runContext(() => agentTurn());
    expect(tel.spans()).toEqual([]);
    const bridge = instrumentOtel(undefined);
    bridge.shutdown();
    const given = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider, bus, captureContent: undefined });
    try {
      await runContext(() => agentTurn());
      expect(tel.spans()).toHaveLength(4);
    } finally {
      given.shutdown();
    }
  });

  it('uses the global providers when none are passed', async () => {
    const { metrics } = await import('@opentelemetry/api');
    trace.setGlobalTracerProvider(tel.sdkTracerProvider);
    metrics.setGlobalMeterProvider(tel.meterProvider);
    const bridge = instrumentOtel();
    try {
      await runContext(() => agentTurn());
      expect(tel.spans()).toHaveLength(4);
      await tel.collect();
      expect(tel.metric(METRIC_GEN_AI_CLIENT_TOKEN_USAGE)).toBeDefined();
    } finally {
      bridge.shutdown();
      trace.disable();
      metrics.disable();
    }
  });
});
