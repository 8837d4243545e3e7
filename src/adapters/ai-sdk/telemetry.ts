/**
 * A Vercel AI SDK (v7) telemetry integration that turns each
 * `generateText` / `streamText` call into canonical agentbus events:
 * the call is an agent invocation, each provider call a model step (with its
 * own token usage), each tool execution a tool step.
 *
 * The SDK calls every integration hook with the call's `callId`; the hooks
 * run in the caller's async context, but not inside our steps, so the steps
 * of one call are kept per `callId` and children are opened inside their
 * parent (`step.run`) rather than from whatever context a hook runs in.
 */
import { isAbortError, isRecording } from '../../context.js';
import { startStep } from '../../emit.js';
import type { Step } from '../../step.js';
import { recordTokens } from '../../trace.js';
import { argKeys, errorText, preview } from '../../events.js';
import { tokenCount } from '../payload.js';
import type {
  SdkAbortEvent,
  SdkEndEvent,
  SdkModelCallEndEvent,
  SdkModelCallStartEvent,
  SdkStartEvent,
  SdkStepEndEvent,
  SdkStepErrorEvent,
  SdkToolEndEvent,
  SdkToolStartEvent,
  SdkUsage,
} from './sdk-events.js';

/** The text-generation operations that become agent invocations. */
const TEXT_OPERATIONS = new Set(['ai.generateText', 'ai.streamText']);

/** Options of {@link AgentbusTelemetry}. */
export interface AgentbusTelemetryOptions {
  /** `agentName` of the invocation when the call sets no `telemetry.functionId`. Default `'ai-sdk'`. */
  agentName?: string;
}

interface OpenTool {
  readonly step: Step<'agent.tool.started'>;
  readonly name: string;
}

/** The provider call a model step stands for. */
interface OpenModel {
  readonly step: Step<'agent.model.started'>;
  readonly model: string;
  readonly provider: string;
  /** The first `error` part its stream carried (see {@link observeErrorParts}). */
  error: string | undefined;
}

/** The open steps of one SDK call. */
interface Call {
  readonly agent: Step<'agent.invocation.started'>;
  model: OpenModel | undefined;
  readonly tools: Map<string, OpenTool>;
  modelCalls: number;
  toolCalls: number;
}

/**
 * The integration. Register it once with the SDK:
 * `registerTelemetry(new AgentbusTelemetry())` (from `ai`). Calls made
 * outside an agentbus run are ignored without allocating anything.
 */
export class AgentbusTelemetry {
  readonly #calls = new Map<string, Call>();
  readonly #agentName: string;

  constructor(options: AgentbusTelemetryOptions = {}) {
    this.#agentName = options.agentName ?? 'ai-sdk';
    // The SDK invokes hooks detached from the instance (`callback(event)`);
    // binding once here keeps `this` valid without a wrapper per call.
    this.onStart = this.onStart.bind(this);
    this.onLanguageModelCallStart = this.onLanguageModelCallStart.bind(this);
    this.onLanguageModelCallEnd = this.onLanguageModelCallEnd.bind(this);
    this.onStepEnd = this.onStepEnd.bind(this);
    this.onStepError = this.onStepError.bind(this);
    this.onToolExecutionStart = this.onToolExecutionStart.bind(this);
    this.onToolExecutionEnd = this.onToolExecutionEnd.bind(this);
    this.onEnd = this.onEnd.bind(this);
    this.onAbort = this.onAbort.bind(this);
    this.onError = this.onError.bind(this);
    this.executeTool = this.executeTool.bind(this);
    this.executeLanguageModelCall = this.executeLanguageModelCall.bind(this);
  }

  /** Number of SDK calls currently tracked (open invocations). */
  get openCalls(): number {
    return this.#calls.size;
  }

  /** A generateText/streamText call begins: opens the agent invocation. */
  onStart(event: SdkStartEvent): void {
    if (!isRecording() || !TEXT_OPERATIONS.has(event.operationId)) return;
    const agent = startStep('agent.invocation.started', {
      agentName: event.functionId ?? this.#agentName,
      agentId: event.callId,
      model: event.modelId,
      provider: event.provider,
    });
    if (!agent.recording) return;
    this.#calls.set(event.callId, { agent, model: undefined, tools: new Map(), modelCalls: 0, toolCalls: 0 });
  }

