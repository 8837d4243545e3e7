/**
 * The model interface the reference agent talks to, and the messages it
 * exchanges. A model is anything with `generate`: the offline
 * {@link ScriptedModel}, the HTTP {@link OpenAICompatibleModel}, or your own.
 */
import type { TokenUsage } from '../trace.js';

export type { TokenUsage } from '../trace.js';

/** A tool call requested by the model. */
export interface ToolCall {
  /** The model's id for this call; tool results refer to it. */
  id: string;
  /** Name of the tool to call. */
  name: string;
  /**
   * Parsed arguments (normally an object). When the model sent arguments
   * that could not be parsed, this holds the raw text and
   * {@link ToolCall.argumentsError} says what was wrong.
   */
  arguments: unknown;
  /**
   * Set when the model's arguments could not be parsed (malformed JSON).
   * The agent then does not run the tool; the model gets this message back
   * as the tool's error result.
   */
  argumentsError?: string;
}

/** The system prompt. */
export interface SystemMessage {
  role: 'system';
  content: string;
}

/** What the user asked. */
export interface UserMessage {
  role: 'user';
  content: string;
}

/** A model turn: text and/or tool calls. */
export interface AssistantMessage {
  role: 'assistant';
  content: string;
  toolCalls: ToolCall[];
}

/** The result of one tool call, sent back to the model. */
export interface ToolResultMessage {
  role: 'tool';
  /** The {@link ToolCall.id} this result answers. */
  toolCallId: string;
  /** The tool's name. */
  name: string;
  /** The tool's output as text, or the error text when `isError`. */
  content: string;
  /** True when the call failed (bad arguments, unknown tool, the tool threw). */
  isError: boolean;
}

/** One message of a conversation. */
export type Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage;

/** A tool as a model sees it: a name, a description and a JSON Schema for its arguments. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema (draft 2020-12) of the arguments object. */
  parameters: Record<string, unknown>;
}

/** One call to {@link Model.generate}. */
export interface ModelRequest {
  /** The conversation so far, oldest first. */
  messages: readonly Message[];
  /** The tools the model may call. */
  tools: readonly ToolSpec[];
  /** Aborts the call; a model rejects with an `AbortError` when it fires. */
  signal?: AbortSignal | undefined;
}

/** What a model returns for one call. */
export interface ModelResponse {
  /** The text of the reply (empty when the model only calls tools). */
  content: string;
  /** Tool calls requested by the model; empty when it is done. */
  toolCalls: ToolCall[];
  /** Why the model stopped, in its provider's words (`stop`, `tool_calls`, `length`, ...). */
  stopReason: string;
  /** Token counts, when the provider reports them. */
  usage?: TokenUsage | undefined;
  /** The model's reasoning text, when the provider exposes it. */
  reasoning?: string | undefined;
  /** The model that answered, as the response names it (`gpt-4o-2024-08-06` for `gpt-4o`). */
  responseModel?: string | undefined;
  /** The response's id, as the provider gave it (`chatcmpl-123`). */
  responseId?: string | undefined;
}

/**
 * What a model says about the requests it makes, for telemetry: where they
 * go and the parameters they set. Only what the model knows and sends: a
 * parameter left to the provider's default is absent, not a guess at it.
 */
export interface ModelRequestInfo {
  /** Host of the server the requests go to (`server.address`). */
  readonly serverAddress?: string | undefined;
  /** Its port (`server.port`). */
  readonly serverPort?: number | undefined;
  /** Sampling temperature sent with each request. */
  readonly temperature?: number | undefined;
  /** Most tokens the model may generate per request. */
  readonly maxTokens?: number | undefined;
  /** Nucleus sampling sent with each request. */
  readonly topP?: number | undefined;
  /** True when the requests stream their answer. */
  readonly stream?: boolean | undefined;
}

/** A chat model with tool calling. */
export interface Model {
  /** Model name as the provider knows it (`gpt-4o-mini`, `scripted`). */
  readonly name: string;
  /** Provider name, as in the OpenTelemetry GenAI `gen_ai.provider.name` (`openai`). */
  readonly provider: string;
  /** Where requests go and what they set, when the model knows (the agent puts it on each `agent.model.started`). */
  readonly requestInfo?: ModelRequestInfo | undefined;
  /** Produces the next assistant turn. Rejects with an `AbortError` when `signal` aborts. */
  generate(request: ModelRequest): Promise<ModelResponse>;
}
