/**
 * A Vercel AI SDK (v7) telemetry integration that turns each
 * `generateText` / `streamText` call into canonical agentbus events:
 * the call is an agent invocation, each provider call a model step (with its
 * own token usage), each tool execution a tool step.
 *
 * The SDK calls every integration hook with the call's `callId`; the hooks
 * run in the caller's async context, but not inside our steps, so the steps
 * of one call are tracked under the `callId` (the step tracker opens
 * children inside their parent step rather than from whatever context a
 * hook runs in). Each hook only reads the SDK's event into fields.
 */
import { callbackFailed } from '../callback-guard.js';
import { StepTracker, type TrackedAgent, type TrackedModel, type TrackedTool } from '../step-tracker.js';
import { finiteNumber, stringOr, tokenCount, tokenUsage } from '../payload.js';
import { observeErrorParts } from './error-parts.js';
import { answerParts, promptContent } from './prompt-content.js';
import type {
  SdkAbortEvent,
  SdkEndEvent,
  SdkModelCallEndEvent,
  SdkModelCallExecution,
  SdkStartEvent,
  SdkStepEndEvent,
  SdkStepErrorEvent,
  SdkToolEndEvent,
  SdkToolExecution,
} from './sdk-events.js';

/** The text-generation operations that become agent invocations. */
const TEXT_OPERATIONS = new Set(['ai.generateText', 'ai.streamText']);

/** Options of {@link AgentbusTelemetry}. */
export interface AgentbusTelemetryOptions {
  /** `agentName` of the invocation when the call sets no `telemetry.functionId`. Default `'ai-sdk'`. */
  agentName?: string;
}

/** The methods the SDK calls as hooks, detached from the instance. */
const HOOKS = [
  'onStart', 'onLanguageModelCallEnd', 'onStepError', 'onToolExecutionEnd', 'onEnd', 'onAbort', 'onError',
  'executeTool', 'executeLanguageModelCall',
] as const satisfies ReadonlyArray<keyof AgentbusTelemetry>;
type Hook = (typeof HOOKS)[number];

/** The hooks that run the SDK's work (the tool, the provider call): they must call it whatever happens to our part. */
const WRAPPERS: ReadonlySet<Hook> = new Set(['executeTool', 'executeLanguageModelCall']);

/** Who warns when a hook is skipped (see `callback-guard.ts`). */
const ADAPTER = 'agentbus/ai-sdk';

/**
 * A recording hook as the SDK gets it: what it throws, or what its promise
 * rejects with (`onAbort` is awaited by the SDK), is reported and never
 * reaches the SDK. Made once per hook: a call allocates nothing more.
 */
function recording(hook: Hook, bound: (event: unknown) => unknown): (event: unknown) => unknown {
  return (event) => {
    try {
      const result = bound(event);
      return result instanceof Promise ? result.catch((error: unknown) => callbackFailed(ADAPTER, hook, error)) : result;
    } catch (error) {
      callbackFailed(ADAPTER, hook, error);
      return undefined;
    }
  };
}

/**
 * The steps a call has open below its invocation, kept on the invocation
 * (the tracker keeps them under their span ids): one model call at a time,
 * tools by the model's tool call id. A lookup is then the `callId` the SDK
 * hands every hook (one string, hashed once) and a field, not a key like
 * `${callId} model` built and hashed again on each of a call's dozen hooks.
 */
interface CallSteps {
  model: TrackedModel<CallSteps> | undefined;
  /** Made at the call's first tool. */
  tools: Map<string, TrackedTool<CallSteps>> | undefined;
}

/**
 * The integration. Register it once with the SDK:
 * `registerTelemetry(new AgentbusTelemetry())` (from `ai`). Calls made
 * outside an agentbus run are ignored without allocating anything.
 */
export class AgentbusTelemetry {
  readonly #tracker = new StepTracker<CallSteps>();
  /** The first `error` part a model step's stream carried (see {@link observeErrorParts}). */
  readonly #errorParts = new WeakMap<TrackedModel<CallSteps>, unknown>();
  readonly #agentName: string;

  constructor(options: AgentbusTelemetryOptions = {}) {
    this.#agentName = options.agentName ?? 'ai-sdk';
    // The SDK invokes hooks detached from the instance (`callback(event)`):
    // each is bound once here, and a hook that only records runs guarded, so
    // that nothing it cannot read fails the user's call (see callback-guard.ts;
    // the two wrappers guard their own bookkeeping, never the work they run).
    const hooks = this as unknown as Record<Hook, (...args: never[]) => unknown>;
    for (const hook of HOOKS) {
      const bound = hooks[hook].bind(this) as (event: unknown) => unknown;
      hooks[hook] = (WRAPPERS.has(hook) ? bound : recording(hook, bound)) as (...args: never[]) => unknown;
    }
  }

  /** Number of SDK calls currently tracked (open invocations). */
  get openCalls(): number {
    return this.#tracker.openAgents;
  }

