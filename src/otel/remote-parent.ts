/**
 * The W3C trace context of runs linked across services, both ways.
 *
 * Outgoing: the `traceparent` and `tracestate` that `injectRunLink` writes
 * for a step that calls another service, formatted here from the span's
 * context (no dependency on `@opentelemetry/core` for its propagator).
 * Incoming: the parent context of a run opened with a link, whose calling
 * step's span lives in another process: a remote span context built from the
 * `traceparent` that `run.started` carries.
 */
import { context, createTraceState, trace, type Context, type SpanContext, type TraceState } from './api.js';
import { formatTraceparent, parseTraceparent, TRACESTATE_MAX_LENGTH, type StepTraceContext } from '../trace-context.js';

/** The W3C headers of a span, or undefined for an invalid (non-recording, no-op) one. */
export function traceHeadersOf(spanContext: SpanContext | undefined): StepTraceContext | undefined {
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return undefined;
  const tracestate = spanContext.traceState?.serialize();
  return {
    traceparent: formatTraceparent({ traceId: spanContext.traceId, spanId: spanContext.spanId, traceFlags: spanContext.traceFlags & 0xff }),
    tracestate: tracestate === undefined || tracestate === '' ? undefined : tracestate,
  };
}

/**
 * The parent context of a linked run whose calling step this bridge does not
 * follow (it runs in another process, or its run has ended): the calling
 * step's span, as a remote span context, under the context active here.
 * When the active span already belongs to the caller's trace (an
 * instrumented HTTP server opened the request's span from the same
 * `traceparent`), the active context is the finer parent and is kept.
 *
 * @returns undefined when `traceparent` is absent or malformed: the run then
 * starts from the active context as any other.
 */
export function linkedParentContext(traceparent: unknown, tracestate: unknown): Context | undefined {
  const parent = parseTraceparent(traceparent);
  if (parent === undefined) return undefined;
  const active = context.active();
  const current = trace.getSpanContext(active);
  if (current !== undefined && current.traceId === parent.traceId && trace.isSpanContextValid(current)) return active;
  return trace.setSpanContext(active, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.traceFlags,
    isRemote: true,
    traceState: traceStateOf(tracestate),
  });
}

function traceStateOf(tracestate: unknown): TraceState | undefined {
  if (typeof tracestate !== 'string' || tracestate === '' || tracestate.length > TRACESTATE_MAX_LENGTH) return undefined;
  try {
    // The API's parser keeps the valid members and drops the rest.
    return createTraceState(tracestate);
  } catch {
    return undefined;
  }
}
