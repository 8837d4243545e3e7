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
import { startStep, type Step } from '../../emit.js';
import { argKeys, errorText, preview } from '../../events.js';
import { tokenCount } from '../payload.js';
import type {
  SdkAbortEvent,
  SdkEndEvent,
  SdkModelCallEndEvent,
  SdkModelCallStartEvent,
  SdkStartEvent,
  SdkStepErrorEvent,
  SdkToolEndEvent,
  SdkToolStartEvent,
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

/** The open steps of one SDK call. */
interface Call {
  readonly agent: Step<'agent.invocation.started'>;
  model: Step<'agent.model.started'> | undefined;
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
    call.model = call.agent.run(() => startStep('agent.model.started', {
      model: event.modelId,
      provider: event.provider,
      messageCount: event.messages?.length ?? 0,
      toolCount: event.tools?.length ?? 0,
    }));
  }

  /** The provider answered: records its own usage (never the call's totals) and closes the model step. */
  onLanguageModelCallEnd(event: SdkModelCallEndEvent): void {
    const call = this.#calls.get(event.callId);
    const model = call?.model;
    if (call === undefined || model === undefined) return;
    call.model = undefined;
    const inputTokens = tokenCount(event.usage.inputTokens);
    const outputTokens = tokenCount(event.usage.outputTokens);
    if (inputTokens !== undefined || outputTokens !== undefined) {
      model.emit('agent.tokens.used', {
        model: event.modelId,
        provider: event.provider,
        inputTokens: inputTokens ?? 0,
        outputTokens: outputTokens ?? 0,
        totalTokens: (inputTokens ?? 0) + (outputTokens ?? 0),
        cacheReadInputTokens: tokenCount(event.usage.inputTokenDetails?.cacheReadTokens),
        reasoningOutputTokens: tokenCount(event.usage.outputTokenDetails?.reasoningTokens),
      });
    }
    let toolCallCount = 0;
    let text = '';
    for (const part of event.content) {
      if (part.type === 'tool-call') toolCallCount++;
      else if (part.type === 'text' && typeof part.text === 'string') text += part.text;
    }
    model.end('agent.model.completed', { stopReason: event.finishReason, toolCallCount, contentPreview: preview(text) });
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

  /** Runs the provider call inside its model step (same reason as {@link executeTool}). */
  executeLanguageModelCall<T>(options: { callId: string; execute: () => PromiseLike<T> }): PromiseLike<T> {
    const model = this.#calls.get(options.callId)?.model;
    return model === undefined ? options.execute() : model.run(options.execute);
  }

  /** A tool finished, with a result or an error: closes its step. */
  onToolExecutionEnd(event: SdkToolEndEvent): void {
    const call = this.#calls.get(event.callId);
    const tool = call?.tools.get(event.toolCall.toolCallId);
    if (call === undefined || tool === undefined) return;
    call.tools.delete(event.toolCall.toolCallId);
    const failed = event.toolOutput.type === 'tool-error';
    tool.step.end('agent.tool.completed', {
      toolName: tool.name,
      toolCallId: event.toolCall.toolCallId,
      success: !failed,
      durationMs: Math.max(0, event.toolExecutionMs),
      outputPreview: failed ? undefined : preview(event.toolOutput.output),
      error: failed ? errorText(event.toolOutput.error) : undefined,
    });
  }

  /** The call completed: closes the invocation. */
  onEnd(event: SdkEndEvent): void {
    const call = this.#take(event.callId);
    if (call === undefined) return;
    closeChildren(call, 'error', 'the call ended before this step closed');
    call.agent.end('agent.terminate', {
      reason: 'completed',
      iterationsUsed: call.modelCalls,
      totalToolCalls: call.toolCalls,
      finalMessagePreview: preview(event.text ?? ''),
    });
  }

  /** A stream was aborted: closes every open step of the call as aborted. */
  onAbort(event: SdkAbortEvent): void {
    const call = this.#take(event.callId);
    if (call === undefined) return;
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

function closeModel(call: Call, stopReason: string, error: string): void {
  const model = call.model;
  if (model === undefined) return;
  call.model = undefined;
  model.end('agent.model.completed', { stopReason, toolCallCount: 0, contentPreview: '', error });
}

function closeChildren(call: Call, stopReason: string, error: string): void {
  closeModel(call, stopReason, error);
  for (const [toolCallId, tool] of call.tools) {
    tool.step.end('agent.tool.completed', { toolName: tool.name, toolCallId, success: false, durationMs: 0, error });
  }
  call.tools.clear();
}

function terminate(call: Call, reason: 'error' | 'aborted'): void {
  call.agent.end('agent.terminate', {
    reason,
    iterationsUsed: call.modelCalls,
    totalToolCalls: call.toolCalls,
    finalMessagePreview: '',
  });
}