  /** The provider is about to be called: opens a model step under the invocation. */
  onLanguageModelCallStart(event: SdkModelCallStartEvent): void {
    const call = this.#calls.get(event.callId);
    if (call === undefined) return;
    closeModel(call, 'error', 'superseded by a new model call');
    call.modelCalls++;
    const step = call.agent.run(() => startStep('agent.model.started', {
      model: event.modelId,
      provider: event.provider,
      messageCount: event.messages?.length ?? 0,
      toolCount: event.tools?.length ?? 0,
    }));
    call.model = { step, model: event.modelId, provider: event.provider, error: undefined };
  }

  /** The provider answered: records its own usage (never the call's totals) and closes the model step. */
  onLanguageModelCallEnd(event: SdkModelCallEndEvent): void {
    const call = this.#calls.get(event.callId);
    if (call?.model === undefined) return;
    endModel(call, call.model, event.finishReason, event.usage, event.content, { model: event.modelId, provider: event.provider });
  }

  /**
   * A step ended. Its model step is normally closed by then; it is still
   * open when the provider's stream ended on an `error` part without a
   * `finish` part (no `onLanguageModelCallEnd` then), and closes here.
   */
  onStepEnd(event: SdkStepEndEvent): void {
    const call = this.#calls.get(event.callId);
    if (call?.model === undefined) return;
    endModel(call, call.model, event.finishReason, event.usage, event.content, call.model);
  }

  /** A step failed before producing a result (provider error, stream failing mid-way). */
  onStepError(event: SdkStepErrorEvent): void {
    const call = this.#calls.get(event.callId);
    if (call !== undefined) closeModel(call, isAbortError(event.error) ? 'aborted' : 'error', errorText(event.error));
  }

  /** A tool is about to run: opens a tool step under the invocation. */
  onToolExecutionStart(event: SdkToolStartEvent): void {
    const call = this.#calls.get(event.callId);
    if (call === undefined) return;
    const { toolCallId, toolName, input } = event.toolCall;
    call.toolCalls++;
    const step = call.agent.run(() => startStep('agent.tool.started', {
      toolName,
      toolCallId,
      argKeys: argKeys(input),
      args: call.agent.captureContent ? input : undefined,
    }));
    call.tools.set(toolCallId, { step, name: toolName });
  }

  /**
   * Runs the tool body inside its step, so that work it does (a nested
   * generateText, an HTTP call seen by the OpenTelemetry bridge) nests under it.
   */
  executeTool<T>(options: { callId: string; toolCallId: string; execute: () => PromiseLike<T> }): PromiseLike<T> {
    const tool = this.#calls.get(options.callId)?.tools.get(options.toolCallId);
    return tool === undefined ? options.execute() : tool.step.run(options.execute);
  }

  /**
   * Runs the provider call inside its model step (same reason as
   * {@link executeTool}) and watches a streamed answer for `error` parts:
   * the SDK ends such a step with `finishReason: 'error'` but hands the error
   * itself only to the caller's `onError`, never to an integration.
   */
  executeLanguageModelCall<T>(options: { callId: string; execute: () => PromiseLike<T> }): PromiseLike<T> {
    const model = this.#calls.get(options.callId)?.model;
    if (model === undefined) return options.execute();
    return model.step.run(options.execute).then((result) => observeErrorParts(result, model));
  }

  /** A tool finished, with a result or an error: closes its step. */
  onToolExecutionEnd(event: SdkToolEndEvent): void {
    const call = this.#calls.get(event.callId);
    const tool = call?.tools.get(event.toolCall.toolCallId);
    if (call === undefined || tool === undefined) return;
    call.tools.delete(event.toolCall.toolCallId);
    const failed = event.toolOutput.type === 'tool-error';
    tool.step.end({
      toolName: tool.name,
      toolCallId: event.toolCall.toolCallId,
      success: !failed,
      durationMs: Math.max(0, event.toolExecutionMs),
      outputPreview: failed ? undefined : preview(event.toolOutput.output),
      error: failed ? errorText(event.toolOutput.error) : undefined,
    });
  }

