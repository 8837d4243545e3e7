/**
 * An OpenAI Agents SDK trace processor that turns the SDK's spans into
 * canonical agentbus events: `agent` spans become agent invocations,
 * `generation` / `response` spans model steps (with their token usage),
 * `function` spans tool steps, and `handoff` spans an `agent.handoff` event
 * that links the receiving agent to the one that handed off.
 *
 * Only the SDK's own OpenAI model classes trace their calls; a model wrapped
 * with {@link AgentbusTraceProcessor.instrumentModel} is a model step for any
 * `Model` implementation, and the span such a model may still make is then
 * looked through, so that no call is counted twice.
 *
 * The SDK calls processors from its own code, not inside our steps, so each
 * event names its parent explicitly: the agentbus step of the nearest SDK
 * ancestor that became one (task, turn and other spans are looked through).
 * An agent run as a tool (`agent.asTool()`) therefore nests under that tool.
 */
import { isRecording } from '../../context.js';
import { emit, startStep } from '../../emit.js';
import type { Step } from '../../step.js';
import { recordTokens, type TokenUsage } from '../../trace.js';
import { argKeys, errorText, preview } from '../../events.js';
import { parseArgs, tokenCount } from '../payload.js';
import { instrumentedModel, type RecordedModelCall } from './instrumented-model.js';
import type { SdkModel, SdkModelRequest, SdkModelUsage } from './sdk-model.js';
import type { SdkSpan, SdkSpanData, SdkTrace } from './sdk-spans.js';

/** Options of {@link AgentbusTraceProcessor}. */
export interface AgentbusTraceProcessorOptions {
  /** `provider` of model events (the SDK's spans do not say). Default `'openai'`. */
  provider?: string;
}

/** Options of {@link AgentbusTraceProcessor.instrumentModel}. */
export interface InstrumentModelOptions {
  /** `model` of its events. Default: the model's class name (a `Model` does not say which model it calls). */
  model?: string;
  /** `provider` of its events. Default: the processor's `provider`. */
  provider?: string;
}

/** A function call of a model's answer: the model's call id for the tool step that runs it. */
interface FunctionCall {
  readonly callId: string;
  readonly name: string;
  readonly args: string;
}

interface AgentEntry {
  readonly kind: 'agent';
  readonly traceId: string;
  readonly name: string;
  readonly step: Step<'agent.invocation.started'>;
  /** The SDK's span data, kept live: it lists the tools and handoffs the agent offers its model. */
  readonly data: SdkSpanData;
  modelCalls: number;
  toolCalls: number;
  lastText: string;
  /** Function calls of the agent's last model answer that no tool step has taken yet. */
  calls: FunctionCall[];
}
interface ModelEntry {
  readonly kind: 'model';
  readonly traceId: string;
  readonly step: Step<'agent.model.started'>;
  readonly agent: AgentEntry | undefined;
}
interface ToolEntry {
  readonly kind: 'tool';
  readonly traceId: string;
  readonly step: Step<'agent.tool.started'>;
  readonly agent: AgentEntry | undefined;
  readonly name: string;
  readonly toolCallId: string;
  readonly started: number;
}
/**
 * A function span whose step is not open yet: the SDK fills in the tool's
 * arguments just after starting the span, so the step opens one microtask
 * later (or at once, when a child span or the span's end needs it first).
 */
interface PendingToolEntry {
  readonly kind: 'pending-tool';
  readonly traceId: string;
  readonly span: SdkSpan;
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}
/** A span that is not a step of ours (task, turn, handoff, guardrail...): children look through it. */
interface PassEntry {
  readonly kind: 'pass';
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}
type Entry = AgentEntry | ModelEntry | ToolEntry | PassEntry | PendingToolEntry;

/** A handoff waiting for its receiving agent's span. */
interface PendingHandoff {
  readonly toAgent: string;
  readonly fromSpanId: string | undefined;
}

/**
 * The processor. `instrumentOpenAIAgents(agents)` creates and registers
 * one; with the SDK's own API, `setTraceProcessors([processor])` registers it
 * in place of the SDK's OpenAI exporter (which needs an OpenAI key) and
 * `addTraceProcessor(processor)` next to it. It never exports anything;
 * spans of runs made outside an agentbus run are ignored without allocating.
 */
