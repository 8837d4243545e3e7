// recordEvaluation: the canonical agent.evaluation.result event, tied to the
// step it judges (the current one, or one named after its end), refused like a
// malformed emit when bad, free when idle; and the bridge's
// gen_ai.evaluation.result event on the judged span, or on a zero-length
// child of it once it has ended.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEventBus, peekEventBus, resetEventBus } from '../src/global.js';
import { currentRunId, runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { recordEvaluation, type Evaluation } from '../src/evaluation.js';
import { traceModel } from '../src/trace.js';
import { PREVIEW_MAX, parseStreamEvent, type StreamEvent } from '../src/events.js';
import type { Step } from '../src/step.js';
import { WARNING_TYPE } from '../src/warnings.js';
import { instrumentOtel, type OtelBridge } from '../src/otel/bridge.js';
import { byName, makeTelemetry, ms, parentOf, type Telemetry, useAsyncContextManager } from './otel-harness.js';

beforeEach(() => {
  resetEventBus();
});
afterEach(() => {
  resetEventBus();
});

/** The events of one run of `fn`, each checked against the catalogue as it travels on the wire. */
async function recorded(fn: () => unknown): Promise<StreamEvent[]> {
  let id = '';
  await runContext(async (runId) => {
    id = runId;
    await fn();
  });
  const events = getEventBus().history(id);
  for (const e of events) parseStreamEvent(JSON.parse(JSON.stringify(e)));
  return events;
}

const evaluations = (events: StreamEvent[]) => events.filter((e) => e.eventType === 'agent.evaluation.result');
const spanOf = (events: StreamEvent[], type: string) => events.find((e) => e.eventType === type)?.spanId;

describe('recordEvaluation in a run', () => {
  it('records agent.evaluation.result with one payload shape, parented to the step open where it is called', async () => {
    const events = await recorded(() =>
      traceTool({ name: 'search', args: { q: 'otel' } }, () => {
        recordEvaluation({ name: 'relevance', score: 0.9, label: 'relevant', explanation: 'The top hit answers it.', responseId: 'chatcmpl-1' });
        recordEvaluation({ name: 'toxicity', label: 'pass' });
      }),
    );
    const tool = spanOf(events, 'agent.tool.started');
    expect(tool).toBeDefined();
    expect(evaluations(events).map(({ spanId, parentSpanId, data }) => ({ spanId, parentSpanId, data }))).toEqual([
      {
        spanId: undefined,
        parentSpanId: tool,
        data: { name: 'relevance', score: 0.9, label: 'relevant', explanation: 'The top hit answers it.', responseId: 'chatcmpl-1', errorType: undefined },
      },
      {
        spanId: undefined,
        parentSpanId: tool,
        data: { name: 'toxicity', score: undefined, label: 'pass', explanation: undefined, responseId: undefined, errorType: undefined },
      },
    ]);
    // In sequence, inside the step it judges.
    expect(events.map((e) => e.eventType)).toEqual([
      'run.started',
      'agent.tool.started',
      'agent.evaluation.result',
      'agent.evaluation.result',
      'agent.tool.completed',
      'run.completed',
    ]);
  });

  it('judges the model call open where it is called, and the run as a whole at its top level', async () => {
    const events = await recorded(async () => {
      await traceModel({ model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }, async () => {
        recordEvaluation({ name: 'groundedness', score: 4 });
        return { stopReason: 'stop', toolCallCount: 0, content: 'ok' };
      });
      recordEvaluation({ name: 'task_success', label: 'pass' });
    });
    const [inModel, atTop] = evaluations(events);
    expect(inModel?.parentSpanId).toBe(spanOf(events, 'agent.model.started'));
    expect(atTop?.parentSpanId).toBeUndefined();
  });

  it('judges a step after it ended, named by its Step, by one of its events, or by { spanId }', async () => {
    let kept: Step | undefined;
    const events = await recorded(async () => {
      await traceTool({ name: 'search', args: {} }, async (step) => {
        kept = step;
        return ['a hit'];
      });
      const other = startStep('agent.tool.started', { toolName: 'fetch', toolCallId: 'c2', argKeys: [] });
      other.end({ toolName: 'fetch', toolCallId: 'c2', success: true });
      // Judged from inside another open step: the target wins over the current step.
      await traceTool({ name: 'judge', args: {} }, () => {
        recordEvaluation({ name: 'relevance', score: 1 }, kept);
      });
      const completed = getEventBus()
        .history(currentRunId()!)
        .find((e) => e.eventType === 'agent.tool.completed' && (e.data as { toolName: string }).toolName === 'fetch');
      recordEvaluation({ name: 'freshness', label: 'stale' }, completed);
      recordEvaluation({ name: 'format', label: 'pass' }, { spanId: other.spanId });
    });
    const search = events.find((e) => e.eventType === 'agent.tool.started' && (e.data as { toolName: string }).toolName === 'search')!.spanId;
    const fetch = events.find((e) => e.eventType === 'agent.tool.started' && (e.data as { toolName: string }).toolName === 'fetch')!.spanId;
    expect(evaluations(events).map((e) => [(e.data as Evaluation).name, e.parentSpanId])).toEqual([
      ['relevance', search],
      ['freshness', fetch],
      ['format', fetch],
    ]);
  });

  it('takes a target without a span id (the no-op step a helper returns outside a run) for the current step', async () => {
    const noop = startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] });
    expect(noop.recording).toBe(false);
    const events = await recorded(() =>
      traceTool({ name: 't', args: {} }, () => {
        recordEvaluation({ name: 'x', score: 0 }, { spanId: undefined });
        recordEvaluation({ name: 'y', score: -1.5 }, noop);
      }),
    );
    const tool = spanOf(events, 'agent.tool.started');
    expect(evaluations(events).map((e) => [e.parentSpanId, (e.data as Evaluation).score])).toEqual([
      [tool, 0],
      [tool, -1.5],
    ]);
  });

  it('cuts a long explanation to a preview, as every other preview of the catalogue', async () => {
    const events = await recorded(() => recordEvaluation({ name: 'relevance', score: 0.2, explanation: 'x'.repeat(10_000) }));
    const explanation = (evaluations(events)[0]?.data as Evaluation).explanation!;
    expect(explanation).toHaveLength(PREVIEW_MAX);
    expect(explanation.endsWith('…')).toBe(true);
  });
});

