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
 * span is tracked under its span id and placed under the step of the nearest
 * SDK ancestor that became one (task, turn and other spans are looked
 * through). An agent run as a tool (`agent.asTool()`) therefore nests under
 * that tool. Each span's trace is its scope: a trace that ends closes what
 * it left open.
 */
import { emit } from '../../emit.js';
import type { Step } from '../../step.js';
import type { TokenUsage } from '../../trace.js';
import { preview } from '../../payload-text.js';
import { finiteNumber, parseArgs, stringOr, tokenCount } from '../payload.js';
import { StepTracker, type Placement, type TrackedAgent, type TrackedModel } from '../step-tracker.js';
import { instrumentedModel, type RecordedModelCall } from './instrumented-model.js';
import { modelUsage, readOutput, spanUsage, takeCall, type FunctionCall } from './model-answer.js';
import type { SdkModel, SdkModelRequest } from './sdk-model.js';
import type { SdkSpan, SdkSpanData, SdkTrace } from './sdk-spans.js';
import { requestContent } from './input-content.js';
import { callbackFailed, guarded } from '../callback-guard.js';

/** Who warns when a hook is skipped (see `callback-guard.ts`). */
const ADAPTER = 'agentbus/openai-agents';

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

/** What the processor keeps per agent beside the tracker's counters. */
interface AgentDetail {
  /** The SDK's span data, kept live: it lists the tools and handoffs the agent offers its model. */
  readonly data: SdkSpanData;
  /** Function calls of the agent's last model answer that no tool step has taken yet. */
  calls: FunctionCall[];
}

/**
 * A function span whose step is not open yet: the SDK fills in the tool's
 * arguments just after starting the span, so the step opens one microtask
 * later (or at once, when a child span or the span's end needs it first).
 */
interface PendingTool {
  readonly span: SdkSpan;
  readonly at: Placement<AgentDetail>;
}

/** A handoff waiting for its receiving agent's span. */
interface PendingHandoff {
  readonly toAgent: string;
  /** The step the handoff was made under: the receiving agent's parent. */
  readonly from: Step | undefined;
}

/** The error of steps whose span a trace left open. */
const NEVER_ENDED = new Error('span never ended');

/**
 * The processor. `instrumentOpenAIAgents(agents)` creates and registers
 * one; with the SDK's own API, `setTraceProcessors([processor])` registers it
 * in place of the SDK's OpenAI exporter (which needs an OpenAI key) and
 * `addTraceProcessor(processor)` next to it. It never exports anything;
 * spans of runs made outside an agentbus run are ignored without allocating.
 */
export class AgentbusTraceProcessor {
  readonly #tracker = new StepTracker<AgentDetail>();
  readonly #pending = new Map<string, PendingTool>();
  readonly #handoffs = new Map<string, PendingHandoff>();
  /** SDK span id -> the step of the instrumented model call running under it. */
  readonly #instrumented = new Map<string, Step>();
  readonly #provider: string;

  constructor(options: AgentbusTraceProcessorOptions = {}) {
    this.#provider = options.provider ?? 'openai';
  }

