/**
 * The parts of the OpenAI Agents SDK's `Model` interface this adapter reads,
 * declared structurally (like `sdk-spans.ts`) so that the adapter compiles
 * and loads without `@openai/agents`: any SDK `Model` satisfies `SdkModel`.
 */

/** Token usage as a model reports it (the SDK's `Usage`, or the plain object of a `response_done` event). */
export interface SdkModelUsage {
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
  readonly inputTokensDetails?: Readonly<Record<string, number>> | ReadonlyArray<Readonly<Record<string, number>>> | undefined;
  readonly outputTokensDetails?: Readonly<Record<string, number>> | ReadonlyArray<Readonly<Record<string, number>>> | undefined;
}

/** What the runner asks a model: the conversation so far and what it may call. */
export interface SdkModelRequest {
  /** The agent's instructions, sent apart from the conversation. */
  readonly systemInstructions?: string | undefined;
  readonly input: string | ReadonlyArray<unknown>;
  readonly tools?: ReadonlyArray<unknown> | undefined;
  readonly handoffs?: ReadonlyArray<unknown> | undefined;
  /** The settings the request sets (the SDK's `ModelSettings`); an unset one is the provider's default. */
  readonly modelSettings?: {
    readonly temperature?: number | undefined;
    readonly topP?: number | undefined;
    readonly maxTokens?: number | undefined;
  } | undefined;
  /**
   * The runner's span this call belongs to (its turn, else its agent): the
   * parent the SDK hands its own OpenAI models. Not part of the SDK's
   * published types; read when present.
   */
  readonly _internal?: { readonly tracingParent?: { readonly spanId?: unknown } | null | undefined } | undefined;
}

/** A model's answer: output items (messages, function calls), usage, and the provider's id of the response when it gives one. */
export interface SdkModelResponse {
  readonly usage?: SdkModelUsage | undefined;
  readonly output: ReadonlyArray<unknown>;
  /** The id of a `getResponse` answer (the SDK's `ModelResponse`). */
  readonly responseId?: string | undefined;
  /** The id of a streamed answer (the response of its `response_done` event). */
  readonly id?: string | undefined;
}

/** A model, as the runner calls it. */
export interface SdkModel {
  getResponse(request: SdkModelRequest): Promise<SdkModelResponse>;
  /** Streamed answer; its `response_done` event carries the whole response. */
  getStreamedResponse(request: SdkModelRequest): AsyncIterable<unknown>;
}
