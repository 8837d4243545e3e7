/**
 * The step tracker under the framework adapters, driven directly the way an
 * adapter drives it: framework ids, callbacks out of order, steps left open.
 */
import { describe, expect, it } from 'vitest';
import { getEventBus, resetEventBus } from '../../src/global.js';
import { als } from '../../src/context.js';
import type { StreamEvent } from '../../src/events.js';
import { StepTracker, type Placement } from '../../src/adapters/step-tracker.js';
import { expectWellFormedSteps, outline, parentOf, recordRun } from './run-events.js';

const modelData = { model: 'm-1', provider: 'acme', messageCount: 1, toolCount: 1 };

function top<D>(tracker: StepTracker<D>): Placement<D> {
  const at = tracker.place(undefined);
  expect(at).toBeDefined();
  return at!;
}

const dataOf = (events: readonly StreamEvent[], type: string) => events.filter((e) => e.eventType === type).map((e) => e.data as Record<string, unknown>);

describe('StepTracker', () => {
  it('places steps under their parent, looks through units that are not steps, and counts them towards their agent', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
      tracker.passThrough('node', tracker.place('a')!);
      const node = tracker.get('node');
      expect(node?.kind).toBe('pass');
      const model = tracker.openModel('m', tracker.place('node')!, modelData)!;
      tracker.endModel(model, { toolCallCount: 1, text: 'calling add' });
      const tool = tracker.openTool('t', tracker.place('node')!, 'add', 'call-1', { a: 1 })!;
      tracker.endTool(tool, 3);
      if (node?.kind === 'pass') tracker.forget(node);
      tracker.endAgent(agent, 'completed');
    });
    const opened = expectWellFormedSteps(events);
    const agentStart = events.find((e) => e.eventType === 'agent.invocation.started')!;
    for (const e of events.filter((e) => e.eventType === 'agent.model.started' || e.eventType === 'agent.tool.started')) {
      expect(parentOf(e, opened)).toBe(agentStart);
    }
    expect(dataOf(events, 'agent.model.completed')).toEqual([{ stopReason: 'tool_calls', toolCallCount: 1, contentPreview: 'calling add' }]);
    expect(dataOf(events, 'agent.tool.started')).toEqual([{ toolName: 'add', toolCallId: 'call-1', argKeys: ['a'] }]);
    // With no final text from the framework, the agent's final message is the last text a model answered it.
    expect(dataOf(events, 'agent.terminate')).toEqual([{ reason: 'completed', iterationsUsed: 1, totalToolCalls: 1, finalMessagePreview: 'calling add' }]);
    expect(tracker.size).toBe(0);
  });

  it('closes a step left open with an error when its agent ends, the step first', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
      tracker.openModel('m', tracker.place('a')!, modelData);
      tracker.openTool('t', tracker.place('a')!, 'add', 'call-1', {});
      tracker.endAgent(agent, 'completed', 'done');
    });
    expectWellFormedSteps(events);
    expect(outline(events).slice(-4)).toEqual([
      'agent.tool.completed add',
      'agent.model.completed error',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    expect(dataOf(events, 'agent.tool.completed')).toEqual([expect.objectContaining({ success: false, error: 'the agent ended before this step closed' })]);
    expect(dataOf(events, 'agent.tool.completed')[0]).not.toHaveProperty('errorType', expect.anything());
    expect(dataOf(events, 'agent.terminate')).toEqual([expect.objectContaining({ finalMessagePreview: 'done' })]);
    expect(tracker.size).toBe(0);
  });

  it('closes what an aborted agent left open as aborted, with the abort as error and errorType', async () => {
    const tracker = new StepTracker();
    const abort = new DOMException('This operation was aborted', 'AbortError');
    const { events } = await recordRun(async () => {
      const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
      tracker.openModel('m', tracker.place('a')!, modelData);
      // A framework that wraps the abort in an error of its own.
      tracker.failAgent(agent, new Error('generation failed', { cause: abort }));
    });
    expectWellFormedSteps(events);
    expect(dataOf(events, 'agent.model.completed')).toEqual([
      { stopReason: 'aborted', toolCallCount: 0, contentPreview: '', error: 'Error: generation failed', errorType: 'Error' },
    ]);
    // The agent carries the class of what ended it: the framework's error.
    expect(dataOf(events, 'agent.terminate')).toEqual([expect.objectContaining({ reason: 'aborted', errorType: 'Error' })]);
  });

  it('names an abort without a class of its own AbortError on every step it ends, the agent included', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
      tracker.openModel('m', tracker.place('a')!, modelData);
      tracker.openTool('t', tracker.place('a')!, 'wait', 'call-w', {});
      // A framework's abort reason: a text, not an error.
      tracker.endAgent(agent, 'aborted', '', 'user pressed stop');
      const other = tracker.openAgent('b', top(tracker), { agentName: 'other' })!;
      tracker.failModel(tracker.openModel('m2', tracker.place('b')!, modelData)!, 'the stream was closed before the response was done', 'aborted');
      tracker.endAgent(other, 'error', '', 'no class');
      tracker.endAgent(tracker.openAgent('c', top(tracker), { agentName: 'fine' })!, 'completed');
    });
    expectWellFormedSteps(events);
    expect(dataOf(events, 'agent.tool.completed').map((d) => d['errorType'])).toEqual(['AbortError']);
    expect(dataOf(events, 'agent.model.completed').map((d) => [d['stopReason'], d['errorType']])).toEqual([['aborted', 'AbortError'], ['aborted', 'AbortError']]);
    // An error without a class has none (the bridge's _OTHER); a completed agent has none.
    expect(dataOf(events, 'agent.terminate').map((d) => [d['reason'], d['errorType']])).toEqual([
      ['aborted', 'AbortError'], ['error', undefined], ['completed', undefined],
    ]);
  });

  it('passes on what an answer says of itself: the response\'s model and id', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const at = top(tracker);
      tracker.endModel(tracker.openModel('m1', at, { ...modelData, temperature: 0.5, stream: true })!, {
        toolCallCount: 0, text: 'hi', model: 'm-1', responseModel: 'm-1-2025', responseId: 'r-1',
      });
      tracker.endModel(tracker.openModel('m2', at, modelData)!, { toolCallCount: 0, text: 'hi', model: 'm-1' });
    });
    expect(dataOf(events, 'agent.model.started')[0]).toMatchObject({ temperature: 0.5, stream: true });
    // `model` (what tokens are counted under) is not the response's model unless the answer says so.
    expect(dataOf(events, 'agent.model.completed').map((d) => [d['responseModel'], d['responseId']])).toEqual([['m-1-2025', 'r-1'], [undefined, undefined]]);
  });

  it('carries the errorType of a failure from a thrown value, and none for a text or a plain record', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const at = top(tracker);
      tracker.failTool(tracker.openTool('t1', at, 'lookup', 'c1', {})!, new TypeError('bad city'));
      tracker.failTool(tracker.openTool('t2', at, 'lookup', 'c2', {})!, { message: 'Error running tool' });
      tracker.failModel(tracker.openModel('m1', at, modelData)!, new RangeError('context too long'));
      tracker.failModel(tracker.openModel('m2', at, modelData)!, 'superseded by a new model call', 'error');
      tracker.endModel(tracker.openModel('m3', at, modelData)!, { stopReason: 'error', toolCallCount: 0, text: 'partial', error: new Error('upstream 500') });
    });
    expectWellFormedSteps(events);
    expect(dataOf(events, 'agent.tool.completed').map((d) => [d['error'], d['errorType']])).toEqual([
      ['TypeError: bad city', 'TypeError'],
      ['Error running tool', undefined],
    ]);
    expect(dataOf(events, 'agent.model.completed').map((d) => [d['stopReason'], d['error'], d['errorType']])).toEqual([
      ['error', 'RangeError: context too long', 'RangeError'],
      ['error', 'superseded by a new model call', undefined],
      ['error', 'Error: upstream 500', 'Error'],
    ]);
  });

  it('records a model call\'s own usage on its step, under the model that answered, before it closes', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const at = top(tracker);
      tracker.endModel(tracker.openModel('m1', at, modelData)!, {
        toolCallCount: 0, text: 'hi', model: 'm-1-2026', usage: { inputTokens: 12, outputTokens: 7, cacheReadInputTokens: 4 },
      });
      tracker.endModel(tracker.openModel('m2', at, modelData)!, { toolCallCount: 0, text: 'hi' });
    });
    expectWellFormedSteps(events);
    expect(dataOf(events, 'agent.tokens.used')).toEqual([
      { model: 'm-1-2026', provider: 'acme', inputTokens: 12, outputTokens: 7, totalTokens: 19, cacheReadInputTokens: 4 },
    ]);
  });

  it('times a tool on the event clock unless the framework measured its execution', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const at = top(tracker);
      const timed = tracker.openTool('t1', at, 'wait', 'c1', {})!;
      await new Promise((resolve) => setTimeout(resolve, 15));
      tracker.endTool(timed, 'ok');
      tracker.endTool(tracker.openTool('t2', at, 'wait', 'c2', {})!, 'ok', 42);
    });
    const [started] = events.filter((e) => e.eventType === 'agent.tool.started');
    const [completed, measured] = events.filter((e) => e.eventType === 'agent.tool.completed');
    const durationMs = (completed!.data as { durationMs: number }).durationMs;
    expect(durationMs).toBeGreaterThanOrEqual(14);
    expect(durationMs).toBeLessThanOrEqual(completed!.timestamp - started!.timestamp);
    expect(measured!.data).toMatchObject({ durationMs: 42 });
  });

  it('puts tool arguments into events only when the run captures content, inside an agent or not', async () => {
    for (const captureContent of [true, false]) {
      const tracker = new StepTracker();
      const { events } = await recordRun(async () => {
        tracker.endTool(tracker.openTool('t1', top(tracker), 'add', 'c1', { a: 1 })!, 1);
        const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
        tracker.endTool(tracker.openTool('t2', tracker.place('a')!, 'add', 'c2', { a: 2 })!, 2);
        tracker.endAgent(agent, 'completed');
      }, { captureContent });
      expect(dataOf(events, 'agent.tool.started').map((d) => d['args'])).toEqual(captureContent ? [{ a: 1 }, { a: 2 }] : [undefined, undefined]);
    }
  });

  it('closes everything a framework run left open, nested agents included', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      tracker.openAgent('outer', tracker.place(undefined, 'trace-1')!, { agentName: 'outer' });
      tracker.openTool('tool', tracker.place('outer', 'trace-1')!, 'ask', 'c1', {});
      tracker.openAgent('inner', tracker.place('tool', 'trace-1')!, { agentName: 'inner' });
      tracker.openModel('model', tracker.place('inner', 'trace-1')!, modelData);
      const other = tracker.openAgent('other', tracker.place(undefined, 'trace-2')!, { agentName: 'other' })!;
      tracker.closeScope('trace-1', new Error('span never ended'));
      expect(tracker.size).toBe(1);
      tracker.endAgent(other, 'completed');
    });
    expectWellFormedSteps(events);
    expect(outline(events).slice(-6)).toEqual([
      'agent.model.completed error',
      'agent.terminate error',
      'agent.tool.completed ask',
      'agent.terminate error',
      'agent.terminate completed',
      'run.completed ok',
    ]);
    expect(dataOf(events, 'agent.tool.completed')).toEqual([expect.objectContaining({ error: 'Error: span never ended', errorType: 'Error' })]);
  });

  it('opens a step in its parent\'s run when the framework calls back from outside it', async () => {
    const tracker = new StepTracker();
    const { events } = await recordRun(async () => {
      const agent = tracker.openAgent('a', top(tracker), { agentName: 'planner' })!;
      als.exit(() => {
        expect(tracker.place(undefined)).toBeUndefined();
        tracker.endTool(tracker.openTool('t', tracker.place('a')!, 'add', 'c1', {})!, 1);
      });
      tracker.endAgent(agent, 'completed');
    });
    expectWellFormedSteps(events);
    expect(outline(events)).toContain('agent.tool.completed add');
  });

  it('tracks nothing and emits nothing outside a run', () => {
    resetEventBus();
    const tracker = new StepTracker();
    expect(tracker.place(undefined)).toBeUndefined();
    expect(tracker.place('unknown')).toBeUndefined();
    expect(tracker.size).toBe(0);
    expect(getEventBus().stats().published).toBe(0);
  });
});
