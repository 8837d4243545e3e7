/**
 * The bridge's tracer: starts the span of each step under its parent, on the
 * SDK's time base (span-time.ts), and ends it exactly once, whether its
 * closing event comes, its run ends first, or a bound evicts it.
 *
 * What a span is called and carries comes from mapping.ts; which span is
 * which step is remembered in the span table (span-table.ts), which this
 * tracer owns. `end` is the one place a step's span is ended (the
 * zero-length span of `pointSpan` is ended where it starts).
 */
import { SpanKind, SpanStatusCode, trace, type Context, type Tracer, type TracerProvider } from './api.js';
import type { EventData, StreamEvent } from '../index.js';
import { ATTR_AGENTBUS, ATTR_ERROR_TYPE, ATTR_GEN_AI_CONVERSATION_ID, ATTR_MCP, ERROR_TYPE_UNFINISHED, INSTRUMENTATION_SCOPE } from './semconv.js';
import { VERSION } from '../version.js';
import { costAttributes, rpcStatusCode, runEnd, workflowSpan, type PointEvent, type StepEnd, type StepSpan } from './mapping.js';
import type { StepMetrics } from './metrics.js';
import type { SemconvShape } from './semconv-shape.js';
import { SpanEntry, SpanTable, type RunTrace } from './span-table.js';
import { wallStart } from './span-time.js';

const UNFINISHED_MESSAGE = 'the step never emitted its closing event';

/** Starts and ends step spans on one tracer provider: the one given, or the global one as it is at each run start. */
export class StepTracer {
  /** Which span is which step, bounded by the bridge's `maxRuns` and `maxSpansPerRun`. */
  readonly table: SpanTable;
  readonly #metrics: StepMetrics;
  readonly #usageAttributes: SemconvShape['usageAttributes'];
  readonly #fixedProvider: TracerProvider | undefined;
  #provider: TracerProvider | undefined;
  #tracer!: Tracer;
  // The step opened last and its span: a step's body is wrapped right after
  // its opening event (see `entryOf`), so this spares the two table lookups.
  #lastStart: StreamEvent | undefined;
  #lastEntry: SpanEntry | undefined;

  constructor(tracerProvider: TracerProvider | undefined, shape: SemconvShape, maxRuns: number, maxSpansPerRun: number) {
    this.#fixedProvider = tracerProvider;
    this.#metrics = shape.metrics;
    this.#usageAttributes = shape.usageAttributes;
    this.table = new SpanTable(maxRuns, maxSpansPerRun, {
      evictRun: (run, at) => this.endRun(run, at, undefined),
      evictSpan: (entry, at) => this.#endUnfinished(entry, at),
    });
    this.refresh();
  }

