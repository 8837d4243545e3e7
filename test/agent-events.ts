/**
 * Shared checks for the agent tests: read a run's events from the bus and
 * verify the step structure (every step opened is closed exactly once, pairs
 * share a span id, children close before their parent).
 */
import { expect } from 'vitest';
import { getEventBus } from '../src/global.js';
import { parseStreamEvent, type StreamEvent } from '../src/events.js';

const PAIRS: Record<string, string> = {
  'agent.invocation.started': 'agent.terminate',
  'agent.model.started': 'agent.model.completed',
  'agent.tool.started': 'agent.tool.completed',
  'multiagent.fanout.started': 'multiagent.fanout.completed',
};
const CLOSERS = new Set(Object.values(PAIRS));

/** The run's events from the bus history, each checked with parseStreamEvent. */
export function runEvents(runId: string): StreamEvent[] {
  const events = getEventBus().history(runId);
  for (const event of events) expect(() => parseStreamEvent(event)).not.toThrow();
  return events;
}

/** Event types in order. */
export function types(events: readonly StreamEvent[]): string[] {
  return events.map((e) => e.eventType);
}

/** Asserts every step is opened once and closed exactly once, after its children, with a matching type. */
export function expectStepsClosedOnce(events: readonly StreamEvent[]): void {
  const open = new Map<string, StreamEvent>();
  const closed = new Set<string>();
  for (const event of events) {
    const closer = PAIRS[event.eventType];
    if (closer !== undefined) {
      expect(event.spanId, `${event.eventType} has a span id`).toBeTypeOf('string');
      expect(open.has(event.spanId as string) || closed.has(event.spanId as string), `span ${event.spanId} opened twice`).toBe(false);
      if (event.parentSpanId !== undefined) {
        expect(open.has(event.parentSpanId), `${event.eventType} opens inside an open parent`).toBe(true);
      }
      open.set(event.spanId as string, event);
    } else if (CLOSERS.has(event.eventType)) {
      const start = open.get(event.spanId as string);
      expect(start, `${event.eventType} closes an open step (span ${event.spanId})`).toBeDefined();
      expect(PAIRS[(start as StreamEvent).eventType]).toBe(event.eventType);
      expect(event.parentSpanId).toBe(start?.parentSpanId);
      for (const other of open.values()) {
        expect(other.parentSpanId === event.spanId, `a child of ${event.eventType} is still open`).toBe(false);
      }
      open.delete(event.spanId as string);
      closed.add(event.spanId as string);
    }
  }
  expect([...open.values()].map((e) => e.eventType), 'steps left open').toEqual([]);
}

/** The single event of a type (fails when there are none or several). */
export function only(events: readonly StreamEvent[], type: string): StreamEvent {
  const found = events.filter((e) => e.eventType === type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as StreamEvent;
}

/** Payload accessor for assertions. */
export function data(event: StreamEvent | undefined): Record<string, unknown> {
  return (event?.data ?? {}) as Record<string, unknown>;
}
