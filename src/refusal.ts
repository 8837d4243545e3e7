/**
 * The refusal of a malformed emission, before anything is published.
 *
 * Telemetry must not crash the agent: a bad `emit`, `startStep` or
 * `step.end` is not thrown into the caller. It is counted in the run's bus
 * (`stats().rejected`), told to its `onError`, or warned once per distinct
 * problem, with a message naming the call, the field and what was expected.
 */
import { now } from './clock.js';
import { reportRejected } from './bus-protocol.js';
import type { Frame } from './context.js';

/** @internal Refuses an emission of `eventType` in `frame`'s run, for the reason `message`. Never throws. */
export function refuse(frame: Frame, eventType: string, data: unknown, message: string): void {
  frame.bus[reportRejected](new TypeError(message), {
    eventId: '',
    runId: frame.run.runId,
    seq: 0,
    eventType,
    timestamp: now(),
    spanId: undefined,
    parentSpanId: frame.spanId,
    data: data as object,
  });
}