  /** SDK spans (and instrumented model calls) currently open and tracked. */
  get openSpans(): number {
    return this.#tracker.size + this.#pending.size;
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
    return instrumentedModel(model, (request, stream) => this.#openModelCall(request, stream, name, provider));
  }

  /** Part of the SDK's processor interface; nothing to start. */
  start(): void {}

  /** Part of the SDK's processor interface; a trace is not a step. */
  async onTraceStart(_trace: SdkTrace): Promise<void> {}

  /** Closes, once, any step of the trace whose span never ended. */
  async onTraceEnd(trace: SdkTrace): Promise<void> {
    guarded(ADAPTER, 'onTraceEnd', () => {
      for (const [spanId, pending] of this.#pending) if (pending.span.traceId === trace.traceId) this.#resolve(spanId);
      this.#tracker.closeScope(trace.traceId, NEVER_ENDED);
      this.#handoffs.delete(trace.traceId);
    });
  }

  /**
   * Opens the step a span stands for. Never rejects (nor does any hook
   * here): the SDK awaits its processors one after the other without a
   * catch, so a rejection would keep the span from the processors after ours.
   */
  async onSpanStart(span: SdkSpan): Promise<void> {
    try {
      await this.#spanStarted(span);
    } catch (error) {
      callbackFailed(ADAPTER, 'onSpanStart', error);
    }
  }

  async #spanStarted(span: SdkSpan): Promise<void> {
    const at = this.#place(span.parentId ?? undefined, span.traceId);
    if (at === undefined) return;
    if (span.spanData.type === 'function') {
      this.#pending.set(span.spanId, { span, at });
      await undefined;
      this.#resolve(span.spanId);
      return;
    }
    this.#open(span, span.spanData, at);
  }

  /** Closes the step a span stands for. Never rejects (see {@link onSpanStart}). */
  async onSpanEnd(span: SdkSpan): Promise<void> {
    guarded(ADAPTER, 'onSpanEnd', () => this.#spanEnded(span));
  }

  #spanEnded(span: SdkSpan): void {
    this.#resolve(span.spanId);
    const entry = this.#tracker.get(span.spanId);
    const data = span.spanData;
    switch (entry?.kind) {
      case 'agent':
        return this.#tracker.endAgent(entry, terminateReason(span.error));
      case 'model': {
        const response = data._response;
        const usage = (data.type === 'response' ? response?.['usage'] : data.usage) as Record<string, unknown> | null | undefined;
        // A response span carries the provider's response: the model that answered and the response's id.
        const responseModel = data.type === 'response' ? stringOr(response?.['model'], undefined) : undefined;
        const responseId = data.type === 'response' ? stringOr(response?.['id'], undefined) : undefined;
        const output = data.type === 'response' ? response?.['output'] : data.output;
        const error = span.error === null ? undefined : spanErrorText(span.error);
        return this.#answer(entry, spanUsage(usage), output, responseModel ?? modelName(data), error, responseModel, responseId);
      }
      case 'tool':
        if (span.error === null) return this.#tracker.endTool(entry, data.output);
        return this.#tracker.failTool(entry, spanErrorText(span.error));
      case 'pass':
        this.#tracker.forget(entry);
        if (data.type === 'handoff' && data.to_agent !== undefined) {
          this.#handoffs.set(span.traceId, { toAgent: data.to_agent, from: entry.under });
          emit('agent.handoff', { fromAgent: data.from_agent ?? entry.agent?.name ?? 'unknown', toAgent: data.to_agent }, { parentSpanId: entry.under?.spanId });
        }
    }
  }

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async shutdown(_timeout?: number): Promise<void> {}

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async forceFlush(): Promise<void> {}

  /** Where a span under SDK span `parentId` goes, opening a pending parent tool step first. */
  #place(parentId: string | undefined, traceId: string | undefined): Placement<AgentDetail> | undefined {
    if (parentId !== undefined) this.#resolve(parentId);
    return this.#tracker.place(parentId, traceId);
  }

