/**
 * The parts of the Vercel AI SDK (v7) telemetry events this adapter reads,
 * declared structurally so that `agentbus/ai-sdk` compiles and loads without
 * the `ai` package: the SDK's own event types are supersets of these.
 */

/** Token usage as the SDK reports it for one model call. */
export interface SdkUsage {
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
  readonly inputTokenDetails?: { readonly cacheReadTokens?: number | undefined; readonly cacheWriteTokens?: number | undefined } | undefined;
  readonly outputTokenDetails?: { readonly reasoningTokens?: number | undefined } | undefined;
}

/** `onStart`: a generateText/streamText call begins. */
export interface SdkStartEvent {
  readonly callId: string;
  readonly operationId: string;
  readonly provider: string;
  readonly modelId: string;
  readonly functionId?: string | undefined;
}

/** The provider is about to be called, with the call's settings (`LanguageModelCallOptions`): `onLanguageModelCallStart`'s event, which `executeLanguageModelCall` is given too. */
export interface SdkModelCallStartEvent {
  readonly callId: string;
  readonly provider: string;
  readonly modelId: string;
  readonly messages?: ReadonlyArray<unknown> | undefined;
  /** The call's instructions (a string, a system message or a list of them), apart from its messages. */
  readonly instructions?: unknown;
  readonly tools?: ReadonlyArray<unknown> | undefined;
  readonly temperature?: number | undefined;
  readonly maxOutputTokens?: number | undefined;
  readonly topP?: number | undefined;
}

/**
 * What `executeLanguageModelCall` is given: the provider call's start event
 * (typed as partial by the SDK, always whole in v7) and the call to run.
 */
export type SdkModelCallExecution<T> = Partial<SdkModelCallStartEvent> & {
  readonly callId: string;
  readonly execute: () => PromiseLike<T>;
};

/** A part of a model's answer: text, reasoning, a tool call (`toolCallId`, `toolName`, `input`), ... */
export interface SdkContentPart {
  readonly type: string;
  readonly text?: string | undefined;
  readonly toolCallId?: string | undefined;
  readonly toolName?: string | undefined;
  readonly input?: unknown;
}

/**
 * `onLanguageModelCallEnd`: the provider answered (before any tool runs).
 * Its `modelId` is the response's (`response.modelId`: the model that
 * answered), its `responseId` the provider's id of the response.
 */
export interface SdkModelCallEndEvent {
  readonly callId: string;
  readonly provider: string;
  readonly modelId: string;
  readonly finishReason: string;
  readonly usage: SdkUsage;
  readonly content: ReadonlyArray<SdkContentPart>;
  readonly responseId?: string | undefined;
}

/**
 * A step (one provider call and the tools it asked for) as it ended, what
 * `onStepEnd` carries and `onEnd` as `finalStep`. A provider `error` part
 * does not fail the step: it ends with `finishReason: 'error'`, and the
 * error itself is not passed on.
 */
export interface SdkStepEndEvent {
  readonly finishReason: string;
  readonly usage: SdkUsage;
  readonly content: ReadonlyArray<SdkContentPart>;
  /** The step's response: its id and the model that answered. */
  readonly response?: { readonly id?: string | undefined; readonly modelId?: string | undefined } | undefined;
}

/** `onStepError`: a step failed before producing a result. */
export interface SdkStepErrorEvent {
  readonly callId: string;
  readonly error: unknown;
}

/** The tool call carried by tool execution events. */
export interface SdkToolCall {
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input?: unknown;
}

/**
 * What `executeTool` is given: the tool call (typed as optional by the SDK,
 * always passed by v7) and the body to run.
 */
export interface SdkToolExecution<T> {
  readonly callId: string;
  readonly toolCallId: string;
  readonly toolCall?: Partial<SdkToolCall> | undefined;
  readonly execute: () => PromiseLike<T>;
}

/** `onToolExecutionEnd`: `toolOutput.type` is `tool-result` or `tool-error`. */
export interface SdkToolEndEvent {
  readonly callId: string;
  readonly toolCall: SdkToolCall;
  readonly toolExecutionMs: number;
  readonly toolOutput: { readonly type: string; readonly output?: unknown; readonly error?: unknown };
}

/** `onEnd` of a text generation. */
export interface SdkEndEvent {
  readonly callId: string;
  readonly text?: string | undefined;
  /** The final step's finish reason: `'error'` when it ended on a provider error part. */
  readonly finishReason?: string | undefined;
  /** The final step as it ended. */
  readonly finalStep?: SdkStepEndEvent | undefined;
}

/** `onAbort`: a stream was aborted. */
export interface SdkAbortEvent {
  readonly callId: string;
  readonly reason?: unknown;
}
