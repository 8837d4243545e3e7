/**
 * The W3C Trace Context headers a run link carries: `traceparent`, parsed
 * and written, and `tracestate`, checked. No OpenTelemetry code: the link
 * only moves these values between a caller's bridge and a callee's.
 *
 * Values come from the network, so each is read within the specification's
 * length limits and kept only when it validates.
 */

/** @internal The W3C trace context of a step's span, as the trace bridge knows it. */
export interface StepTraceContext {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
}

/** @internal A parsed W3C `traceparent`. */
export interface Traceparent {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex characters, not all zero: the caller's span. */
  readonly spanId: string;
  /** The trace flags byte (bit 0: sampled). */
  readonly traceFlags: number;
}

// A traceparent of version 00 has 55 characters; later versions may append fields.
const TRACEPARENT_MAX_LENGTH = 256;

/** @internal The longest `traceparent` header read: two values (see {@link traceparentOfHeader}) and the comma between. */
export const TRACEPARENT_HEADER_MAX_LENGTH = 2 * TRACEPARENT_MAX_LENGTH + 2;

/** @internal The longest `tracestate` read: W3C Trace Context requires 512 characters to be propagated; a longer one may be cut. */
export const TRACESTATE_MAX_LENGTH = 512;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZEROS = /^0+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * @internal Parses a W3C `traceparent`: version 00 exactly, and later
 * versions by the specification's forward-compatibility rule (the four known
 * fields, then `-` and whatever follows). Version `ff`, uppercase hex, an
 * all-zero trace or parent id and anything else malformed give undefined.
 */
export function parseTraceparent(value: unknown): Traceparent | undefined {
  if (typeof value !== 'string' || value.length > TRACEPARENT_MAX_LENGTH) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  // The groups are not optional, except the fields a later version appends.
  const version = match[1] as string;
  const traceId = match[2] as string;
  const spanId = match[3] as string;
  const flags = match[4] as string;
  if (version === 'ff' || (version === '00' && match[5] !== undefined)) return undefined;
  if (ALL_ZEROS.test(traceId) || ALL_ZEROS.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

/** @internal The `traceparent` (version 00) of a parsed one. */
export function formatTraceparent(parent: Traceparent): string {
  return `00-${parent.traceId}-${parent.spanId}-${parent.traceFlags.toString(16).padStart(2, '0')}`;
}

/**
 * @internal The caller's span in a received `traceparent` header. A request
 * may carry two: the one `injectRunLink` wrote, and one an HTTP client
 * instrumentation appended for the client span it opened inside the step
 * (`@opentelemetry/instrumentation-undici` appends rather than replaces).
 * When both are valid and of one trace, the last is the caller's innermost
 * span and is taken; values of different traces, or more than two, are
 * refused, as W3C receivers refuse an ambiguous `traceparent`.
 */
export function traceparentOfHeader(header: string | undefined): Traceparent | undefined {
  if (header === undefined) return undefined;
  const values = header.split(',');
  if (values.length > 2) return undefined;
  let last: Traceparent | undefined;
  for (const one of values) {
    const parsed = parseTraceparent(one);
    if (parsed === undefined || (last !== undefined && last.traceId !== parsed.traceId)) return undefined;
    last = parsed;
  }
  return last;
}

/** @internal A received `tracestate` header, trimmed, when it is non-empty printable ASCII; else undefined. */
export function tracestateOfHeader(header: string | undefined): string | undefined {
  const tracestate = header?.trim();
  return tracestate !== undefined && tracestate !== '' && PRINTABLE_ASCII.test(tracestate) ? tracestate : undefined;
}