describe('the catalogue entry', () => {
  it('validates agent.evaluation.result from the wire, naming the field that breaks it', () => {
    const envelope = { eventId: 'r:1', runId: 'r', seq: 1, eventType: 'agent.evaluation.result', timestamp: 1, parentSpanId: 'abc' };
    expect(parseStreamEvent({ ...envelope, data: { name: 'relevance', score: 0.5, label: 'ok' } }).data).toEqual({ name: 'relevance', score: 0.5, label: 'ok' });
    expect(() => parseStreamEvent({ ...envelope, data: { name: '' } })).toThrow(/data\.name: /);
    expect(() => parseStreamEvent({ ...envelope, data: { name: 'relevance', score: '1' } })).toThrow(/data\.score: /);
    expect(() => parseStreamEvent({ ...envelope, data: { name: 'relevance', explanation: 'x'.repeat(PREVIEW_MAX + 1) } })).toThrow(/data\.explanation: /);
  });
});

describe('recordEvaluation with bad input', () => {
  const hostile = new Proxy({}, { get: () => { throw new Error('trap'); } });
  const cases: Array<[string, unknown, unknown, string]> = [
    ['no evaluation', undefined, undefined, 'the evaluation must be an object like { name: \'relevance\', score: 0.9 }, got undefined'],
    ['a string for the evaluation', 'relevance', undefined, 'the evaluation must be an object like { name: \'relevance\', score: 0.9 }, got "relevance"'],
    ['an array', [{ name: 'x' }], undefined, 'the evaluation must be an object like { name: \'relevance\', score: 0.9 }, got an array'],
    ['no name', { score: 1 }, undefined, 'evaluation.name must be a string of 1-128 characters naming what was judged ("relevance"), got undefined'],
    ['an empty name', { name: '' }, undefined, 'evaluation.name must be a string of 1-128 characters'],
    ['a name too long', { name: 'n'.repeat(129) }, undefined, 'evaluation.name must be a string of 1-128 characters'],
    ['a NaN score', { name: 'relevance', score: Number.NaN }, undefined, 'evaluation.score of "relevance" must be a finite number or undefined, got NaN'],
    ['an infinite score', { name: 'relevance', score: Infinity }, undefined, 'evaluation.score of "relevance" must be a finite number or undefined, got Infinity'],
    ['a score in a string', { name: 'relevance', score: '0.9' }, undefined, 'evaluation.score of "relevance" must be a finite number or undefined, got "0.9"'],
    ['a label that is not a string', { name: 'relevance', label: 1 }, undefined, 'evaluation.label of "relevance" must be a string of at most 128 characters ("pass", "relevant") or undefined, got 1'],
    ['an explanation that is not a string', { name: 'relevance', explanation: { why: 1 } }, undefined, 'evaluation.explanation of "relevance" must be a string or undefined, got object'],
    ['an empty response id', { name: 'relevance', responseId: '' }, undefined, 'evaluation.responseId of "relevance" must be a string of 1-256 characters or undefined'],
    ['an error type that is not a string', { name: 'relevance', errorType: 500 }, undefined, 'evaluation.errorType of "relevance" must be a string of 1-128 characters ("timeout") or undefined, got 500'],
    ['a target that is a string', { name: 'relevance' }, 'abc', 'the target must be the judged step (a Step, one of its events, or { spanId }) or undefined, got "abc"'],
    ['a span id that is a number', { name: 'relevance' }, { spanId: 42 }, 'target.spanId must be a span id (1-256 characters without control characters) or undefined, got 42'],
    ['a span id with a line break', { name: 'relevance' }, { spanId: 'a\nb' }, 'target.spanId must be a span id'],
    ['an evaluation whose getters throw', hostile, undefined, 'the evaluation or its target could not be read: Error: trap'],
    ['a target whose getters throw', { name: 'relevance' }, hostile, 'the evaluation or its target could not be read: Error: trap'],
  ];

  it.each(cases)('refuses %s without throwing, counts it and tells onError which field is wrong', async (_what, evaluation, target, message) => {
    const errors: unknown[] = [];
    resetEventBus({ onError: (error) => errors.push(error) });
    const events = await recorded(() => {
      expect(recordEvaluation(evaluation as Evaluation, target as never)).toBeUndefined();
      emit('custom.after', {});
    });
    // Nothing recorded, and the run goes on.
    expect(events.map((e) => e.eventType)).toEqual(['run.started', 'custom.after', 'run.completed']);
    expect(getEventBus().stats().rejected).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect((errors[0] as Error).message).toContain(`recordEvaluation: ${message}`);
  });

  it('with no onError, warns once per distinct problem through the process warning channel', async () => {
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === WARNING_TYPE && warning.message.includes('recordEvaluation')) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      await recorded(() => {
        for (let i = 0; i < 3; i++) recordEvaluation({ name: 'warned-once', score: Number.NaN });
      });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(getEventBus().stats().rejected).toBe(3);
    expect(warnings.map((w) => [w.code, w.message])).toEqual([
      ['AGENTBUS_EVENT_REFUSED', 'recordEvaluation: evaluation.score of "warned-once" must be a finite number or undefined, got NaN'],
    ]);
  });
});