  /** Opens the step of a pending function span. */
  #resolve(spanId: string): void {
    const pending = this.#pending.get(spanId);
    if (pending === undefined) return;
    this.#pending.delete(spanId);
    this.#open(pending.span, pending.span.spanData, pending.at);
  }

  #open(span: SdkSpan, data: SdkSpanData, at: Placement<AgentDetail>): void {
    const tracker = this.#tracker;
    switch (data.type) {
      case 'agent': {
        const name = data.name ?? 'agent';
        const handoff = this.#handoffs.get(span.traceId);
        if (handoff !== undefined && handoff.toAgent === name) {
          // The receiving agent's span hangs off the run's task span; link it to
          // the agent that handed off instead, which is what happened.
          this.#handoffs.delete(span.traceId);
          if (handoff.from !== undefined) at = { ...at, under: handoff.from };
        }
        tracker.openAgent(span.spanId, at, { agentName: name, agentId: span.spanId }, { data, calls: [] });
        return;
      }
      case 'generation':
      case 'response': {
        const instrumented = span.parentId === null ? undefined : this.#instrumented.get(span.parentId);
        if (instrumented !== undefined) return tracker.passThrough(span.spanId, { ...at, under: instrumented });
        // A response span gets its input only once the model answered: its count is then unknown here.
        const input = data.type === 'response' ? data._input : data.input;
        tracker.openModel(span.spanId, at, {
          model: modelName(data),
          provider: this.#provider,
          messageCount: Array.isArray(input) ? input.length : input === undefined ? 0 : 1,
          toolCount: offeredTools(at.agent),
        }, (b) => requestContent(b, undefined, spanInput(input), offered(at.agent, 'tools'), offered(at.agent, 'handoffs')));
        return;
      }
      case 'function': {
        const name = data.name ?? 'tool';
        // The SDK's function spans carry no call id: the model's is taken from
        // the agent's last answer (the span id when that answer was not seen).
        const calls = at.agent?.detail.calls;
        const toolCallId = (calls === undefined ? undefined : takeCall(calls, name, data.input)) ?? span.spanId;
        tracker.openTool(span.spanId, at, name, toolCallId, parseArgs(data.input));
        return;
      }
      default:
        tracker.passThrough(span.spanId, at);
    }
  }

  /** Closes a model step from its answer, keeping its function calls for the tool steps that run them. */
  #answer(
    model: TrackedModel<AgentDetail>,
    usage: TokenUsage | undefined,
    output: unknown,
    answeredBy: string | undefined,
    error: string | undefined,
    responseModel: string | undefined,
    responseId: string | undefined,
  ): void {
    const { text, toolCallCount, calls } = readOutput(output);
    if (model.agent !== undefined) model.agent.detail.calls = calls;
    // The calls as the output message's tool_call parts: only when the run wants content.
    const toolCalls = model.input === undefined ? undefined : calls.map((call) => ({ id: call.callId, name: call.name, arguments: call.args }));
    this.#tracker.endModel(model, { toolCallCount, text, usage, model: answeredBy, error, responseModel, responseId, toolCalls });
  }

  /** Opens the model step of an instrumented model's call, under the runner's span the call belongs to. */
  #openModelCall(request: SdkModelRequest, stream: boolean, name: string, provider: string): RecordedModelCall | undefined {
    const sdkParent = tracingParent(request);
    const at = this.#place(sdkParent, undefined);
    if (at === undefined) return undefined;
    const input = request.input;
    const settings = request.modelSettings;
    const model = this.#tracker.openModel(undefined, at, {
      model: name,
      provider,
      messageCount: typeof input === 'string' ? 1 : Array.isArray(input) ? input.length : 0,
      toolCount: (request.tools?.length ?? 0) + (request.handoffs?.length ?? 0),
      temperature: finiteNumber(settings?.temperature),
      maxTokens: tokenCount(settings?.maxTokens),
      topP: finiteNumber(settings?.topP),
      // Only a streamed call says so: the conventions read an absent gen_ai.request.stream as not streaming.
      stream: stream ? true : undefined,
    }, (b) => requestContent(b, request.systemInstructions, input, request.tools, request.handoffs));
    if (model === undefined) return undefined;
    const step = model.step;
    if (sdkParent !== undefined) this.#instrumented.set(sdkParent, step);
    const release = () => {
      if (sdkParent !== undefined && this.#instrumented.get(sdkParent) === step) this.#instrumented.delete(sdkParent);
    };
    return {
      step,
      answered: (response) => {
        release();
        const responseId = stringOr(response.responseId, stringOr(response.id, undefined));
        this.#answer(model, modelUsage(response.usage), response.output, undefined, undefined, undefined, responseId);
      },
      failed: (error, stopReason) => {
        release();
        this.#tracker.failModel(model, error, stopReason);
      },
    };
  }
}

/** The SDK span id a model call hangs off, when the runner passed it. */
function tracingParent(request: SdkModelRequest): string | undefined {
  const spanId = request._internal?.tracingParent?.spanId;
  return typeof spanId === 'string' ? spanId : undefined;
}

/** A span's input as request input: its items, or undefined when it has none yet (a response span gets its input once the model answered). */
function spanInput(input: unknown): string | ReadonlyArray<unknown> | undefined {
  return typeof input === 'string' || Array.isArray(input) ? input : undefined;
}

/** The names an agent span lists of its tools or handoffs, as tool definitions' sources (`{ name }` each). */
function offered(agent: TrackedAgent<AgentDetail> | undefined, key: 'tools' | 'handoffs'): ReadonlyArray<unknown> | undefined {
  const names = agent?.detail.data[key];
  return Array.isArray(names) ? names.map((name: unknown) => ({ name })) : undefined;
}

/** The tools and handoffs an agent offers its model: what the SDK sends it as tools. */
function offeredTools(agent: TrackedAgent<AgentDetail> | undefined): number {
  const tools = agent?.detail.data.tools;
  const handoffs = agent?.detail.data.handoffs;
  return (Array.isArray(tools) ? tools.length : 0) + (Array.isArray(handoffs) ? handoffs.length : 0);
}

function className(model: object): string {
  const name = (Object.getPrototypeOf(model) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'unknown';
}

function modelName(data: SdkSpanData): string {
  return typeof data.model === 'string' && data.model !== '' ? data.model : 'unknown';
}

/** A span's error as text: the SDK's message and the error it wraps (a span's error is a plain record, not a thrown value). */
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