  /**
   * Looks up the global tracer provider again (unless one was given): it may
   * be registered, or replaced, after the bridge was attached.
   */
  refresh(): void {
    const provider = this.#fixedProvider ?? trace.getTracerProvider();
    if (provider === this.#provider) return;
    this.#provider = provider;
    this.#tracer = provider.getTracer(INSTRUMENTATION_SCOPE, VERSION);
  }

  /** Starts the span of a step's opening event under its enclosing step's span; nothing when the step is open already or its run has finished. */
  open(event: StreamEvent, spec: StepSpan): void {
    const spanId = event.spanId;
    if (spanId === undefined) return;
    const run = this.table.follow(event.runId, event.timestamp);
    if (run === undefined || run.open.get(spanId) !== undefined) return;
    let parentCtx: Context;
    let parent: SpanEntry | undefined;
    const parentSpanId = event.parentSpanId;
    if (parentSpanId === undefined) {
      parentCtx = this.#topParent(run, spec);
      parent = run.root;
    } else {
      parent = run.open.get(parentSpanId);
      parentCtx = parent !== undefined ? parent.ctx : this.table.contextOf(run, parentSpanId);
    }
    // Never before the enclosing step: each span reads the wall clock itself.
    let start = wallStart(event.timestamp);
    if (parent !== undefined && start < parent.wallStart) start = parent.wallStart;
    const attributes = spec.attributes;
    attributes[ATTR_AGENTBUS.runId] = run.runId;
    // The run's, not the payload's: the conventions put it on agent and inference spans.
    const conversationId = run.conversationId;
    if (conversationId !== undefined && (spec.stepKind === 'agent' || spec.stepKind === 'model')) attributes[ATTR_GEN_AI_CONVERSATION_ID] = conversationId;
    const span = this.#tracer.startSpan(spec.name, { kind: spec.spanKind, attributes, startTime: start }, parentCtx);
    const durationAttributes = this.#metrics.durationAttributes(spec, parent, run.inInvocation);
    const entry = new SpanEntry(span, trace.setSpan(parentCtx, span), spec.stepKind, event.timestamp, start, parent, parent?.agent, durationAttributes, spec.mcp);
    this.table.insert(run, spanId, entry, event.timestamp);
    if (parentSpanId === undefined && run.top === undefined) run.top = entry.ctx;
    this.#lastStart = event;
    this.#lastEntry = entry;
  }

  /** The open span of the step that `start` opened, if it is open. */
  entryOf(start: StreamEvent): SpanEntry | undefined {
    if (start === this.#lastStart) return this.#lastEntry;
    return this.table.entry(start.runId, start.spanId);
  }

  // The first top-level step of a run decides the run's root (see bridge.ts);
  // every later top-level step hangs under the same one.
  #topParent(run: RunTrace, spec: StepSpan): Context {
    if (run.top !== undefined || spec.stepKind === 'agent' || spec.headsRun) return run.top ?? run.parentCtx;
    const root = workflowSpan(run.runId, run.name);
    const start = wallStart(run.startTime);
    const span = this.#tracer.startSpan(root.name, { kind: root.spanKind, attributes: root.attributes, startTime: start }, run.parentCtx);
    const entry = new SpanEntry(span, trace.setSpan(run.parentCtx, span), root.stepKind, run.startTime, start, undefined, undefined, this.#metrics.durationAttributes(root, undefined, run.inInvocation));
    run.root = entry;
    run.top = entry.ctx;
    return entry.ctx;
  }

  /** Ends a step's span, taken out of the table, with what its closing event maps to. */
  close(entry: SpanEntry, end: StepEnd, at: number): void {
    if (end.attributes !== undefined) entry.span.setAttributes(end.attributes);
    if (end.failure !== undefined) {
      this.#fail(entry, end.failure, end.message);
      // Only an MCP span speaks JSON-RPC: elsewhere a numeric error.type is not an RPC status.
      const code = entry.mcp === undefined ? undefined : rpcStatusCode(end.failure);
      if (code !== undefined) entry.span.setAttribute(ATTR_MCP.rpcResponseStatusCode, code);
    }
    this.#end(entry, at, end.failure, end.responseModel);
  }

  /**
   * Records `point` under a span that can no longer take events (it ended):
   * a zero-length INTERNAL span named for the event, child of `parentCtx`
   * (the ended span's context), carrying the event at `at`. It is in no
   * table and no metric, so it is started and ended here, at once.
   */
  pointSpan(run: RunTrace, parentCtx: Context, point: PointEvent, at: number): void {
    const time = wallStart(at);
    const span = this.#tracer.startSpan(point.name, { kind: SpanKind.INTERNAL, attributes: { [ATTR_AGENTBUS.runId]: run.runId }, startTime: time }, parentCtx);
    span.addEvent(point.name, point.attributes, time);
    span.end(time);
  }

  /**
   * Ends every span the run left open, once, as unfinished, then the run's
   * own root span (with the run's status when it completed), and forgets the run.
   */
  endRun(run: RunTrace, at: number, completed: EventData<'run.completed'> | undefined): void {
    this.table.finish(run);
    for (const [spanId, entry] of run.open.entries()) {
      this.table.release(run, spanId, entry);
      this.#endUnfinished(entry, at);
    }
    const root = run.root;
    if (root === undefined) return;
    run.root = undefined;
    if (completed === undefined) return this.#endUnfinished(root, at);
    this.close(root, runEnd(completed), at);
  }

  #endUnfinished(entry: SpanEntry, at: number): void {
    this.#fail(entry, ERROR_TYPE_UNFINISHED, UNFINISHED_MESSAGE);
    this.#end(entry, at, ERROR_TYPE_UNFINISHED);
  }

  #fail(entry: SpanEntry, type: string, message: string | undefined): void {
    entry.span.setAttribute(ATTR_ERROR_TYPE, type);
    entry.span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
  }

  /** Ends a span: usage totals, the span itself, its duration measurement. The only place a step's span is ended. */
  #end(entry: SpanEntry, at: number, failure: string | undefined, responseModel: string | undefined = undefined): void {
    if (entry === this.#lastEntry) {
      this.#lastStart = undefined;
      this.#lastEntry = undefined;
    }
    const span = entry.span;
    if (entry.hasUsage) span.setAttributes(this.#usageAttributes(entry));
    const cost = entry.cost;
    if (cost !== undefined && !entry.costMixed) span.setAttributes(costAttributes(cost));
    // Never before its start nor before a child it outlived by microseconds.
    let end = entry.wallTime(at);
    if (end < entry.childEnd) end = entry.childEnd;
    if (end < entry.wallStart) end = entry.wallStart;
    span.end(end);
    const parent = entry.parent;
    if (parent !== undefined && end > parent.childEnd) parent.childEnd = end;
    this.#metrics.recordDuration(entry, at, failure, responseModel);
  }
}
