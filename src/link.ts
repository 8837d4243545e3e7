/**
 * Runs linked across services: the link of the current step, written into
 * the headers of a request to another service, and read back there.
 *
 * The link travels in standard W3C headers. `baggage` carries the run and
 * the step (`agentbus.run_id`, `agentbus.span_id`), so that the run the
 * other service opens is a child run on its bus; `traceparent` and
 * `tracestate` carry the step's OpenTelemetry span, so that its spans join
 * the caller's trace. This module loads no OpenTelemetry code: the trace
 * context comes from a provider that the bridge (`agentbus/otel`) registers
 * while it is installed; without one only `baggage` is written.
 *
 * Headers come from the network. Every reader here reads a bounded amount,
 * keeps only what validates, and never throws; the writer never throws into
 * the caller, whatever carrier it is given.
 */
import { baggageWithRunLink, BAGGAGE_MAX_BYTES, runLinkOfBaggage } from './baggage.js';
import { als } from './context.js';
import { isRunId, isSpanId } from './events.js';
import { gate } from './gate.js';
import {
  formatTraceparent,
  traceparentOfHeader,
  tracestateOfHeader,
  TRACEPARENT_HEADER_MAX_LENGTH,
  TRACESTATE_MAX_LENGTH,
  type StepTraceContext,
} from './trace-context.js';

/**
 * A link to the step of another run, usually in another service: what
 * {@link extractRunLink} reads from an incoming request and
 * `runContext(fn, { link })` turns into a child run.
 */
export interface RunLink {
  /** The calling run. */
  readonly parentRunId: string;
  /** The calling step (a tool call) in that run; undefined when the call was made at the run's top level. */
  readonly parentSpanId?: string | undefined;
  /** The W3C `traceparent` of the calling step's span, when the caller ran the OpenTelemetry bridge. */
  readonly traceparent?: string | undefined;
  /** The W3C `tracestate` that came with `traceparent`. */
  readonly tracestate?: string | undefined;
}

/** Where {@link injectRunLink} writes: a `Headers`, or a plain object of header names to values. */
export type RunLinkCarrier = Headers | Record<string, string>;

/**
 * Where {@link extractRunLink} reads: a `Headers`, a plain header object
 * (node:http's `IncomingMessage.headers`, whose values may be arrays), or a
 * message that has either as its `headers` (a web `Request`, an `IncomingMessage`).
 */
export type RunLinkSource =
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | { readonly headers: Headers | Readonly<Record<string, string | readonly string[] | undefined>> };

/**
 * @internal What the trace bridge answers for the step `spanId` (undefined:
 * the run's top level) of run `runId`, asked by {@link injectRunLink} in
 * that step's async context.
 */
export type TraceContextProvider = (runId: string, spanId: string | undefined) => StepTraceContext | undefined;

// Plain header objects are searched case-insensitively, over this many keys at most.
const MAX_KEYS_SCANNED = 1000;

// The registered providers, latest last. The latest answers: its bridge attached last, so it wraps
// step bodies innermost and its span is the one active there.
const providers: TraceContextProvider[] = [];
let traceContextOf: TraceContextProvider | undefined;

/**
 * @internal Registers the trace bridge's provider of step trace contexts,
 * consulted by {@link injectRunLink}. Returns the function that removes it
 * (idempotent).
 */
export function provideTraceContext(provider: TraceContextProvider): () => void {
  providers.push(provider);
  traceContextOf = provider;
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    const i = providers.lastIndexOf(provider);
    if (i !== -1) providers.splice(i, 1);
    traceContextOf = providers.at(-1);
  };
}

/**
 * Writes the link of the current step into outgoing request headers, so
 * that the service called can open a child run with
 * `runContext(fn, { link: extractRunLink(request.headers) })`:
 *
 * - `baggage`: `agentbus.run_id` and `agentbus.span_id` (the step; absent
 *   at the run's top level), percent-encoded, merged into an existing
 *   `baggage` header whose other members are kept in order (after ours,
 *   within the W3C limits of 180 members and 8192 bytes: the members past
 *   a limit are left out, each whole);
 * - `traceparent` and `tracestate` of the step's span, while the
 *   OpenTelemetry bridge is installed (an existing `tracestate` is
 *   replaced or removed with the `traceparent` it belonged to).
 *
 * Call it inside the step that makes the call (a tool). Outside a run it
 * writes nothing. It never throws: a carrier that refuses writes (frozen,
 * a throwing Proxy) is returned as it is, and the call goes out unlinked.
 *
 * @returns `carrier`, for chaining: `fetch(url, { headers: injectRunLink({}) })`.
 */
export function injectRunLink<C extends RunLinkCarrier>(carrier: C): C {
  // The idle path: no run open anywhere, nothing read, nothing allocated.
  if (gate.open) injectInRun(carrier);
  return carrier;
}