export class AgentbusTraceProcessor {
  readonly #entries = new Map<string, Entry>();
  readonly #handoffs = new Map<string, PendingHandoff>();
  /** SDK span id -> the step of the instrumented model call running under it. */
  readonly #instrumented = new Map<string, string>();
  readonly #provider: string;

  constructor(options: AgentbusTraceProcessorOptions = {}) {
    this.#provider = options.provider ?? 'openai';
  }

  /** SDK spans currently open and tracked. */
  get openSpans(): number {
    return this.#entries.size;
  }

  /**
   * Wraps a model so that each of its calls is a model step (with the
   * request's message and tool counts, the answer's token usage and the
   * model's function call ids for the tool steps), whatever the `Model`
   * implementation: `new Agent({ model: processor.instrumentModel(myModel) })`.
   * The SDK's own OpenAI models trace their calls already; wrapping one too
   * counts each call once. Calls made outside an agentbus run go straight to
   * the model.
   */
  instrumentModel<M extends SdkModel>(model: M, options: InstrumentModelOptions = {}): M {
    const name = options.model ?? className(model);
    const provider = options.provider ?? this.#provider;
    return instrumentedModel(model, (request) => this.#openModelCall(request, name, provider));
  }

  /** Part of the SDK's processor interface; nothing to start. */
  start(): void {}

  /** Part of the SDK's processor interface; a trace is not a step. */
  async onTraceStart(_trace: SdkTrace): Promise<void> {}

  /** Closes, once, any step of the trace whose span never ended. */
  async onTraceEnd(trace: SdkTrace): Promise<void> {
    if (this.#entries.size === 0) return;
    for (const [spanId, entry] of this.#entries) {
      if (entry.traceId !== trace.traceId) continue;
      const open = this.#resolve(spanId);
      this.#entries.delete(spanId);
      if (open !== undefined) closeUnfinished(open);
    }
    this.#handoffs.delete(trace.traceId);
  }

  /** Opens the step a span stands for. */
  async onSpanStart(span: SdkSpan): Promise<void> {
    const parent = span.parentId === null ? undefined : this.#resolve(span.parentId);
    if (parent === undefined && !isRecording()) return;
    const parentSpanId = parent === undefined ? undefined : parent.kind === 'pass' ? parent.parentSpanId : parent.step.spanId;
    const owner = parent === undefined ? undefined : parent.kind === 'agent' ? parent : parent.agent;
    if (span.spanData.type === 'function') {
      this.#entries.set(span.spanId, { kind: 'pending-tool', traceId: span.traceId, span, parentSpanId, agent: owner });
      await undefined;
      this.#resolve(span.spanId);
      return;
    }
    const entry = this.#open(span, span.spanData, parentSpanId, owner);
    if (entry !== undefined) this.#entries.set(span.spanId, entry);
  }

  /** Closes the step a span stands for. */
  async onSpanEnd(span: SdkSpan): Promise<void> {
    const entry = this.#resolve(span.spanId);
    if (entry === undefined) return;
    this.#entries.delete(span.spanId);
    const data = span.spanData;
    switch (entry.kind) {
      case 'agent':
        return endAgent(entry, span);
      case 'model':
        return this.#endModel(entry, span, data);
      case 'tool':
        return endTool(entry, span, data);
      case 'pass':
        if (data.type === 'handoff' && data.to_agent !== undefined) {
          this.#handoffs.set(span.traceId, { toAgent: data.to_agent, fromSpanId: entry.parentSpanId });
          emit('agent.handoff', { fromAgent: data.from_agent ?? entry.agent?.name ?? 'unknown', toAgent: data.to_agent }, { parentSpanId: entry.parentSpanId });
        }
    }
  }

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async shutdown(_timeout?: number): Promise<void> {}

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async forceFlush(): Promise<void> {}

  /** The entry of an SDK span, opening a pending tool step first. */
  #resolve(spanId: string): Exclude<Entry, PendingToolEntry> | undefined {
    const entry = this.#entries.get(spanId);
    if (entry?.kind !== 'pending-tool') return entry;
    const opened = this.#open(entry.span, entry.span.spanData, entry.parentSpanId, entry.agent);
    if (opened === undefined) this.#entries.delete(spanId);
    else this.#entries.set(spanId, opened);
    return opened;
  }

  #open(
    span: SdkSpan,
    data: SdkSpanData,
    parentSpanId: string | undefined,
    owner: AgentEntry | undefined,
  ): Exclude<Entry, PendingToolEntry> | undefined {
    const traceId = span.traceId;
    switch (data.type) {
      case 'agent': {
        const name = data.name ?? 'agent';
        const handoff = this.#handoffs.get(traceId);
        let parent = parentSpanId;
        if (handoff !== undefined && handoff.toAgent === name) {
          // The receiving agent's span hangs off the run's task span; link it to
          // the agent that handed off instead, which is what happened.
          this.#handoffs.delete(traceId);
          parent = handoff.fromSpanId ?? parent;
        }
        const step = startStep('agent.invocation.started', { agentName: name, agentId: span.spanId }, { parentSpanId: parent });
        return step.recording ? { kind: 'agent', traceId, name, step, data, modelCalls: 0, toolCalls: 0, lastText: '', calls: [] } : undefined;
      }
      case 'generation':
      case 'response': {
        const instrumented = span.parentId === null ? undefined : this.#instrumented.get(span.parentId);
        if (instrumented !== undefined) return { kind: 'pass', traceId, parentSpanId: instrumented, agent: owner };
        // A response span gets its input only once the model answered: its count is then unknown here.
        const input = data.type === 'response' ? data._input : data.input;
        const step = startStep('agent.model.started', {
          model: modelName(data),
          provider: this.#provider,
          messageCount: Array.isArray(input) ? input.length : input === undefined ? 0 : 1,
          toolCount: offeredTools(owner),
        }, { parentSpanId });
        if (!step.recording) return undefined;
        if (owner !== undefined) owner.modelCalls++;
        return { kind: 'model', traceId, step, agent: owner };
      }
      case 'function': {
        const name = data.name ?? 'tool';
        const args = parseArgs(data.input);
        // The SDK's function spans carry no call id: the model's is taken from
        // the agent's last answer (the span id when that answer was not seen).
        const toolCallId = takeCall(owner, name, data.input) ?? span.spanId;
        const step = startStep('agent.tool.started', {
          toolName: name,
          toolCallId,
          argKeys: argKeys(args),
          args: owner?.step.captureContent === true ? args : undefined,
        }, { parentSpanId });
        if (!step.recording) return undefined;
        if (owner !== undefined) owner.toolCalls++;
        return { kind: 'tool', traceId, step, agent: owner, name, toolCallId, started: performance.now() };
      }
      default:
        return { kind: 'pass', traceId, parentSpanId, agent: owner };
    }
  }

