/**
 * Test support for the framework adapters: runs a body inside a run, reads
 * the run's events back through a real bus subscription, validates every
 * event with the catalogue, and checks the step pairing rules.
 */
import { expect } from 'vitest';
import { getEventBus, resetEventBus } from '../../src/global.js';
import { runContext, type RunOptions } from '../../src/context.js';
import { parseStreamEvent, type StreamEvent } from '../../src/events.js';

let runCounter = 0;

/** What a recorded run produced. */
export interface RecordedRun<T> {
  events: StreamEvent[];
  result?: T;
  error?: unknown;
}

/**
 * Runs `body` in a fresh run on a fresh validating bus, subscribed before the
 * run starts; returns every event the subscriber received (the run's errors
 * are returned, not thrown). Each event must parse with `parseStreamEvent`.
 */
export async function recordRun<T>(body: () => Promise<T>, options: RunOptions = {}): Promise<RecordedRun<T>> {
  resetEventBus({ validate: true });
  const bus = getEventBus();
  const runId = options.runId ?? `adapter-run-${++runCounter}`;
  const sub = bus.subscribe(runId);
  const recorded: RecordedRun<T> = { events: [] };
  try {
    recorded.result = await runContext(body, { ...options, runId });
  } catch (error) {
    recorded.error = error;
  }
  // Adapters fed by asynchronous framework hooks may finish a few ticks later.
  await new Promise((resolve) => setTimeout(resolve, 20));
  bus.closeStream(runId);
  for await (const event of sub) recorded.events.push(event);
  for (const event of recorded.events) expect(() => parseStreamEvent(JSON.parse(JSON.stringify(event)))).not.toThrow();
  expect(bus.stats().rejected).toBe(0);
  expect(bus.stats().listenerErrors).toBe(0);
  return recorded;
}

const NAME_FIELDS = ['agentName', 'model', 'toolName', 'stopReason', 'reason', 'status'] as const;

/** One line per event: its type and the field that names it (`agent.tool.started add`). */
export function outline(events: readonly StreamEvent[]): string[] {
  return events.map((event) => {
    const data = event.data as Record<string, unknown>;
    const name = NAME_FIELDS.map((key) => data[key]).find((value) => typeof value === 'string');
    return name === undefined ? event.eventType : `${event.eventType} ${String(name)}`;
  });
}

const PAIRS: Record<string, string> = {
  'agent.invocation.started': 'agent.terminate',
  'agent.model.started': 'agent.model.completed',
  'agent.tool.started': 'agent.tool.completed',
  'multiagent.fanout.started': 'multiagent.fanout.completed',
};

/**
 * Checks the step rules: every opened step is closed exactly once with the
 * matching type and span id, after it opened; tokens carry an open model
 * step's span id; and every parentSpanId names a step of the run.
 */
export function expectWellFormedSteps(events: readonly StreamEvent[]): Map<string, StreamEvent> {
  const opened = new Map<string, StreamEvent>();
  const closed = new Set<string>();
  for (const event of events) {
    if (event.eventType in PAIRS) {
      expect(event.spanId, `${event.eventType} has a spanId`).toBeDefined();
      expect(opened.has(event.spanId!), `span ${event.spanId} opened once`).toBe(false);
      opened.set(event.spanId!, event);
      if (event.parentSpanId !== undefined) expect(opened.has(event.parentSpanId), `parent of ${event.eventType} is a step of the run`).toBe(true);
    } else if (Object.values(PAIRS).includes(event.eventType)) {
      const start = opened.get(event.spanId ?? '');
      expect(start, `${event.eventType} closes an opened step`).toBeDefined();
      expect(PAIRS[start!.eventType]).toBe(event.eventType);
      expect(closed.has(event.spanId!), `span ${event.spanId} closed once`).toBe(false);
      expect(event.parentSpanId).toBe(start!.parentSpanId);
      closed.add(event.spanId!);
    } else if (event.eventType === 'agent.tokens.used') {
      expect(opened.get(event.spanId ?? '')?.eventType).toBe('agent.model.started');
      expect(closed.has(event.spanId!), 'tokens arrive before their model step closes').toBe(false);
    }
  }
  for (const spanId of opened.keys()) expect(closed.has(spanId), `step ${opened.get(spanId)!.eventType} ${spanId} closed`).toBe(true);
  return opened;
}

/** The step event that opened `event`'s parent step. */
export function parentOf(event: StreamEvent, opened: Map<string, StreamEvent>): StreamEvent | undefined {
  return event.parentSpanId === undefined ? undefined : opened.get(event.parentSpanId);
}
