/**
 * The OpenTelemetry bridge: a synchronous bus listener that turns each run's
 * events into GenAI spans and metrics.
 *
 * It needs only `@opentelemetry/api` and uses the global providers unless
 * given its own, so it drops into an application that already runs the
 * OpenTelemetry Node SDK. Span times come from the events' timestamps, on the
 * SDK's own time base (see span-time.ts); the parent of a run is the OTel
 * context active where `runContext` was called (read synchronously while
 * `run.started` is published, which happens in the caller's context), or,
 * for a run linked to a step in another service, that step's span
 * (remote-parent.ts).
 *
 * One run is one trace: an agent invocation at the top of a run is its root;
 * a run whose first top-level step is anything else (helpers with no agent)
 * gets a root span of its own, `invoke_workflow <run name>`.
 *
 * This file is the plumbing: it hands each event to its type's handler, picks
 * a run's parent, runs step bodies in their span's context and shuts down.
 * What an event becomes is mapping.ts; starting and ending spans,
 * step-tracer.ts; which span is which step, span-table.ts; the histograms,
 * metrics.ts.
 */
import { context, trace, type Context, type MeterProvider, type SpanContext, type TracerProvider } from './api.js';
import { now } from '../clock.js';
import {
  getEventBus,
  isCanonicalEventType,
  type CanonicalEventType,
  type CanonicalStreamEvent,
  type EventBus,
  type EventData,
  type StreamEvent,
  type StreamEventOf,
  type TokenUsage,
} from '../index.js';
import * as mapping from './mapping.js';
import type { ContentOptions, PointEvent, StepEnd, StepSpan } from './mapping.js';
import type { StepMetrics } from './metrics.js';
import { createSemconvShape, semconvOptIn, semconvShapeName, type SemconvShapeName } from './semconv-shape.js';
import type { SpanTable } from './span-table.js';
import { StepTracer } from './step-tracer.js';
import { linkedParentContext, traceHeadersOf } from './remote-parent.js';
import { provideTraceContext } from '../link.js';
import { booleanOption, positiveIntOption, shownValue } from '../options.js';
import { describeNotEventBus, isEventBus } from '../bus-protocol.js';
import { costIn, pricesOption, readTokenCost, type PriceTable, type Prices, type TokenCost } from '../prices.js';
import { captureContentFromEnv } from '../content.js';
import { tokenCountsOf, type TokenCounts } from './token-counts.js';

/** Default longest content attribute, in characters: a conversation of a few turns fits; backends take attributes this long. */
const DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024;

/** Options of {@link instrumentOtel}. */
export interface OtelBridgeOptions {
  /** Where spans go. Default: the global tracer provider (`trace.getTracerProvider()`), looked up again at each run start. */
  tracerProvider?: TracerProvider;
  /** Where metrics go. Default: the global meter provider, looked up again at each run start. */
  meterProvider?: MeterProvider;
  /**
   * Put the content the runs captured (`runContext({ captureContent })`)
   * into span attributes, as JSON in the GenAI conventions' shapes:
   * `gen_ai.system_instructions`, `gen_ai.input.messages`,
   * `gen_ai.tool.definitions` and `gen_ai.output.messages` on chat spans,
   * `gen_ai.tool.call.arguments` and `gen_ai.tool.call.result` on tool spans;
   * and reasoning text on `agent.think` events. Default: true when
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is `true` (read
   * once per process), else false. This option wins over the variable.
   */
  captureContent?: boolean;
  /**
   * Longest content attribute, in characters. A longer JSON one is cut so
   * that it stays valid JSON in its shape (texts cut to one common length
   * ending in `…`, then trailing messages dropped) and the span gets
   * `agentbus.content.truncated`; reasoning text ends with `…`. Below 2 no
   * JSON fits: content attributes are left out (and the cut said). Default 16384.
   */
  maxContentLength?: number;
  /** The bus to follow. Default: the process-wide bus. */
  bus?: EventBus;
  /** Runs followed at once; past this the oldest run's open spans are ended as unfinished. Default 1024. */
  maxRuns?: number;
  /** Open spans per run; past this the run's oldest open span is ended as unfinished. Default 4096. */
  maxSpansPerRun?: number;
  /**
   * Which shape of the GenAI conventions to write. `'released'`: the names of
   * the `@opentelemetry/semantic-conventions` release (`gen_ai.client.token.usage`,
   * `gen_ai.client.operation.duration`, `gen_ai.usage.cache_creation.input_tokens`).
   * `'latest'`: the development repository's (`gen_ai.client.inference.usage.*`
   * counters by `gen_ai.token.modality`, `gen_ai.client.inference.operation.*`
   * and `gen_ai.client.inference.duration` for model calls,
   * `gen_ai.invocation.duration` for agents and workflows,
   * `gen_ai.execute_tool.duration` for tools,
   * `gen_ai.usage.cache_write.input_tokens`), and not the released ones.
   * Default: `'latest'` when the comma-separated `OTEL_SEMCONV_STABILITY_OPT_IN`
   * lists `gen_ai_latest_experimental` (read once, here), else `'released'`.
   * This option wins over the variable.
   */
  semconv?: SemconvShapeName;
  /**
   * Token prices by model name, in a currency per MILLION tokens (see
   * `ModelPrice` in `agentbus`), for calls whose `agent.tokens.used` carries
   * no `cost` (a run without `RunOptions.prices`, another process's events).
   * A call with a cost (from its event, else from this table) gets the
   * proposed `gen_ai.usage.cost.*` attributes on its `chat` span and a point
   * on the proposed `gen_ai.client.operation.cost` counter; a call of a model
   * priced nowhere gets neither. agentbus ships no prices.
   */
  prices?: PriceTable | undefined;
}

