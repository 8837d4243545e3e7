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
 */
import {
  SpanKind,
  SpanStatusCode,
  context,
  metrics,
  trace,
  type Attributes,
  type Context,
  type Histogram,
  type MeterProvider,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from './api.js';
import { getEventBus, now, preview, type EventBus, type EventData, type StreamEvent } from '../index.js';
import {
  ATTR_AGENTBUS,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_ID,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_MCP,
  ERROR_TYPE_OTHER,
  ERROR_TYPE_UNFINISHED,
  GEN_AI_OPERATION,
  GEN_AI_TOKEN_TYPE,
  GEN_AI_TOOL_TYPE_FUNCTION,
  INSTRUMENTATION_SCOPE,
  MCP_METHOD_TOOLS_CALL,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  OPERATION_DURATION_BUCKETS,
  SPAN_EVENT,
  SPAN_NAME_FAN_OUT,
  TOKEN_USAGE_BUCKETS,
} from './semconv.js';
import { BoundedSet, RunTrace, SpanEntry, type StepKind } from './span-table.js';
import { linkedParentContext, traceHeadersOf } from './remote-parent.js';
import { provideTraceContext } from '../link.js';
import { wallStart } from './span-time.js';
import { positiveIntOption } from '../options.js';

/** Options of {@link instrumentOtel}. */
export interface OtelBridgeOptions {
  /** Where spans go. Default: the global tracer provider (`trace.getTracerProvider()`), looked up again at each run start. */
  tracerProvider?: TracerProvider;
  /** Where metrics go. Default: the global meter provider, looked up again at each run start. */
  meterProvider?: MeterProvider;
  /**
   * Put content into span attributes: tool arguments (when the run captured
   * them) and results, reasoning text on `agent.think` events. Default false.
   */
  captureContent?: boolean;
  /** Longest content attribute, in characters; longer values are cut and end with `…`. Default 1024. */
  maxContentLength?: number;
  /** The bus to follow. Default: the process-wide bus. */
  bus?: EventBus;
  /** Runs followed at once; past this the oldest run's open spans are ended as unfinished. Default 1024. */
  maxRuns?: number;
  /** Open spans per run; past this the run's oldest open span is ended as unfinished. Default 4096. */
  maxSpansPerRun?: number;
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

interface Instruments {
  tokens: Histogram;
  duration: Histogram;
}

const UNFINISHED_MESSAGE = 'the step never emitted its closing event';
const ERROR_NAME = /^([A-Za-z_$][\w$.]*): /;

/** The error's class from the core's `"Name: message"` text, the conventions' `_OTHER` otherwise. */
function errorType(error: string | undefined): string {
  if (error === undefined) return ERROR_TYPE_OTHER;
  return ERROR_NAME.exec(error)?.[1] ?? ERROR_TYPE_OTHER;
}

class Bridge implements OtelBridge {
  readonly #bus: EventBus;
  readonly #fixedTracerProvider: TracerProvider | undefined;
  readonly #fixedMeterProvider: MeterProvider | undefined;
  readonly #captureContent: boolean;
  readonly #maxContentLength: number;
  readonly #maxRuns: number;
  readonly #maxSpansPerRun: number;
  readonly #runs = new Map<string, RunTrace>();
  // Runs that ended recently: their late events (a tool that ignored the
  // abort and finished after the run) must not reopen them.
  readonly #finished = new BoundedSet(4096);
  readonly #tokenAttributes = new Map<string, readonly [Attributes, Attributes]>();
  #tracerProvider: TracerProvider | undefined;
  #tracer!: Tracer;
  #meterProvider: MeterProvider | undefined;
  #instruments!: Instruments;
  #remove: (() => void) | undefined;
  #stopProvidingTraceContext: (() => void) | undefined;

  constructor(options: OtelBridgeOptions) {
    this.#fixedTracerProvider = options.tracerProvider;
    this.#fixedMeterProvider = options.meterProvider;
    this.#captureContent = options.captureContent ?? false;
    this.#maxContentLength = positiveIntOption('instrumentOtel', 'maxContentLength', options.maxContentLength, 1024);
    this.#maxRuns = positiveIntOption('instrumentOtel', 'maxRuns', options.maxRuns, 1024);
    this.#maxSpansPerRun = positiveIntOption('instrumentOtel', 'maxSpansPerRun', options.maxSpansPerRun, 4096);
    this.#bus = options.bus ?? getEventBus();
    this.#refreshProviders();
    this.#remove = this.#bus.addListener({ name: 'agentbus/otel', onEvent: (event) => this.#onEvent(event),
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
    for (const run of [...this.#runs.values()]) this.#finishRun(run, at, undefined);
    this.#finished.clear();
  }

  stats(): { runs: number; openSpans: number } {
    let openSpans = 0;
    for (const run of this.#runs.values()) openSpans += run.open.size;
    return { runs: this.#runs.size, openSpans };
  }

  // Runs the step body in the step span's context, so that spans made inside
  // it (an instrumented HTTP call in a tool) become the step span's children.
  #wrapStep<R>(start: StreamEvent, body: () => R): R {
    const spanId = start.spanId;
    if (spanId === undefined) return body();
    const entry = this.#runs.get(start.runId)?.open.get(spanId);
    if (entry === undefined) return body();
    return context.with(entry.ctx, body);
  }

  // The span a call made here continues. In a step's body the active span is
  // the step's (see #wrapStep) or one user code opened inside it; with no
  // context manager to carry it, the step's span from the table. At a run's
  // top level, the span its top-level steps hang under, as for a nested run.
  #callerSpan(runId: string, spanId: string | undefined): SpanContext | undefined {
    const run = this.#runs.get(runId);
    if (spanId === undefined && run?.top !== undefined) return trace.getSpanContext(run.top);
    const active = trace.getSpanContext(context.active());
    if (active !== undefined && trace.isSpanContextValid(active)) return active;
    return spanId === undefined ? undefined : run?.open.get(spanId)?.span.spanContext();
  }

  #onEvent(event: StreamEvent): void {
    switch (event.eventType) {
      case 'run.started':
        return this.#runStarted(event, event.data as EventData<'run.started'>);
      case 'run.completed': {
        const run = this.#runs.get(event.runId);
        if (run !== undefined) this.#finishRun(run, event.timestamp, event.data as EventData<'run.completed'>);
        return;
      }
      case 'agent.invocation.started':
        return this.#agentStarted(event, event.data as EventData<'agent.invocation.started'>);
      case 'agent.terminate':
        return this.#agentEnded(event, event.data as EventData<'agent.terminate'>);
      case 'agent.model.started':
        return this.#modelStarted(event, event.data as EventData<'agent.model.started'>);
      case 'agent.model.completed':
        return this.#modelEnded(event, event.data as EventData<'agent.model.completed'>);
      case 'agent.tokens.used':
        return this.#tokensUsed(event, event.data as EventData<'agent.tokens.used'>);
      case 'agent.tool.started':
        return this.#toolStarted(event, event.data as EventData<'agent.tool.started'>);
      case 'agent.tool.completed':
        return this.#toolEnded(event, event.data as EventData<'agent.tool.completed'>);
      case 'multiagent.fanout.started':
        return this.#fanoutStarted(event, event.data as EventData<'multiagent.fanout.started'>);
      case 'multiagent.fanout.completed':
        return this.#fanoutEnded(event, event.data as EventData<'multiagent.fanout.completed'>);
      case 'agent.think':
        return this.#think(event, event.data as EventData<'agent.think'>);
      case 'agent.handoff':
        return this.#handoff(event, event.data as EventData<'agent.handoff'>);
      case 'memory.checkpoint.saved':
      case 'memory.checkpoint.loaded':
        return this.#checkpoint(event, event.data as EventData<'memory.checkpoint.saved'>);
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- runs

  #runStarted(event: StreamEvent, data: EventData<'run.started'>): void {
    this.#refreshProviders();
    const existing = this.#runs.get(event.runId);
    if (existing !== undefined) this.#finishRun(existing, event.timestamp, undefined);
    this.#finished.delete(event.runId);
    this.#addRun(event.runId, this.#runParent(data), data.name, event.timestamp);
  }

  // A nested run hangs under the step of its parent run that started it; a
  // run linked to a step this bridge does not follow (another process), under
  // the link's traceparent; otherwise under whatever span was active where
  // runContext was called.
  #runParent(data: EventData<'run.started'>): Context {
    if (data.parentRunId !== undefined) {
      const parentRun = this.#runs.get(data.parentRunId);
      if (parentRun !== undefined) {
        return data.parentSpanId === undefined ? (parentRun.top ?? parentRun.parentCtx) : this.#contextOf(parentRun, data.parentSpanId);
      }
      const linked = linkedParentContext(data.traceparent, data.tracestate);
      if (linked !== undefined) return linked;
    }
    return context.active();
  }

  #addRun(runId: string, parentCtx: Context, name: string | undefined, startTime: number): RunTrace {
    if (this.#runs.size >= this.#maxRuns) {
      const oldest = this.#runs.values().next().value;
      if (oldest !== undefined) this.#finishRun(oldest, now(), undefined);
    }
    const run = new RunTrace(runId, parentCtx, name, startTime);
    this.#runs.set(runId, run);
    return run;
  }

  /**
   * Ends every span the run left open, once, as unfinished, then the run's
   * own root span (with the run's status when it completed), and forgets the run.
   */
  #finishRun(run: RunTrace, at: number, completed: EventData<'run.completed'> | undefined): void {
    this.#runs.delete(run.runId);
    this.#finished.add(run.runId);
    for (const [spanId, entry] of [...run.open]) this.#abandon(run, spanId, entry, at);
    const root = run.root;
    if (root === undefined) return;
    run.root = undefined;
    if (completed === undefined) {
      this.#fail(root, ERROR_TYPE_UNFINISHED, UNFINISHED_MESSAGE);
      return this.#end(root, at, ERROR_TYPE_UNFINISHED);
    }
    root.span.setAttribute(ATTR_AGENTBUS.runStatus, completed.status);
    if (completed.status !== 'ok') {
      const failure = completed.status === 'aborted' ? 'aborted' : errorType(completed.error);
      this.#fail(root, failure, completed.error);
    }
    this.#end(root, at, undefined);
  }

  // The first top-level step of a run decides the run's root (see the file
  // comment); every later top-level step hangs under the same one.
  #topParent(run: RunTrace, kind: StepKind, headsRun: boolean): Context {
    if (run.top !== undefined || kind === 'agent' || headsRun) return run.top ?? run.parentCtx;
    const name = run.name;
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeWorkflow,
      [ATTR_AGENTBUS.runId]: run.runId,
    };
    if (name !== undefined) attributes[ATTR_GEN_AI_WORKFLOW_NAME] = name;
    const start = wallStart(run.startTime);
    const span = this.#tracer.startSpan(
      name === undefined ? GEN_AI_OPERATION.invokeWorkflow : `${GEN_AI_OPERATION.invokeWorkflow} ${name}`,
      { kind: SpanKind.INTERNAL, attributes, startTime: start },
      run.parentCtx,
    );
    const root = new SpanEntry(span, trace.setSpan(run.parentCtx, span), 'workflow', run.startTime, start, undefined, undefined, undefined, undefined);
    run.root = root;
    run.top = root.ctx;
    return root.ctx;
  }

  #streamEnded(runId: string): void {
    const run = this.#runs.get(runId);
    if (run !== undefined) this.#finishRun(run, now(), undefined);
  }

  // ---------------------------------------------------------------- spans

  #contextOf(run: RunTrace, spanId: string): Context {
    const open = run.open.get(spanId);
    if (open !== undefined) return open.ctx;
    const ended = run.endedSpanContext(spanId);
    return ended === undefined ? (run.top ?? run.parentCtx) : trace.setSpanContext(run.parentCtx, ended);
  }

  #open(
    event: StreamEvent,
    kind: StepKind,
    name: string,
    spanKind: SpanKind,
    attributes: Attributes,
    provider: string | undefined,
    model: string | undefined,
    headsRun = false,
  ): void {
    const spanId = event.spanId;
    if (spanId === undefined) return;
    let run = this.#runs.get(event.runId);
    if (run === undefined) {
      // A run that began before the bridge was attached: follow it from here.
      if (this.#finished.has(event.runId)) return;
      run = this.#addRun(event.runId, context.active(), undefined, event.timestamp);
    }
    if (run.open.has(spanId)) return;
    let parentCtx: Context;
    let parent: SpanEntry | undefined;
    const parentSpanId = event.parentSpanId;
    if (parentSpanId === undefined) {
      parentCtx = this.#topParent(run, kind, headsRun);
      parent = run.root;
    } else {
      parent = run.open.get(parentSpanId);
      parentCtx = parent !== undefined ? parent.ctx : this.#contextOf(run, parentSpanId);
    }
    // Never before the enclosing step: each span reads the wall clock itself.
    let start = wallStart(event.timestamp);
    if (parent !== undefined && start < parent.wallStart) start = parent.wallStart;
    attributes[ATTR_AGENTBUS.runId] = run.runId;
    const span = this.#tracer.startSpan(name, { kind: spanKind, attributes, startTime: start }, parentCtx);
    if (run.open.size >= this.#maxSpansPerRun) {
      const [oldestId, oldest] = run.open.entries().next().value as [string, SpanEntry];
      this.#abandon(run, oldestId, oldest, event.timestamp);
    }
    const entry = new SpanEntry(span, trace.setSpan(parentCtx, span), kind, event.timestamp, start, parent, parent?.agent, provider, model);
    run.open.set(spanId, entry);
    if (parentSpanId === undefined && run.top === undefined) run.top = entry.ctx;
  }

  /** Takes the step's entry out of the open table; undefined when it is not open (never seen, or already ended). */
  #take(event: StreamEvent): SpanEntry | undefined {
    const spanId = event.spanId;
    if (spanId === undefined) return undefined;
    const run = this.#runs.get(event.runId);
    const entry = run?.open.get(spanId);
    if (run === undefined || entry === undefined) return undefined;
    run.open.delete(spanId);
    run.rememberEnded(spanId, entry.span.spanContext());
    return entry;
  }

  /** Ends a span: usage totals, the span itself, its duration measurement. The only place `span.end` is called. */
  #end(entry: SpanEntry, at: number, failure: string | undefined): void {
    const span = entry.span;
    if (entry.hasUsage) {
      span.setAttribute(ATTR_GEN_AI_USAGE_INPUT_TOKENS, entry.inputTokens);
      span.setAttribute(ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, entry.outputTokens);
      if (entry.cacheReadInputTokens !== 0) {
        span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, entry.cacheReadInputTokens);
      }
      if (entry.reasoningOutputTokens !== 0) {
        span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, entry.reasoningOutputTokens);
      }
    }
    // Never before its start nor before a child it outlived by microseconds.
    let end = entry.wallTime(at);
    if (end < entry.childEnd) end = entry.childEnd;
    if (end < entry.wallStart) end = entry.wallStart;
    span.end(end);
    const parent = entry.parent;
    if (parent !== undefined && end > parent.childEnd) parent.childEnd = end;
    if (entry.kind === 'fanout' || entry.kind === 'workflow') return;
    const operation =
      entry.kind === 'chat' ? GEN_AI_OPERATION.chat : entry.kind === 'tool' ? GEN_AI_OPERATION.executeTool : GEN_AI_OPERATION.invokeAgent;
    const attributes: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: operation };
    const provider = entry.provider ?? entry.agent?.provider;
    if (provider !== undefined) attributes[ATTR_GEN_AI_PROVIDER_NAME] = provider;
    if (entry.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = entry.model;
    if (failure !== undefined) attributes[ATTR_ERROR_TYPE] = failure;
    this.#instruments.duration.record(Math.max(0, at - entry.startTime) / 1000, attributes);
  }

  #fail(entry: SpanEntry, type: string, message: string | undefined): void {
    entry.span.setAttribute(ATTR_ERROR_TYPE, type);
    entry.span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
  }

  #abandon(run: RunTrace, spanId: string, entry: SpanEntry, at: number): void {
    run.open.delete(spanId);
    run.rememberEnded(spanId, entry.span.spanContext());
    this.#fail(entry, ERROR_TYPE_UNFINISHED, UNFINISHED_MESSAGE);
    this.#end(entry, at, ERROR_TYPE_UNFINISHED);
  }

  #enclosing(event: StreamEvent): SpanEntry | undefined {
    const spanId = event.spanId ?? event.parentSpanId;
    return spanId === undefined ? undefined : this.#runs.get(event.runId)?.open.get(spanId);
  }

  // ---------------------------------------------------------------- steps

  #agentStarted(event: StreamEvent, data: EventData<'agent.invocation.started'>): void {
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeAgent,
      [ATTR_GEN_AI_AGENT_NAME]: data.agentName,
    };
    if (data.agentId !== undefined) attributes[ATTR_GEN_AI_AGENT_ID] = data.agentId;
    if (data.provider !== undefined) attributes[ATTR_GEN_AI_PROVIDER_NAME] = data.provider;
    if (data.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = data.model;
    this.#open(event, 'agent', `${GEN_AI_OPERATION.invokeAgent} ${data.agentName}`, SpanKind.INTERNAL, attributes, data.provider, data.model);
  }

  #agentEnded(event: StreamEvent, data: EventData<'agent.terminate'>): void {
    const entry = this.#take(event);
    if (entry === undefined) return;
    entry.span.setAttributes({
      [ATTR_AGENTBUS.terminateReason]: data.reason,
      [ATTR_AGENTBUS.iterations]: data.iterationsUsed,
      [ATTR_AGENTBUS.toolCalls]: data.totalToolCalls,
    });
    let failure: string | undefined;
    if (data.reason === 'error' || data.reason === 'aborted') {
      failure = data.reason === 'aborted' ? 'aborted' : ERROR_TYPE_OTHER;
      this.#fail(entry, failure, `agent ended: ${data.reason}`);
    }
    this.#end(entry, event.timestamp, failure);
  }

  #modelStarted(event: StreamEvent, data: EventData<'agent.model.started'>): void {
    this.#open(
      event,
      'chat',
      `${GEN_AI_OPERATION.chat} ${data.model}`,
      SpanKind.CLIENT,
      {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
        [ATTR_GEN_AI_REQUEST_MODEL]: data.model,
        [ATTR_GEN_AI_PROVIDER_NAME]: data.provider,
      },
      data.provider,
      data.model,
    );
  }

  #modelEnded(event: StreamEvent, data: EventData<'agent.model.completed'>): void {
    const entry = this.#take(event);
    if (entry === undefined) return;
    entry.span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, [data.stopReason]);
    let failure: string | undefined;
    if (data.error !== undefined) {
      failure = errorType(data.error);
      this.#fail(entry, failure, data.error);
    }
    this.#end(entry, event.timestamp, failure);
  }

  #tokensUsed(event: StreamEvent, data: EventData<'agent.tokens.used'>): void {
    const [input, output] = this.#tokenMetricAttributes(data.provider, data.model);
    this.#instruments.tokens.record(data.inputTokens, input);
    this.#instruments.tokens.record(data.outputTokens, output);
    const run = this.#runs.get(event.runId);
    if (run === undefined) return;
    // Usually the model call's own event (same span id); a point event counts for its enclosing step.
    const owner = run.open.get((event.spanId ?? event.parentSpanId) as string);
    if (owner === undefined) return;
    if (owner.kind === 'chat') addUsage(owner, data);
    if (owner.agent !== undefined) addUsage(owner.agent, data);
  }

  #tokenMetricAttributes(provider: string, model: string): readonly [Attributes, Attributes] {
    const key = `${provider}\u0000${model}`;
    let pair = this.#tokenAttributes.get(key);
    if (pair === undefined) {
      const base = {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
      };
      pair = [
        { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE.input },
        { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE.output },
      ];
      if (this.#tokenAttributes.size >= 256) this.#tokenAttributes.clear();
      this.#tokenAttributes.set(key, pair);
    }
    return pair;
  }

  #toolStarted(event: StreamEvent, data: EventData<'agent.tool.started'>): void {
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.executeTool,
      [ATTR_GEN_AI_TOOL_NAME]: data.toolName,
      [ATTR_GEN_AI_TOOL_CALL_ID]: data.toolCallId,
      [ATTR_GEN_AI_TOOL_TYPE]: GEN_AI_TOOL_TYPE_FUNCTION,
    };
    if (this.#captureContent && data.args !== undefined) attributes[ATTR_GEN_AI_TOOL_CALL_ARGUMENTS] = this.#content(data.args);
    const mcp = data.mcp;
    if (typeof mcp === 'object' && mcp !== null && typeof mcp.method === 'string') return this.#mcpStarted(event, data, mcp, attributes);
    this.#open(event, 'tool', `${GEN_AI_OPERATION.executeTool} ${data.toolName}`, SpanKind.INTERNAL, attributes, undefined, undefined);
  }

  // A step made over MCP (agentbus/mcp): the MCP conventions' span, `{mcp.method.name} {target}`,
  // CLIENT on the calling side, SERVER on the serving side, where it heads its run (no
  // invoke_workflow root between it and the client span). Only a tools/call is an execute_tool span.
  #mcpStarted(
    event: StreamEvent,
    data: EventData<'agent.tool.started'>,
    mcp: NonNullable<EventData<'agent.tool.started'>['mcp']>,
    attributes: Attributes,
  ): void {
    const method = mcp.method;
    attributes[ATTR_MCP.methodName] = method;
    let target: string | undefined;
    if (method === MCP_METHOD_TOOLS_CALL) {
      target = data.toolName;
    } else {
      delete attributes[ATTR_GEN_AI_OPERATION_NAME];
      delete attributes[ATTR_GEN_AI_TOOL_NAME];
      delete attributes[ATTR_GEN_AI_TOOL_CALL_ID];
      delete attributes[ATTR_GEN_AI_TOOL_TYPE];
      target = stringOrUndefined(mcp.promptName);
    }
    setString(attributes, ATTR_MCP.sessionId, mcp.sessionId);
    setString(attributes, ATTR_MCP.protocolVersion, mcp.protocolVersion);
    setString(attributes, ATTR_MCP.networkTransport, mcp.transport);
    setString(attributes, ATTR_MCP.requestId, mcp.requestId);
    setString(attributes, ATTR_MCP.resourceUri, mcp.resourceUri);
    setString(attributes, ATTR_MCP.promptName, mcp.promptName);
    const server = mcp.side === 'server';
    const name = target === undefined || target === '' ? method : `${method} ${target}`;
    this.#open(event, 'tool', name, server ? SpanKind.SERVER : SpanKind.CLIENT, attributes, undefined, undefined, server);
  }

  #toolEnded(event: StreamEvent, data: EventData<'agent.tool.completed'>): void {
    const entry = this.#take(event);
    if (entry === undefined) return;
    let failure: string | undefined;
    if (data.success) {
      if (this.#captureContent && data.outputPreview !== undefined) {
        entry.span.setAttribute(ATTR_GEN_AI_TOOL_CALL_RESULT, this.#content(data.outputPreview));
      }
    } else {
      failure = errorType(data.error);
      this.#fail(entry, failure, data.error);
    }
    this.#end(entry, event.timestamp, failure);
  }

  #fanoutStarted(event: StreamEvent, data: EventData<'multiagent.fanout.started'>): void {
    this.#open(
      event,
      'fanout',
      SPAN_NAME_FAN_OUT,
      SpanKind.INTERNAL,
      { [ATTR_AGENTBUS.fanoutAgentCount]: data.agentCount, [ATTR_AGENTBUS.fanoutMergeStrategy]: data.mergeStrategy },
      undefined,
      undefined,
    );
  }

  #fanoutEnded(event: StreamEvent, data: EventData<'multiagent.fanout.completed'>): void {
    const entry = this.#take(event);
    if (entry === undefined) return;
    entry.span.setAttributes({ [ATTR_AGENTBUS.fanoutSucceeded]: data.succeeded, [ATTR_AGENTBUS.fanoutFailed]: data.failed });
    this.#end(entry, event.timestamp, undefined);
  }

  #think(event: StreamEvent, data: EventData<'agent.think'>): void {
    const target = this.#enclosing(event);
    if (target === undefined) return;
    const attributes: Attributes = {
      [ATTR_AGENTBUS.iteration]: data.iteration,
      [ATTR_AGENTBUS.hasToolCalls]: data.hasToolCalls,
      [ATTR_AGENTBUS.toolCallCount]: data.toolCallCount,
    };
    if (this.#captureContent) attributes[ATTR_AGENTBUS.reasoning] = this.#content(data.reasoningPreview);
    target.span.addEvent(SPAN_EVENT.think, attributes, target.wallTime(event.timestamp));
  }

  #handoff(event: StreamEvent, data: EventData<'agent.handoff'>): void {
    const target = this.#enclosing(event);
    if (target === undefined) return;
    target.span.addEvent(
      SPAN_EVENT.handoff,
      { [ATTR_AGENTBUS.handoffFrom]: data.fromAgent, [ATTR_AGENTBUS.handoffTo]: data.toAgent },
      target.wallTime(event.timestamp),
    );
  }

  #checkpoint(event: StreamEvent, data: EventData<'memory.checkpoint.saved'>): void {
    const target = this.#enclosing(event);
    if (target === undefined) return;
    target.span.addEvent(
      event.eventType === 'memory.checkpoint.saved' ? SPAN_EVENT.checkpointSaved : SPAN_EVENT.checkpointLoaded,
      {
        [ATTR_AGENTBUS.threadId]: data.threadId,
        [ATTR_AGENTBUS.iteration]: data.iteration,
        [ATTR_AGENTBUS.backend]: data.backend,
      },
      target.wallTime(event.timestamp),
    );
  }

  // ---------------------------------------------------------------- plumbing

  #content(value: unknown): string {
    return preview(value, this.#maxContentLength);
  }

  // The global providers may be registered (or replaced) after the bridge was
  // attached; the metrics API has no proxy provider, so look again per run.
  #refreshProviders(): void {
    const tracerProvider = this.#fixedTracerProvider ?? trace.getTracerProvider();
    if (tracerProvider !== this.#tracerProvider) {
      this.#tracerProvider = tracerProvider;
      this.#tracer = tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    }
    const meterProvider = this.#fixedMeterProvider ?? metrics.getMeterProvider();
    if (meterProvider !== this.#meterProvider) {
      this.#meterProvider = meterProvider;
      const meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE);
      this.#instruments = {
        tokens: meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
          unit: '{token}',
          description: 'Number of input and output tokens used.',
          advice: { explicitBucketBoundaries: [...TOKEN_USAGE_BUCKETS] },
        }),
        duration: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
          unit: 's',
          description: 'GenAI operation duration.',
          advice: { explicitBucketBoundaries: [...OPERATION_DURATION_BUCKETS] },
        }),
      };
    }
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function setString(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'string') attributes[key] = value;
}

function addUsage(entry: SpanEntry, data: EventData<'agent.tokens.used'>): void {
  entry.hasUsage = true;
  entry.inputTokens += data.inputTokens;
  entry.outputTokens += data.outputTokens;
  entry.cacheReadInputTokens += data.cacheReadInputTokens ?? 0;
  entry.reasoningOutputTokens += data.reasoningOutputTokens ?? 0;
}

/**
 * Attaches the OpenTelemetry bridge to the bus: from now on every run's
 * events become GenAI spans (`invoke_agent`, `chat`, `execute_tool`,
 * `fan_out`) and the `gen_ai.client.token.usage` and
 * `gen_ai.client.operation.duration` histograms.
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
 */
export function instrumentOtel(options: OtelBridgeOptions = {}): OtelBridge {
  return new Bridge(options);
}
