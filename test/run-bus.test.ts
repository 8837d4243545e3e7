// One bus per run, reached one way: a run records into the bus it was given
// (RunOptions.bus), else its parent run's, else the process bus; everything
// the run does (its events, its steps' wrapping, its refusals, the end of its
// stream) happens on that bus, so a bus of one's own given to the OTel bridge
// or the SSE handler sees the runs given to it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus.js';
import { getEventBus, peekEventBus, resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { emit, startStep, traceTool } from '../src/emit.js';
import { instrumentOtel } from '../src/otel/bridge.js';
import { createSseHandler } from '../src/sse/index.js';
import { makeTelemetry, useAsyncContextManager } from './otel-harness.js';

useAsyncContextManager();

beforeEach(() => {
  resetEventBus();
});
afterEach(() => {
  resetEventBus();
});

const types = (bus: EventBus, runId: string) => bus.history(runId).map((e) => e.eventType);

describe('RunOptions.bus', () => {
  it('records the run, its steps and its custom events into the given bus, and never builds the process bus', async () => {
    const bus = new EventBus();
    await runContext(async () => {
      emit('app.hello', {});
      await traceTool({ name: 'add', args: { a: 1 } }, async () => 2);
    }, { runId: 'own', bus });
    expect(types(bus, 'own')).toEqual(['run.started', 'app.hello', 'agent.tool.started', 'agent.tool.completed', 'run.completed']);
    expect(bus.isClosed('own')).toBe(true);
    expect(peekEventBus()).toBeUndefined();
  });

  it('is inherited by nested runs, with or without a link, unless they are given their own', async () => {
    const outer = new EventBus();
    const other = new EventBus();
    await runContext(async () => {
      await runContext(() => emit('app.inherited', {}), { runId: 'child' });
      await runContext(() => emit('app.linked', {}), { runId: 'linked', link: { parentRunId: 'elsewhere', parentSpanId: undefined, traceparent: undefined, tracestate: undefined } });
      await runContext(() => emit('app.moved', {}), { runId: 'moved', bus: other });
    }, { runId: 'parent', bus: outer });
    expect(types(outer, 'child')).toEqual(['run.started', 'app.inherited', 'run.completed']);
    expect(types(outer, 'linked')).toEqual(['run.started', 'app.linked', 'run.completed']);
    expect(other.hasRun('moved') && !outer.hasRun('moved')).toBe(true);
    expect(other.history('moved')[0]?.data).toMatchObject({ parentRunId: 'parent' });
    expect(peekEventBus()).toBeUndefined();
  });

  it('defaults to the process bus for a top-level run', async () => {
    await runContext(() => emit('app.default', {}), { runId: 'default' });
    expect(types(getEventBus(), 'default')).toEqual(['run.started', 'app.default', 'run.completed']);
  });

  it('counts a refused emission on the run’s bus', async () => {
    const bus = new EventBus({ onError: () => {} });
    await runContext(() => emit('NotDotted', {}), { bus });
    expect(bus.stats().rejected).toBe(1);
    expect(peekEventBus()).toBeUndefined();
  });

  it('wraps the run’s steps with the listeners of the run’s bus only', async () => {
    const bus = new EventBus();
    const wrapped: string[] = [];
    bus.addListener({ onEvent: () => {}, wrapStep: (s, body) => { wrapped.push(`own ${s.eventType}`); return body(); } });
    getEventBus().addListener({ onEvent: () => {}, wrapStep: (s, body) => { wrapped.push(`process ${s.eventType}`); return body(); } });
    await runContext(() => traceTool({ name: 't', args: {} }, () => 1), { bus });
    await runContext(() => startStep('agent.model.started', { model: 'm', provider: 'p', messageCount: 1, toolCount: 0 }).run(() => 2));
    expect(wrapped).toEqual(['own agent.tool.started', 'process agent.model.started']);
  });

  it('refuses what is not an EventBus, with the option named and what it got', async () => {
    await expect(runContext(() => 1, { bus: {} as EventBus })).rejects.toThrow(
      'runContext: options.bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got a plain object',
    );
    await expect(runContext(() => 1, { bus: new Map() as unknown as EventBus })).rejects.toThrow(/got an instance of Map$/);
    await expect(runContext(() => 1, { bus: EventBus as unknown as EventBus })).rejects.toThrow(/got a function$/);
    await expect(runContext(() => 1, { bus: null as unknown as EventBus })).rejects.toThrow(/got null$/);
    expect(peekEventBus()).toBeUndefined();
  });
});

describe('a bus of one’s own', () => {
  it('given to instrumentOtel, makes spans of the runs given to it (and none of the others)', async () => {
    const tel = makeTelemetry();
    const bus = new EventBus();
    const bridge = instrumentOtel({ bus, tracerProvider: tel.tracerProvider, meterProvider: tel.meterProvider });
    try {
      await runContext(() => traceTool({ name: 'add', args: { a: 1 } }, () => 2), { runId: 'traced', bus });
      await runContext(() => traceTool({ name: 'other', args: {} }, () => 3), { runId: 'untraced' });
    } finally {
      bridge.shutdown();
    }
    expect(tel.spans().map((s) => s.name)).toContain('execute_tool add');
    expect(tel.spans().map((s) => s.name)).not.toContain('execute_tool other');
  });

  it('given to createSseHandler, streams the runs given to it', async () => {
    const bus = new EventBus();
    const handler = createSseHandler({ bus, public: true });
    await runContext(() => emit('app.streamed', {}), { runId: 'streamed', bus });
    const frames = await (await handler(new Request('http://localhost/runs/streamed/events'))).text();
    expect(frames).toMatch(/\nevent: app\.streamed\n/);
    expect(frames).toMatch(/\nevent: end\ndata: \{"runId":"streamed","reason":"closed"\}\n/);
  });
});