describe('recordEvaluation with no run open', () => {
  it('does nothing, whatever it is given, and never builds the bus', () => {
    recordEvaluation({ name: 'relevance', score: 0.5 });
    recordEvaluation({ name: 'relevance' }, { spanId: 'abc' });
    recordEvaluation(undefined as never, 'garbage' as never);
    recordEvaluation(new Proxy({}, { get: () => { throw new Error('trap'); } }) as never);
    expect(peekEventBus()).toBeUndefined();
  });

  it('allocates nothing, before any run and after one (fresh process, fixed young generation, against the build)', async () => {
    // The control allocates one small object per call: if it does not read as
    // at least 8 bytes a call, the measurement is not working.
    const script = `
      const v8 = await import('node:v8');
      const { recordEvaluation, peekEventBus, runContext } = await import('agentbus');
      const evaluation = { name: 'relevance', score: 0.9, label: 'relevant' };
      const target = { spanId: 'abc' };
      let sink;
      const cases = {
        idle: () => recordEvaluation(evaluation),
        idleWithTarget: () => recordEvaluation(evaluation, target),
        // Dies at once: a retained chain would be pretenured into old space by Node 24's V8 and read as 0.
        control: () => { sink = { a: 1, b: 2 }; },
      };
      const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size;
      const CALLS = 200_000;
      function perCall(fn) {
        const loop = new Function('fn', 'calls', 'for (let i = 0; i < calls; i++) fn();');
        loop(fn, CALLS);
        let best = Infinity;
        for (let r = 0; r < 3; r++) {
          gc();
          const before = young();
          loop(fn, CALLS);
          best = Math.min(best, (young() - before) / CALLS);
          sink = undefined;
        }
        return best;
      }
      const out = {};
      for (const [name, fn] of Object.entries(cases)) out['neverOpened.' + name] = perCall(fn);
      await runContext(() => recordEvaluation(evaluation));
      for (const [name, fn] of Object.entries(cases)) out['afterRun.' + name] = perCall(fn);
      out.busBuiltOnlyByTheRun = peekEventBus() !== undefined;
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', '--input-type=module', '-e', script],
      { cwd: import.meta.dirname, timeout: 60_000 },
    );
    const bytes = JSON.parse(stdout) as Record<string, number | boolean>;
    expect(bytes['neverOpened.control']).toBeGreaterThanOrEqual(8);
    expect(bytes['afterRun.control']).toBeGreaterThanOrEqual(8);
    for (const state of ['neverOpened', 'afterRun']) {
      expect(bytes[`${state}.idle`], `${state}: ${stdout}`).toBeLessThan(0.5);
      expect(bytes[`${state}.idleWithTarget`], `${state}: ${stdout}`).toBeLessThan(0.5);
    }
    expect(bytes.busBuiltOnlyByTheRun).toBe(true);
  });
});

describe('the bridge: gen_ai.evaluation.result', () => {
  useAsyncContextManager();
  let tel: Telemetry;
  let bridge: OtelBridge | undefined;
  beforeEach(() => {
    tel = makeTelemetry();
    bridge = instrumentOtel({ tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
  });
  afterEach(() => {
    bridge?.shutdown();
    bridge = undefined;
  });

  const relevance: Evaluation = { name: 'relevance', score: 0.25, label: 'not_relevant', explanation: 'Off topic.', responseId: 'chatcmpl-9' };
  const relevanceAttributes = {
    'gen_ai.evaluation.name': 'relevance',
    'gen_ai.evaluation.score.value': 0.25,
    'gen_ai.evaluation.score.label': 'not_relevant',
    'gen_ai.evaluation.explanation': 'Off topic.',
    'gen_ai.response.id': 'chatcmpl-9',
  };

  it('is an event on the judged span while it is open, and no span of its own', async () => {
    await runContext(() => traceTool({ name: 'search', args: {} }, () => recordEvaluation(relevance)), { name: 'judged' });
    const tool = byName(tel.spans(), 'execute_tool search');
    expect(tool.events.map((e) => [e.name, e.attributes])).toEqual([['gen_ai.evaluation.result', relevanceAttributes]]);
    // At its time, inside the span.
    const at = ms(tool.events[0]!.time);
    expect(at).toBeGreaterThanOrEqual(ms(tool.startTime));
    expect(at).toBeLessThanOrEqual(ms(tool.endTime));
    expect(tel.spans().map((s) => s.name).sort()).toEqual(['execute_tool search', 'invoke_workflow judged']);
  });

  it('after the judged span ended, is a zero-length span under it carrying the event', async () => {
    let runId = '';
    await runContext(async (id) => {
      runId = id;
      let search: Step | undefined;
      await traceTool({ name: 'search', args: {} }, async (step) => {
        search = step;
        await new Promise((resolve) => setTimeout(resolve, 2));
      });
      await traceTool({ name: 'judge', args: {} }, () => recordEvaluation(relevance, search));
    });
    const spans = tel.spans();
    const tool = byName(spans, 'execute_tool search');
    expect(tool.events).toEqual([]);
    const carrier = byName(spans, 'gen_ai.evaluation.result');
    expect(parentOf(carrier)).toBe(tool.spanContext().spanId);
    expect(carrier.spanContext().traceId).toBe(tool.spanContext().traceId);
    expect(carrier.kind).toBe(SpanKind.INTERNAL);
    expect(carrier.attributes).toEqual({ 'agentbus.run.id': runId });
    expect(carrier.events.map((e) => [e.name, e.attributes])).toEqual([['gen_ai.evaluation.result', relevanceAttributes]]);
    expect(ms(carrier.endTime)).toBe(ms(carrier.startTime));
    expect(ms(carrier.events[0]!.time)).toBe(ms(carrier.startTime));
    // After the judged step, on the SDK's time base: each span reads the wall
    // clock (whole milliseconds) as it is made (span-time.ts), so up to 1 ms early.
    expect(ms(carrier.startTime)).toBeGreaterThanOrEqual(ms(tool.endTime) - 1);
    expect(tel.endCalls.get(carrier.spanContext().spanId)).toBe(1);
    // Not under the step it was recorded in.
    expect(parentOf(carrier)).not.toBe(byName(spans, 'execute_tool judge').spanContext().spanId);
  });

  it('judging the run as a whole: an event on the run\'s own root span, or under the agent that headed the run once it ended', async () => {
    await runContext(async () => {
      await traceTool({ name: 'step', args: {} }, () => 1);
      recordEvaluation({ name: 'task_success', label: 'pass' });
    }, { name: 'workflow' });
    const root = byName(tel.spans(), 'invoke_workflow workflow');
    expect(root.events.map((e) => [e.name, e.attributes])).toEqual([['gen_ai.evaluation.result', { 'gen_ai.evaluation.name': 'task_success', 'gen_ai.evaluation.score.label': 'pass' }]]);

    tel.exporter.reset();
    await runContext(async () => {
      const agent = startStep('agent.invocation.started', { agentName: 'planner' });
      agent.end({ reason: 'completed', iterationsUsed: 1, totalToolCalls: 0, finalMessagePreview: 'done' });
      recordEvaluation({ name: 'task_success', score: 1 });
    });
    const agent = byName(tel.spans(), 'invoke_agent planner');
    const carrier = byName(tel.spans(), 'gen_ai.evaluation.result');
    expect(parentOf(carrier)).toBe(agent.spanContext().spanId);
    expect(carrier.events[0]?.attributes).toEqual({ 'gen_ai.evaluation.name': 'task_success', 'gen_ai.evaluation.score.value': 1 });
  });

  it('sets error.type from errorType, _OTHER when it is free text, and puts an unknown step\'s evaluation under the run\'s top span', async () => {
    await runContext(async () => {
      await traceTool({ name: 'step', args: {} }, () => 1);
      recordEvaluation({ name: 'relevance', errorType: 'TimeoutError' }, { spanId: 'never-seen' });
      recordEvaluation({ name: 'relevance', errorType: 'the judge timed out' }, { spanId: 'never-seen' });
    }, { name: 'w' });
    const root = byName(tel.spans(), 'invoke_workflow w');
    // A step the bridge never saw (or forgot): under the span the run's top-level steps hang under.
    const carriers = tel.spans().filter((s) => s.name === 'gen_ai.evaluation.result');
    expect(carriers.map((c) => parentOf(c))).toEqual([root.spanContext().spanId, root.spanContext().spanId]);
    expect(carriers.map((c) => c.events[0]?.attributes?.['error.type'])).toEqual(['TimeoutError', '_OTHER']);
  });

  it('follows an evaluation emitted by hand with a malformed payload without throwing, keeping what is well-typed', async () => {
    await runContext(() =>
      traceTool({ name: 't', args: {} }, () => emit('agent.evaluation.result', { name: 7, score: 'high', label: 'pass' } as never)),
    );
    const tool = byName(tel.spans(), 'execute_tool t');
    expect(tool.events.map((e) => [e.name, e.attributes])).toEqual([['gen_ai.evaluation.result', { 'gen_ai.evaluation.score.label': 'pass' }]]);
  });
});