/** A running bridge. */
export interface OtelBridge {
  /**
   * Detaches from the bus and ends every span still open, once, as
   * unfinished. Does not flush or shut down the providers (they are the
   * application's; `setupOtlp`'s handle does that). Idempotent.
   */
  shutdown(): void;
  /** Runs followed and spans open right now (memory-bound checks, health). */
  stats(): { runs: number; openSpans: number };
}

/** The handler of each event type the bridge maps, taking that type's event. */
type Handlers = { readonly [K in CanonicalEventType]?: (event: StreamEventOf<K>) => void };

/** Hands an event to the handler of its own type (`Handlers[K]` takes `StreamEventOf<K>`). */
function dispatch<K extends CanonicalEventType>(handlers: Handlers, event: StreamEventOf<K>): void {
  handlers[event.eventType]?.(event);
}

/**
 * The options object: an object or undefined (then every default). Checked
 * because `null` or a string would otherwise fail on its first field, with
 * a message that names no option, or be read as "no options" at all.
 * @throws {TypeError} `"instrumentOtel: options must be an object ({ tracerProvider, meterProvider, bus, ... }) or undefined, got null"`.
 */
function optionsObject(options: unknown): OtelBridgeOptions {
  if (options === undefined) return {};
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) return options as OtelBridgeOptions;
  throw new TypeError(`instrumentOtel: options must be an object ({ tracerProvider, meterProvider, bus, ... }) or undefined, got ${shownValue(options)}`);
}

/**
 * A provider option: `value` when it has the method the bridge calls on it
 * (`getTracer` at each run start, `getMeter` when the metrics are made),
 * undefined when not given. Checked here rather than when the method is
 * first called, from deep inside the bridge, with a message naming no option.
 * @throws {TypeError} `"instrumentOtel: tracerProvider must be a TracerProvider (an object with a getTracer method, as the OpenTelemetry SDK's) or undefined, got an object without getTracer"`.
 */
function providerOption<P>(name: string, value: P | undefined, method: 'getTracer' | 'getMeter', kind: string): P | undefined {
  if (value === undefined) return undefined;
  let got: string;
  if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
    let found: unknown;
    try {
      found = (value as Record<string, unknown>)[method];
    } catch {
      // A getter that throws: no method to call.
    }
    if (typeof found === 'function') return value;
    got = `an object without ${method}`;
  } else {
    got = shownValue(value);
  }
  throw new TypeError(`instrumentOtel: ${name} must be a ${kind} (an object with a ${method} method, as the OpenTelemetry SDK's) or undefined, got ${got}`);
}

/**
 * The bus option, by runContext's rule: an EventBus of a compatible copy
 * of agentbus (`isEventBus`), or undefined for the process-wide bus.
 * @throws {TypeError} `"instrumentOtel: bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got a plain object"`.
 */
function busOption(bus: unknown): EventBus | undefined {
  if (bus === undefined || isEventBus(bus)) return bus;
  throw new TypeError(`instrumentOtel: bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got ${describeNotEventBus(bus)}`);
}

class Bridge implements OtelBridge {
  readonly #bus: EventBus;
  readonly #content: ContentOptions;
  readonly #metrics: StepMetrics;
  readonly #tracer: StepTracer;
  readonly #table: SpanTable;
  readonly #handlers: Handlers;
  readonly #prices: Prices | undefined;
  #remove: (() => void) | undefined;
  #stopProvidingTraceContext: (() => void) | undefined;

