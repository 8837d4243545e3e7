/**
 * The parts of the OpenAI Agents SDK tracing objects this adapter reads,
 * declared structurally so that `agentbus/openai-agents` compiles and loads
 * without `@openai/agents`: the SDK's `Span`, `Trace` and span data types are
 * supersets of these.
 */

/** A span's data: `type` says which kind (`agent`, `generation`, `response`, `function`, `handoff`, ...). */
export interface SdkSpanData {
  readonly type: string;
  readonly name?: string;
  /** generation: the model and its usage; response: see `_response`. */
  readonly model?: string;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly usage?: Readonly<Record<string, unknown>> | null;
  /** response spans: the provider's response object (model, usage, output). */
  readonly _response?: Readonly<Record<string, unknown>>;
  readonly _input?: unknown;
  /** handoff spans. */
  readonly from_agent?: string;
  readonly to_agent?: string;
  /** agent spans: the tools and handoffs the agent offers its model (the SDK fills them in before each model call). */
  readonly tools?: ReadonlyArray<string>;
  readonly handoffs?: ReadonlyArray<string>;
}

/** A span as the SDK hands it to trace processors. */
export interface SdkSpan {
  readonly spanId: string;
  readonly traceId: string;
  readonly parentId: string | null;
  readonly spanData: SdkSpanData;
  readonly error: { readonly message: string; readonly data?: Readonly<Record<string, unknown>> } | null;
}

/** A trace as the SDK hands it to trace processors. */
export interface SdkTrace {
  readonly traceId: string;
}