function injectInRun(carrier: RunLinkCarrier): void {
  const frame = als.getStore();
  if (frame === undefined) return;
  const runId = frame.run.runId;
  const spanId = frame.spanId;
  let trace: StepTraceContext | undefined;
  try {
    trace = traceContextOf?.(runId, spanId);
  } catch {
    // The provider is the bridge's; should it fail, the run link still goes out.
  }
  try {
    // The baggage is built before anything is written: it throws on a lone surrogate, which a
    // span id chosen by user code may hold, and the carrier is then left as it was.
    if (isHeaders(carrier)) {
      carrier.set('baggage', baggageWithRunLink(carrier.get('baggage'), runId, spanId));
      if (trace === undefined) return;
      carrier.set('traceparent', trace.traceparent);
      if (trace.tracestate === undefined) carrier.delete('tracestate');
      else carrier.set('tracestate', trace.tracestate);
      return;
    }
    // A header object may spell a name in any case; write where the existing value is, so it is not sent twice.
    const baggageKey = keyOf(carrier, 'baggage') ?? 'baggage';
    const existing = carrier[baggageKey];
    carrier[baggageKey] = baggageWithRunLink(typeof existing === 'string' ? existing : undefined, runId, spanId);
    if (trace === undefined) return;
    carrier[keyOf(carrier, 'traceparent') ?? 'traceparent'] = trace.traceparent;
    const tracestateKey = keyOf(carrier, 'tracestate');
    if (trace.tracestate !== undefined) carrier[tracestateKey ?? 'tracestate'] = trace.tracestate;
    else if (tracestateKey !== undefined) delete carrier[tracestateKey];
  } catch {
    // A carrier that refuses writes (frozen, a Proxy whose traps throw, a Headers
    // that rejects a value): the request goes out without the link, the run goes on.
  }
}

/** True for a `Headers` (or any object with its `get`/`set`), as opposed to a plain header object. */
function isHeaders(value: object): value is Headers {
  return typeof (value as { get?: unknown }).get === 'function' && typeof (value as { set?: unknown }).set === 'function';
}

/** The own key of `headers` that is `name` in any case (lowercase first), or undefined. */
function keyOf(headers: Readonly<Record<string, unknown>>, name: string): string | undefined {
  if (Object.hasOwn(headers, name)) return name;
  let scanned = 0;
  for (const key in headers) {
    if (++scanned > MAX_KEYS_SCANNED) return undefined;
    if (key.length === name.length && key.toLowerCase() === name && Object.hasOwn(headers, key)) return key;
  }
  return undefined;
}

/**
 * Reads the link a caller wrote with {@link injectRunLink} from an incoming
 * request's headers: a `Headers`, a plain header object (node:http's
 * `req.headers`) or a message carrying either (a web `Request`, node's `req`).
 *
 * Network input is hostile, so it reads at most the W3C limits (the first
 * 8192 bytes and 180 members of `baggage`), validates the run id with
 * {@link isRunId}, the step id by the bus's rule for span ids (1-256
 * characters, no control characters), `traceparent` by the W3C format, and
 * `tracestate` (kept only with a valid `traceparent`) by its length and
 * characters. A malformed part is left out: a bad `traceparent` next to a
 * good `baggage` still gives the run link. Never throws.
 *
 * @returns the link, or undefined when the request carries no usable
 * `agentbus.run_id`.
 */
export function extractRunLink(headers: RunLinkSource): RunLink | undefined {
  try {
    const source = headersOf(headers);
    if (source === undefined) return undefined;
    const baggage = rawHeader(source, 'baggage', BAGGAGE_MAX_BYTES);
    if (baggage === undefined) return undefined;
    const { runId, spanId } = runLinkOfBaggage(baggage);
    if (!isRunId(runId)) return undefined;
    const parent = traceparentOfHeader(readHeader(source, 'traceparent', TRACEPARENT_HEADER_MAX_LENGTH));
    return {
      parentRunId: runId,
      parentSpanId: isSpanId(spanId) ? spanId : undefined,
      traceparent: parent === undefined ? undefined : formatTraceparent(parent),
      tracestate: parent === undefined ? undefined : tracestateOfHeader(readHeader(source, 'tracestate', TRACESTATE_MAX_LENGTH)),
    };
  } catch {
    // A source whose reads throw (a hostile Proxy, a getter): no link.
    return undefined;
  }
}

type HeaderObject = Readonly<Record<string, unknown>>;

/** The headers themselves: a `Headers`, a plain object, or the `headers` of a message. */
function headersOf(value: unknown): Headers | HeaderObject | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (isHeaders(value)) return value;
  const inner = (value as { headers?: unknown }).headers;
  if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) return inner as Headers | HeaderObject;
  return value as HeaderObject;
}

/** One header's value, or undefined when absent or longer than `max` characters (a well-behaved sender did not write it). */
function readHeader(source: Headers | HeaderObject, name: string, max: number): string | undefined {
  const value = rawHeader(source, name, max);
  return value === undefined || value.length > max ? undefined : value;
}

/**
 * One header's value, repeated values joined by `,` (as HTTP combines them);
 * an array of values is joined only until it is longer than `enough`.
 * Undefined when absent or not text.
 */
function rawHeader(source: Headers | HeaderObject, name: string, enough: number): string | undefined {
  let value: unknown;
  if (isHeaders(source)) value = source.get(name);
  else {
    const key = keyOf(source, name);
    value = key === undefined ? undefined : source[key];
  }
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return undefined;
  let joined = '';
  for (const part of value as unknown[]) {
    if (typeof part !== 'string') return undefined;
    joined = joined === '' ? part : `${joined},${part}`;
    if (joined.length > enough) break;
  }
  return joined === '' ? undefined : joined;
}
