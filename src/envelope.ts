/**
 * The envelope of a published event (its ids, type, timestamp and span ids,
 * everything but the payload): what it costs to keep, and the cheap checks
 * `EventBus.publish` makes on it before accepting the event. The payload is
 * bounded, not checked (see `EventBusOptions.maxEventBytes`); the catalogue's
 * full validation is `parseStreamEvent`, for `validate: true`.
 */
import { EVENT_TYPE_PATTERN, MAX_ID_LENGTH, type StreamEvent } from './events.js';

/** Bytes charged per event for its envelope (ids, type, timestamp), on top of the payload's JSON. */
export const EVENT_ENVELOPE_BYTES = 200;

// Event types already checked against the pattern (bounded: custom types are few in practice).
const checkedTypes = new Set<string>();

/** @internal What is wrong with an event's envelope (not its payload), or undefined. Cheap: typeof checks. */
export function envelopeProblem(event: StreamEvent): string | undefined {
  if (typeof event !== 'object' || event === null) return `event must be an object, got ${event === null ? 'null' : typeof event}`;
  const { eventType, timestamp, spanId, parentSpanId } = event;
  if (typeof eventType !== 'string' || eventType.length === 0 || eventType.length > MAX_ID_LENGTH) {
    return `eventType must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${typeof eventType === 'string' ? `${eventType.length} characters` : typeof eventType}`;
  }
  if (!checkedTypes.has(eventType)) {
    // Every reader validates the type (the SSE client, the bridge): one the pattern refuses would break them all.
    if (!EVENT_TYPE_PATTERN.test(eventType)) return `eventType ${JSON.stringify(eventType)} is not a dotted lowercase name like "myapp.cache.miss"`;
    if (checkedTypes.size < 10_000) checkedTypes.add(eventType);
  }
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return `timestamp must be a finite number, got ${String(typeof timestamp === 'number' ? timestamp : typeof timestamp)}`;
  if (spanId !== undefined && (typeof spanId !== 'string' || spanId.length === 0 || spanId.length > MAX_ID_LENGTH)) return `spanId must be undefined or a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  if (parentSpanId !== undefined && (typeof parentSpanId !== 'string' || parentSpanId.length === 0 || parentSpanId.length > MAX_ID_LENGTH)) {
    return `parentSpanId must be undefined or a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  }
  return undefined;
}

/** @internal A run id as an error message shows it: quoted and cut to 40 characters, or its type when not a string. */
export function describeRunId(runId: unknown): string {
  return typeof runId === 'string' ? JSON.stringify(runId.length > 40 ? `${runId.slice(0, 40)}…` : runId) : `of type ${typeof runId}`;
}