  constructor(given: unknown) {
    const options = optionsObject(given);
    // Each option is checked before anything is registered: a bad one leaves nothing attached.
    const tracerProvider = providerOption('tracerProvider', options.tracerProvider, 'getTracer', 'TracerProvider');
    const meterProvider = providerOption('meterProvider', options.meterProvider, 'getMeter', 'MeterProvider');
    const bus = busOption(options.bus);
    this.#content = {
      captureContent: booleanOption('instrumentOtel', 'captureContent', options.captureContent) ?? captureContentFromEnv(),
      maxContentLength: positiveIntOption('instrumentOtel', 'maxContentLength', options.maxContentLength, DEFAULT_MAX_CONTENT_LENGTH),
    };
    this.#prices = pricesOption('instrumentOtel: prices', options.prices);
    const maxRuns = positiveIntOption('instrumentOtel', 'maxRuns', options.maxRuns, 1024);
    const maxSpansPerRun = positiveIntOption('instrumentOtel', 'maxSpansPerRun', options.maxSpansPerRun, 4096);
    const shape = createSemconvShape(semconvShapeName(options.semconv, semconvOptIn()), meterProvider);
    this.#bus = bus ?? getEventBus();
    this.#metrics = shape.metrics;
    this.#tracer = new StepTracer(tracerProvider, shape, maxRuns, maxSpansPerRun);
    this.#table = this.#tracer.table;
    this.#handlers = {
      'run.started': (event) => this.#runStarted(event),
      'run.completed': (event) => this.#runCompleted(event),
      'agent.invocation.started': (event) => this.#open(event, mapping.agentSpan),
      'agent.terminate': (event) => this.#close(event, mapping.agentEnd),
      'agent.model.started': (event) => this.#open(event, mapping.modelSpan),
      'agent.model.completed': (event) => this.#close(event, mapping.modelEnd),
      'agent.tokens.used': (event) => this.#tokensUsed(event),
      'agent.tool.started': (event) => this.#open(event, mapping.toolSpan),
      'agent.tool.completed': (event) => this.#close(event, mapping.toolEnd),
      'multiagent.fanout.started': (event) => this.#open(event, mapping.fanoutSpan),
      'multiagent.fanout.completed': (event) => this.#close(event, mapping.fanoutEnd),
      'agent.think': (event) => this.#annotate(event, mapping.thinkEvent),
      'agent.handoff': (event) => this.#annotate(event, mapping.handoffEvent),
      'memory.checkpoint.saved': (event) => this.#annotate(event, mapping.checkpointSavedEvent),
      'memory.checkpoint.loaded': (event) => this.#annotate(event, mapping.checkpointLoadedEvent),
      'agent.evaluation.result': (event) => this.#evaluation(event),
    };
    this.#remove = this.#bus.addListener({
      name: 'agentbus/otel',
      onEvent: (event) => this.#onEvent(event),
      wrapStep: (start, body) => this.#wrapStep(start, body),
      onStreamEnd: (runId) => this.#streamEnded(runId),
    });
    // injectRunLink asks, in the calling step's context, for the traceparent to send.
    this.#stopProvidingTraceContext = provideTraceContext((runId, spanId) => traceHeadersOf(this.#callerSpan(runId, spanId)));
  }

  shutdown(): void {
    if (this.#remove === undefined) return;
    this.#remove();
    this.#remove = undefined;
    this.#stopProvidingTraceContext?.();
    this.#stopProvidingTraceContext = undefined;
    const at = now();
    for (const run of this.#table.runs()) this.#tracer.endRun(run, at, undefined);
    this.#table.forgetFinished();
  }

  stats(): { runs: number; openSpans: number } {
    return this.#table.stats();
  }

  // The one narrowing: an event of a canonical type is taken to carry that
  // type's payload, as the emitters' types promise (the bus does not validate
  // on publish; mapping.ts reads the fields an adapter could get wrong defensively).
  #onEvent(event: StreamEvent): void {
    if (isCanonicalEventType(event.eventType)) dispatch(this.#handlers, event as CanonicalStreamEvent);
  }

  // Runs the step body in the step span's context, so that spans made inside
  // it (an instrumented HTTP call in a tool) become the step span's children.
  #wrapStep<R>(start: StreamEvent, body: () => R): R {
    const entry = this.#tracer.entryOf(start);
    return entry === undefined ? body() : context.with(entry.ctx, body);
  }

  // The span a call made here continues. In a step's body the active span is
  // the step's (see #wrapStep) or one user code opened inside it; with no
  // context manager to carry it, the step's span from the table. At a run's
  // top level, the span its top-level steps hang under, as for a nested run.
  #callerSpan(runId: string, spanId: string | undefined): SpanContext | undefined {
    const run = this.#table.run(runId);
    if (spanId === undefined && run?.top !== undefined) return trace.getSpanContext(run.top);
    const active = trace.getSpanContext(context.active());
    if (active !== undefined && trace.isSpanContextValid(active)) return active;
    return this.#table.entry(runId, spanId)?.span.spanContext();
  }

  #runStarted(event: StreamEventOf<'run.started'>): void {
    // The global providers may be registered (or replaced) after the bridge
    // was attached; the metrics API has no proxy provider, so look again per run.
    this.#tracer.refresh();
    this.#metrics.refresh();
    if (event.data.relayedFrom !== undefined) {
      // Another process's run, shown here: its own bridge exports its spans and metrics.
      this.#table.ignore(event.runId);
      return;
    }
    const existing = this.#table.run(event.runId);
    if (existing !== undefined) this.#tracer.endRun(existing, event.timestamp, undefined);
    const run = this.#table.start(event.runId, this.#runParent(event.data), event.data.name, event.timestamp);
    run.inInvocation = this.#startedInInvocation(event.data);
    const conversationId = event.data.conversationId;
    if (typeof conversationId === 'string' && conversationId !== '') run.conversationId = conversationId;
  }

  // A nested run hangs under the step of its parent run that started it; a
  // run linked to a step this bridge does not follow (another process), under
  // the link's traceparent; otherwise under whatever span was active where
  // runContext was called.
  #runParent(data: EventData<'run.started'>): Context {
    if (data.parentRunId !== undefined) {
      const parentRun = this.#table.run(data.parentRunId);
      if (parentRun !== undefined) {
        return data.parentSpanId === undefined ? (parentRun.top ?? parentRun.parentCtx) : this.#table.contextOf(parentRun, data.parentSpanId);
      }
      const linked = linkedParentContext(data.traceparent, data.tracestate);
      if (linked !== undefined) return linked;
    }
    return context.active();
  }

  // Whether a nested run started inside an agent invocation or a workflow of
  // its parent run (the latest conventions' gen_ai.invocation.is_nested): the
  // step that started it, or, at the parent's top level, whether the parent
  // has a root invocation (its agent or its own root span) or is nested itself.
  #startedInInvocation(data: EventData<'run.started'>): boolean {
    if (data.parentRunId === undefined) return false;
    const parentRun = this.#table.run(data.parentRunId);
    if (parentRun === undefined) return false;
    const step = this.#table.entry(data.parentRunId, data.parentSpanId);
    if (step !== undefined) return step.inInvocation;
    return parentRun.inInvocation || parentRun.top !== undefined;
  }

  #runCompleted(event: StreamEventOf<'run.completed'>): void {
    const run = this.#table.run(event.runId);
    if (run !== undefined) this.#tracer.endRun(run, event.timestamp, event.data);
  }

  #streamEnded(runId: string): void {
    const run = this.#table.run(runId);
    if (run !== undefined) this.#tracer.endRun(run, now(), undefined);
  }

  /** Starts the span a step's opening event maps to. */
  #open<K extends CanonicalEventType>(event: StreamEventOf<K>, map: (data: EventData<K>, content: ContentOptions) => StepSpan): void {
    this.#tracer.open(event, map(event.data, this.#content));
  }

  /** Ends the span of a step's closing event with what the event maps to; nothing when the step is not open. */
  #close<K extends CanonicalEventType>(event: StreamEventOf<K>, map: (data: EventData<K>, content: ContentOptions) => StepEnd): void {
    const entry = this.#table.take(event.runId, event.spanId);
    if (entry !== undefined) this.#tracer.close(entry, map(event.data, this.#content), event.timestamp);
  }

  /** Records a point event as a span event on its enclosing step's span. */
  #annotate<K extends CanonicalEventType>(event: StreamEventOf<K>, map: (data: EventData<K>, content: ContentOptions) => PointEvent): void {
    const target = this.#table.entry(event.runId, event.spanId ?? event.parentSpanId);
    if (target === undefined) return;
    const point = map(event.data, this.#content);
    target.span.addEvent(point.name, point.attributes, target.wallTime(event.timestamp));
  }

  // The conventions ask for the evaluation event to be parented to the span it
  // judges. While that span is open, the event is recorded on it. Usually it
  // has ended (a tool's output is judged after the tool returned) and a span
  // takes no events after end(), so the event goes on a zero-length span of its
  // own whose parent is the judged span, remembered by context (span-table.ts):
  // in the trace it sits right under the step it judges. No judged step (the
  // evaluation of the run as a whole) means the run's own root span while it is
  // open, else the span the run's top-level steps hang under; an unknown or
  // forgotten step, that same span too.
  #evaluation(event: StreamEventOf<'agent.evaluation.result'>): void {
    const run = this.#table.run(event.runId);
    if (run === undefined) return;
    const point = mapping.evaluationEvent(event.data);
    const judged = event.parentSpanId;
    const open = judged === undefined ? run.root : run.open.get(judged);
    if (open !== undefined) {
      open.span.addEvent(point.name, point.attributes, open.wallTime(event.timestamp));
      return;
    }
    const parentCtx = judged === undefined ? (run.top ?? run.parentCtx) : this.#table.contextOf(run, judged);
    this.#tracer.pointSpan(run, parentCtx, point, event.timestamp);
  }

  #tokensUsed(event: StreamEventOf<'agent.tokens.used'>): void {
    const usage = event.data;
    if (this.#table.ignores(event.runId)) return;
    // Only counts that are counts go on spans and metrics (see token-counts.ts):
    // a hand-emitted "12" or 1e308 would otherwise make a sum a string or Infinity.
    const counts = tokenCountsOf(usage);
    if (counts === undefined) return;
    this.#metrics.recordTokens(usage, counts);
    // Nothing more unless some cost can be known: no table here and none in the event.
    const cost = usage.cost === undefined && this.#prices === undefined ? undefined : this.#costOf(usage, counts);
    if (cost !== undefined) this.#metrics.recordCost(usage, cost);
    // Usually the model call's own event (same span id); a point event counts for its enclosing step.
    const owner = this.#table.entry(event.runId, event.spanId ?? event.parentSpanId);
    if (owner === undefined) return;
    if (owner.kind === 'model') {
      owner.addUsage(counts);
      // Cost on the inference span only: an agent's sum would count it twice (PR #443).
      if (cost !== undefined) owner.addCost(cost);
    }
    if (owner.agent !== undefined) owner.agent.addUsage(counts);
  }

  // The event's own cost when it carries a valid one (the run's prices, or a
  // provider's figure), else this bridge's table's (an invalid carried cost is
  // as good as none); undefined for a model priced nowhere.
  #costOf(usage: EventData<'agent.tokens.used'>, counts: TokenCounts): TokenCost | undefined {
    const carried = usage.cost === undefined ? undefined : readTokenCost(usage.cost);
    if (carried !== undefined) return carried;
    const prices = this.#prices;
    // Priced from the counts taken, never from ones the spans and metrics ignored.
    if (prices === undefined || counts.inputTokens === undefined || counts.outputTokens === undefined) return undefined;
    try {
      return costIn(prices, usage.model, counts as TokenUsage);
    } catch {
      // A payload whose model name cannot be read (the bus does not validate): no cost.
      return undefined;
    }
  }
}