  /** A generateText/streamText call begins: opens the agent invocation. */
  onStart(event: SdkStartEvent): void {
    const at = this.#tracker.place(undefined);
    if (at === undefined || !TEXT_OPERATIONS.has(event.operationId)) return;
    this.#tracker.openAgent(event.callId, at, {
      agentName: event.functionId ?? this.#agentName,
      agentId: event.callId,
      model: event.modelId,
      provider: event.provider,
    }, { model: undefined, tools: undefined });
  }

  /** The provider answered: records its own usage (never the call's totals) and closes the model step. */
  onLanguageModelCallEnd(event: SdkModelCallEndEvent): void {
    const model = this.#model(event.callId);
    if (model !== undefined) this.#endModel(model, event, event.modelId, event.responseId);
  }

  /** A step failed before producing a result (provider error, stream failing mid-way). */
  onStepError(event: SdkStepErrorEvent): void {
    const model = this.#model(event.callId);
    if (model !== undefined) this.#tracker.failModel(model, event.error);
  }

  /**
   * A tool is about to run: opens its step under the invocation and runs the
   * tool body inside it, so that work it does (a nested generateText, an
   * HTTP call seen by the OpenTelemetry bridge) nests under it.
   *
   * The step opens here rather than in `onToolExecutionStart`, which the SDK
   * calls just before with the same tool call: every hook an integration
   * defines costs the SDK a copy and a redaction of its event and a round of
   * promises, on every tool of every call, and this wrapper is called anyway.
   */
  executeTool<T>(options: SdkToolExecution<T>): PromiseLike<T> {
    let tool: TrackedTool<CallSteps> | undefined;
    try {
      tool = this.#openTool(options);
    } catch (error) {
      callbackFailed(ADAPTER, 'executeTool', error);
    }
    return tool === undefined ? options.execute() : tool.step.run(options.execute);
  }

  #openTool<T>(options: SdkToolExecution<T>): TrackedTool<CallSteps> | undefined {
    const agent = this.#agent(options.callId);
    if (agent === undefined) return undefined;
    const toolCallId = options.toolCallId;
    const toolName = stringOr(options.toolCall?.toolName, 'unknown');
    const tool = this.#tracker.openTool(undefined, this.#tracker.within(agent), toolName, toolCallId, options.toolCall?.input);
    if (tool !== undefined) (agent.detail.tools ??= new Map()).set(toolCallId, tool);
    return tool;
  }

  /**
   * A provider call: opens its model step under the invocation, runs the
   * call inside it (so that the provider's HTTP request, seen by the
   * OpenTelemetry bridge, nests under it), and watches a streamed answer for
   * `error` parts: the SDK ends such a step with `finishReason: 'error'` but
   * hands the error itself only to the caller's `onError`, never to an
   * integration.
   *
   * The step opens here rather than in `onLanguageModelCallStart`, which the
   * SDK calls just before with the same event (see {@link executeTool}). An
   * attempt that failed leaves its step open, so a retry (generateText
   * retries inside the call that calls this wrapper, streamText around it)
   * runs in the same step: one model step per model call, whatever the
   * attempts, and its end is the one the provider reports.
   */
  executeLanguageModelCall<T>(options: SdkModelCallExecution<T>): PromiseLike<T> {
    let model: TrackedModel<CallSteps> | undefined;
    try {
      const agent = this.#agent(options.callId);
      if (agent !== undefined) model = this.#openModel(agent) ?? this.#openModelStep(agent, options);
    } catch (error) {
      callbackFailed(ADAPTER, 'executeLanguageModelCall', error);
    }
    if (model === undefined) return options.execute();
    const errorParts = this.#errorParts;
    const watched = model;
    // Promise.resolve: an execute that returns a plain value (the type says a promise; a caller may not) is still run once, as it is.
    return Promise.resolve(model.step.run(options.execute)).then((result) => {
      try {
        return observeErrorParts(result, (error) => {
          if (!errorParts.has(watched)) errorParts.set(watched, error);
        });
      } catch (error) {
        callbackFailed(ADAPTER, 'executeLanguageModelCall', error);
        return result;
      }
    });
  }

  /** A tool finished, with a result or an error: closes its step. */
  onToolExecutionEnd(event: SdkToolEndEvent): void {
    const agent = this.#agent(event.callId);
    const tool = agent?.detail.tools?.get(event.toolCall.toolCallId);
    if (agent === undefined || tool === undefined) return;
    // A call may run thousands of tools: only the open ones are kept.
    agent.detail.tools?.delete(event.toolCall.toolCallId);
    if (!this.#tracker.isOpen(tool)) return;
    // The SDK times the tool's execute alone; our start event came earlier, by
    // the integration hooks the SDK awaits before it: its duration is the tool's own.
    const output = event.toolOutput;
    if (output.type === 'tool-error') this.#tracker.failTool(tool, output.error, event.toolExecutionMs);
    else this.#tracker.endTool(tool, output.output, event.toolExecutionMs);
  }

  /**
   * The call completed: closes the invocation, as failed when its last step
   * ended on a provider error (the SDK still resolves the call then).
   */
  onEnd(event: SdkEndEvent): void {
    const agent = this.#agent(event.callId);
    if (agent === undefined) return;
    // A model step still open here is the last one, whose provider's stream
    // ended on an `error` part without a `finish` part (no
    // onLanguageModelCallEnd then): it closes as its step ended. Read here
    // rather than in `onStepEnd`, which the SDK would copy and redact the
    // whole step result for, on every step of every call, for this one case.
    const model = this.#openModel(agent);
    const last = event.finalStep;
    if (model !== undefined && last !== undefined) this.#endModel(model, last, last.response?.modelId, last.response?.id);
    this.#tracker.endAgent(agent, event.finishReason === 'error' ? 'error' : 'completed', event.text ?? '');
  }

  /**
   * A stream was aborted: closes every step still open as aborted. A
   * provider may still finish the step under way as the abort lands: its
   * `finish` part reaches `onLanguageModelCallEnd` just before or, depending
   * on the Node version's streams, just after this hook. The SDK awaits this
   * hook, so one turn of the event loop lets that part report; a step the
   * provider finished closes as the provider said, with its usage, in either
   * order, and only a step it never finished closes as aborted.
   */
  async onAbort(event: SdkAbortEvent): Promise<void> {
    const agent = this.#agent(event.callId);
    if (agent === undefined) return;
    if (this.#tracker.hasOpenSteps(agent)) await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.#tracker.get(event.callId) !== agent) return;
    this.#tracker.endAgent(agent, 'aborted', '', event.reason ?? 'aborted');
  }

  /** The call failed (an abort in generateText arrives here too): closes every open step. */
  onError(event: unknown): void {
    const callId = (event as { callId?: unknown } | null)?.callId;
    const agent = typeof callId === 'string' ? this.#agent(callId) : undefined;
    if (agent !== undefined) this.#tracker.failAgent(agent, (event as { error?: unknown }).error);
  }

  /** Opens the call's model step with what the provider is asked (see {@link executeLanguageModelCall}). */
  #openModelStep(agent: TrackedAgent<CallSteps>, call: SdkModelCallExecution<unknown>): TrackedModel<CallSteps> | undefined {
    const { instructions, messages, tools } = call;
    agent.detail.model = this.#tracker.openModel(undefined, this.#tracker.within(agent), {
      model: stringOr(call.modelId, 'unknown'),
      provider: stringOr(call.provider, 'unknown'),
      messageCount: messages?.length ?? 0,
      toolCount: tools?.length ?? 0,
      // The settings the call sets: a setting it leaves to the provider is absent.
      temperature: finiteNumber(call.temperature),
      maxTokens: tokenCount(call.maxOutputTokens),
      topP: finiteNumber(call.topP),
    }, (b) => promptContent(b, instructions, messages, tools));
    return agent.detail.model;
  }

  /**
   * Closes a model step from what the SDK reported: its own usage, its
   * content, and for `finishReason: 'error'` the error its stream carried.
   */
  #endModel(model: TrackedModel<CallSteps>, event: SdkStepEndEvent, answeredBy: string | undefined, responseId: string | undefined): void {
    const { usage, finishReason } = event;
    let toolCallCount = 0;
    let text = '';
    for (const part of event.content) {
      if (part.type === 'tool-call') toolCallCount++;
      else if (part.type === 'text' && typeof part.text === 'string') text += part.text;
    }
    const errorPart = this.#errorParts.get(model);
    // Tool calls and reasoning only for the output message: read only when the run wants content.
    const parts = model.input !== undefined ? answerParts(event.content) : undefined;
    this.#tracker.endModel(model, {
      toolCalls: parts?.toolCalls,
      reasoning: parts?.reasoning,
      stopReason: finishReason,
      toolCallCount,
      text,
      usage: tokenUsage(
        usage.inputTokens,
        usage.outputTokens,
        usage.inputTokenDetails?.cacheReadTokens,
        usage.outputTokenDetails?.reasoningTokens,
        usage.inputTokenDetails?.cacheWriteTokens,
      ),
      model: answeredBy,
      responseModel: stringOr(answeredBy, undefined),
      responseId: stringOr(responseId, undefined),
      error: finishReason === 'error' ? errorPart ?? 'the model reported finish reason "error"' : undefined,
    });
  }

  #agent(callId: string): TrackedAgent<CallSteps> | undefined {
    const entry = this.#tracker.get(callId);
    return entry?.kind === 'agent' ? entry : undefined;
  }

  #model(callId: string): TrackedModel<CallSteps> | undefined {
    const agent = this.#agent(callId);
    return agent === undefined ? undefined : this.#openModel(agent);
  }

  /** The call's model step while it is open (a step closes in the tracker: it may have been closed by the agent ending). */
  #openModel(agent: TrackedAgent<CallSteps>): TrackedModel<CallSteps> | undefined {
    const model = agent.detail.model;
    return model !== undefined && this.#tracker.isOpen(model) ? model : undefined;
  }
}