  #endModel(entry: ModelEntry, span: SdkSpan, data: SdkSpanData): void {
    const response = data._response;
    const usage = (data.type === 'response' ? response?.['usage'] : data.usage) as Record<string, unknown> | null | undefined;
    const model = data.type === 'response' && typeof response?.['model'] === 'string' ? response['model'] : modelName(data);
    const output = data.type === 'response' ? response?.['output'] : data.output;
    answer(entry.step, entry.agent, { model, provider: this.#provider }, spanUsage(usage), output, span.error === null ? undefined : spanErrorText(span.error));
  }

  /** Opens the model step of an instrumented model's call, under the runner's span the call belongs to. */
  #openModelCall(request: SdkModelRequest, model: string, provider: string): RecordedModelCall | undefined {
    const sdkParent = tracingParent(request);
    const parent = sdkParent === undefined ? undefined : this.#resolve(sdkParent);
    if (parent === undefined && !isRecording()) return undefined;
    const parentSpanId = parent === undefined ? undefined : parent.kind === 'pass' ? parent.parentSpanId : parent.step.spanId;
    const owner = parent === undefined ? undefined : parent.kind === 'agent' ? parent : parent.agent;
    const input = request.input;
    const step = startStep('agent.model.started', {
      model,
      provider,
      messageCount: typeof input === 'string' ? 1 : Array.isArray(input) ? input.length : 0,
      toolCount: (request.tools?.length ?? 0) + (request.handoffs?.length ?? 0),
    }, { parentSpanId });
    const spanId = step.spanId;
    if (!step.recording || spanId === undefined) return undefined;
    if (owner !== undefined) owner.modelCalls++;
    if (sdkParent !== undefined) this.#instrumented.set(sdkParent, spanId);
    const release = () => {
      if (sdkParent !== undefined && this.#instrumented.get(sdkParent) === spanId) this.#instrumented.delete(sdkParent);
    };
    return {
      step,
      answered: (response) => {
        release();
        answer(step, owner, { model, provider }, modelUsage(response.usage), response.output, undefined);
      },
      failed: (stopReason, error) => {
        release();
        step.end({ stopReason, toolCallCount: 0, contentPreview: '', error });
      },
    };
  }
}

/**
 * Closes a model step from the model's answer: its tokens, its text (the
 * agent's latest), and its function calls, kept for the tool steps that run
 * them.
 */
function answer(
  step: Step<'agent.model.started'>,
  agent: AgentEntry | undefined,
  info: { readonly model: string; readonly provider: string },
  usage: TokenUsage | undefined,
  output: unknown,
  error: string | undefined,
): void {
  if (usage !== undefined) recordTokens(step, info, usage);
  const { text, toolCalls, calls } = readOutput(output);
  if (agent !== undefined) {
    if (text !== '') agent.lastText = text;
    agent.calls = calls;
  }
  step.end({
    stopReason: error !== undefined ? 'error' : toolCalls > 0 ? 'tool_calls' : 'stop',
    toolCallCount: toolCalls,
    contentPreview: preview(text),
    error,
  });
}

/** Usage from a span (`input_tokens`, ... as the Responses and Chat Completions APIs name them). */
function spanUsage(usage: Record<string, unknown> | null | undefined): TokenUsage | undefined {
  const inputTokens = tokenCount(usage?.['input_tokens']);
  const outputTokens = tokenCount(usage?.['output_tokens']);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  const details = usage?.['details'] as Record<string, unknown> | null | undefined;
  const inputDetails = (usage?.['input_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
  const outputDetails = (usage?.['output_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
  return {
    inputTokens: inputTokens ?? 0,
    outputTokens: outputTokens ?? 0,
    cacheReadInputTokens: tokenCount(inputDetails?.['cached_tokens']),
    reasoningOutputTokens: tokenCount(outputDetails?.['reasoning_tokens']),
  };
}

/** Usage from a model's answer (the SDK's `Usage`: details per request, as a record or a list of them). */
function modelUsage(usage: SdkModelUsage | undefined): TokenUsage | undefined {
  const inputTokens = tokenCount(usage?.inputTokens);
  const outputTokens = tokenCount(usage?.outputTokens);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  return {
    inputTokens: inputTokens ?? 0,
    outputTokens: outputTokens ?? 0,
    cacheReadInputTokens: detail(usage?.inputTokensDetails, 'cached_tokens'),
    reasoningOutputTokens: detail(usage?.outputTokensDetails, 'reasoning_tokens'),
  };
}

function detail(details: SdkModelUsage['inputTokensDetails'], key: string): number | undefined {
  if (details === undefined) return undefined;
  let sum: number | undefined;
  for (const record of Array.isArray(details) ? details as ReadonlyArray<Readonly<Record<string, number>>> : [details as Readonly<Record<string, number>>]) {
    const value = tokenCount(record?.[key]);
    if (value !== undefined) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** The SDK span id a model call hangs off, when the runner passed it. */
function tracingParent(request: SdkModelRequest): string | undefined {
  const spanId = request._internal?.tracingParent?.spanId;
  return typeof spanId === 'string' ? spanId : undefined;
}

/** The tools and handoffs an agent offers its model: what the SDK sends it as tools. */
function offeredTools(agent: AgentEntry | undefined): number {
  const tools = agent?.data.tools;
  const handoffs = agent?.data.handoffs;
  return (Array.isArray(tools) ? tools.length : 0) + (Array.isArray(handoffs) ? handoffs.length : 0);
}

/**
 * The model's call id for a tool the agent runs: the first unclaimed function
 * call of its last answer with this name (and these arguments, when the span
 * carries them: calls to one tool may differ only in arguments).
 */
function takeCall(agent: AgentEntry | undefined, name: string, input: unknown): string | undefined {
  if (agent === undefined) return undefined;
  const args = typeof input === 'string' && input !== '' ? input : undefined;
  const index = agent.calls.findIndex((call) => call.name === name && (args === undefined || call.args === args));
  if (index < 0) return undefined;
  return agent.calls.splice(index, 1)[0]!.callId;
}

function className(model: object): string {
  const name = (Object.getPrototypeOf(model) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'unknown';
}

function modelName(data: SdkSpanData): string {
  return typeof data.model === 'string' && data.model !== '' ? data.model : 'unknown';
}

/**
 * The text, the number of tool calls and the function calls (with the model's
 * call ids) in a model's output items: the SDK's items (`callId`), Responses
 * API items (`call_id`) or Chat Completions messages (`tool_calls`).
 */
function readOutput(output: unknown): { text: string; toolCalls: number; calls: FunctionCall[] } {
  let text = '';
  let toolCalls = 0;
  const calls: FunctionCall[] = [];
  if (!Array.isArray(output)) return { text, toolCalls, calls };
  for (const item of output as Array<Record<string, unknown> | null>) {
    if (item === null || typeof item !== 'object') continue;
    if (item['type'] === 'function_call') {
      toolCalls++;
      addCall(calls, item['callId'] ?? item['call_id'], item['name'], item['arguments']);
    }
    if (Array.isArray(item['tool_calls'])) {
      toolCalls += item['tool_calls'].length;
      for (const call of item['tool_calls'] as Array<Record<string, unknown> | null>) {
        const fn = call?.['function'] as Record<string, unknown> | undefined;
        addCall(calls, call?.['id'], fn?.['name'], fn?.['arguments']);
      }
    }
    const content = item['content'];
    if (typeof content === 'string') text += content;
    else if (Array.isArray(content)) {
      for (const part of content as Array<Record<string, unknown> | null>) {
        if (part !== null && typeof part === 'object' && typeof part['text'] === 'string') text += part['text'];
      }
    }
  }
  return { text, toolCalls, calls };
}

function addCall(calls: FunctionCall[], callId: unknown, name: unknown, args: unknown): void {
  if (typeof callId === 'string' && callId !== '' && typeof name === 'string') calls.push({ callId, name, args: typeof args === 'string' ? args : '' });
}

function spanErrorText(error: NonNullable<SdkSpan['error']>): string {
  const detail = error.data?.['error'];
  return preview(typeof detail === 'string' && detail !== '' ? `${error.message}: ${detail}` : error.message);
}

function terminateReason(error: SdkSpan['error']): 'completed' | 'error' | 'aborted' | 'max_iterations' {
  if (error === null) return 'completed';
  const text = `${error.message} ${String(error.data?.['error'] ?? '')}`;
  if (/MaxTurnsExceeded|max turns/i.test(text)) return 'max_iterations';
  if (/AbortError|aborted/i.test(text)) return 'aborted';
  return 'error';
}

function endAgent(entry: AgentEntry, span: SdkSpan): void {
  entry.step.end({
    reason: terminateReason(span.error),
    iterationsUsed: entry.modelCalls,
    totalToolCalls: entry.toolCalls,
    finalMessagePreview: preview(entry.lastText),
  });
}

function endTool(entry: ToolEntry, span: SdkSpan, data: SdkSpanData): void {
  const failed = span.error !== null;
  entry.step.end({
    toolName: entry.name,
    toolCallId: entry.toolCallId,
    success: !failed,
    durationMs: performance.now() - entry.started,
    outputPreview: failed ? undefined : preview(data.output ?? ''),
    error: failed ? spanErrorText(span.error!) : undefined,
  });
}

function closeUnfinished(entry: Exclude<Entry, PendingToolEntry>): void {
  const error = errorText(new Error('span never ended'));
  switch (entry.kind) {
    case 'agent':
      return entry.step.end({
        reason: 'error', iterationsUsed: entry.modelCalls, totalToolCalls: entry.toolCalls, finalMessagePreview: '',
      });
    case 'model':
      return entry.step.end({ stopReason: 'error', toolCallCount: 0, contentPreview: '', error });
    case 'tool':
      return entry.step.end({
        toolName: entry.name, toolCallId: entry.toolCallId, success: false, durationMs: performance.now() - entry.started, error,
      });
    case 'pass':
  }
}