/**
 * Attaches the OpenTelemetry bridge to the bus: from now on every run's
 * events become GenAI spans (`invoke_agent`, `chat`, `execute_tool`,
 * `invoke_workflow` for a fan-out, and the MCP client and server spans) and the
 * `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`
 * histograms (`mcp.client.operation.duration` and
 * `mcp.server.operation.duration` for steps made over MCP); or, under
 * `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` or
 * `semconv: 'latest'`, the development conventions' metrics instead (see
 * {@link OtelBridgeOptions.semconv}).
 *
 * Register the SDK first (or call `setupOtlp`), or pass providers: with
 * nothing registered the API's no-op providers make this a cheap no-op.
 *
 * @example
 * ```ts
 * const otel = await setupOtlp({ serviceName: 'my-agent' });
 * const bridge = instrumentOtel();
 * // ... runs ...
 * bridge.shutdown();
 * await otel.shutdown();
 * ```
 * @throws {RangeError} for a limit that is not a positive integer.
 * @throws {TypeError} for options that are not an object, a `tracerProvider` without `getTracer` or a
 *   `meterProvider` without `getMeter`, a `bus` that is not an EventBus, a `semconv` other than
 *   `'released'` or `'latest'`, a `captureContent` that is not a boolean, or a `prices` table that is
 *   not one (see `ModelPrice`).
 */
export function instrumentOtel(options?: OtelBridgeOptions): OtelBridge {
  return new Bridge(options);
}
