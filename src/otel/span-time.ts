/**
 * One time base with the OpenTelemetry SDK.
 *
 * The SDK stamps a span it starts itself (an instrumented HTTP call inside a
 * tool) with `Date.now()`, whole milliseconds of the wall clock read when the
 * span is created, and measures its duration with `performance.now()`. Our
 * events carry `performance.timeOrigin + performance.now()`: sub-millisecond,
 * and drifting from the wall clock over a long process (NTP slews one, not
 * the other). Spans stamped with those times started up to a millisecond
 * (after drift, more) after the SDK children opened inside them.
 *
 * So a step's span is placed the way the SDK places its own: at the wall
 * clock read when the span is created, minus the (microseconds of) time since
 * the step's event, and its end and span events follow at exact offsets from
 * that start. An SDK span created later inside the step reads the same wall
 * clock later, so it never starts earlier; the wall clock is read afresh per
 * span, so nothing drifts however long the process runs. The price: a step
 * ends no earlier than its children (each read the wall clock a little
 * later), which can lengthen a span in the trace by up to a millisecond; the
 * duration metric is measured on our clock and stays exact.
 */
import { now } from '../clock.js';

/**
 * The wall-clock start, in epoch milliseconds, of a span whose opening event
 * happened at `eventTime` (our clock), read now.
 */
export function wallStart(eventTime: number): number {
  const since = now() - eventTime;
  return since > 0 ? Date.now() - since : Date.now();
}