  /**
   * The call completed: closes the invocation, as failed when its last step
   * ended on a provider error (the SDK still resolves the call then).
   */
  onEnd(event: SdkEndEvent): void {
    const call = this.#take(event.callId);
    if (call === undefined) return;
    closeChildren(call, 'error', 'the call ended before this step closed');
    call.agent.end({
      reason: event.finishReason === 'error' ? 'error' : 'completed',
      iterationsUsed: call.modelCalls,
      totalToolCalls: call.toolCalls,
      finalMessagePreview: preview(event.text ?? ''),
    });
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
    const call = this.#calls.get(event.callId);
    if (call === undefined) return;
    if (call.model !== undefined || call.tools.size > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.#take(event.callId) === undefined) return;
    const why = event.reason === undefined ? 'aborted' : errorText(event.reason);
    closeChildren(call, 'aborted', why);
    terminate(call, 'aborted');
  }

  /** The call failed (an abort in generateText arrives here too): closes every open step. */
  onError(event: unknown): void {
    const callId = (event as { callId?: unknown } | null)?.callId;
    if (typeof callId !== 'string') return;
    const call = this.#take(callId);
    if (call === undefined) return;
    const error = (event as { error?: unknown }).error;
    const aborted = isAbortError(error) || isAbortError((error as { cause?: unknown } | null)?.cause);
    closeChildren(call, aborted ? 'aborted' : 'error', errorText(error));
    terminate(call, aborted ? 'aborted' : 'error');
  }

  #take(callId: string): Call | undefined {
    const call = this.#calls.get(callId);
    if (call !== undefined) this.#calls.delete(callId);
    return call;
  }
}

/**
 * Closes a model step from what the SDK reported: its own usage (never the
 * call's totals), its content, and for `finishReason: 'error'` the error its
 * stream carried.
 */
function endModel(
  call: Call,
  model: OpenModel,
  finishReason: string,
  usage: SdkUsage,
  content: SdkStepEndEvent['content'],
  info: { readonly model: string; readonly provider: string },
): void {
  call.model = undefined;
  const inputTokens = tokenCount(usage.inputTokens);
  const outputTokens = tokenCount(usage.outputTokens);
  if (inputTokens !== undefined || outputTokens !== undefined) {
    recordTokens(model.step, info, {
      inputTokens: inputTokens ?? 0,
      outputTokens: outputTokens ?? 0,
      cacheReadInputTokens: tokenCount(usage.inputTokenDetails?.cacheReadTokens),
      reasoningOutputTokens: tokenCount(usage.outputTokenDetails?.reasoningTokens),
    });
  }
  let toolCallCount = 0;
  let text = '';
  for (const part of content) {
    if (part.type === 'tool-call') toolCallCount++;
    else if (part.type === 'text' && typeof part.text === 'string') text += part.text;
  }
  const failed = finishReason === 'error' ? model.error ?? 'the model reported finish reason "error"' : undefined;
  model.step.end({
    stopReason: finishReason,
    toolCallCount,
    contentPreview: preview(text),
    error: failed,
  });
}

function closeModel(call: Call, stopReason: string, error: string): void {
  const model = call.model;
  if (model === undefined) return;
  call.model = undefined;
  model.step.end({ stopReason, toolCallCount: 0, contentPreview: '', error });
}

/**
 * A provider's streamed answer with its stream observed: the first `error`
 * part is kept on the model step, every part passes through unchanged. The
 * result is copied with only `stream` replaced (the SDK may hand integrations
 * a copy with credentials redacted from its request metadata; the copy
 * returned then carries that redaction back). Anything that is not a
 * streamed answer is returned as is.
 */
function observeErrorParts<T>(result: T, model: OpenModel): T {
  const stream = (result as { stream?: unknown } | null | undefined)?.stream;
  if (!(stream instanceof ReadableStream)) return result;
  const observed = stream.pipeThrough(new TransformStream<unknown, unknown>({
    transform(part, controller) {
      if (model.error === undefined && typeof part === 'object' && part !== null && (part as { type?: unknown }).type === 'error') {
        model.error = errorText((part as { error?: unknown }).error);
      }
      controller.enqueue(part);
    },
  }));
  const fields: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(result as object);
  fields['stream'] = { value: observed, writable: true, enumerable: true, configurable: true };
  return Object.create(Object.getPrototypeOf(result) as object | null, fields) as T;
}

function closeChildren(call: Call, stopReason: string, error: string): void {
  closeModel(call, stopReason, error);
  for (const [toolCallId, tool] of call.tools) {
    tool.step.end({ toolName: tool.name, toolCallId, success: false, durationMs: 0, error });
  }
  call.tools.clear();
}

function terminate(call: Call, reason: 'error' | 'aborted'): void {
  call.agent.end({
    reason,
    iterationsUsed: call.modelCalls,
    totalToolCalls: call.toolCalls,
    finalMessagePreview: '',
  });
}
