/**
 * The OpenTelemetry names the bridge writes: GenAI semantic conventions
 * (v1.41 names; checked against `@opentelemetry/semantic-conventions/incubating`
 * 1.45 and the semantic-conventions-genai repository's `docs/gen-ai/`), plus
 * the few `agentbus.*` attributes of our own. Every string literal of the
 * mapping lives here, so a rename in the conventions is a one-file change.
 *
 * Stability, as each name's TSDoc says: "stable" names are in
 * `@opentelemetry/semantic-conventions`' stable entry point; "development"
 * names are released in its incubating entry point (1.45) with development
 * stability, and may still be renamed. Every `gen_ai.*` name is development.
 *
 * Kept as literals rather than imported from the incubating entry point:
 * that module is large, and its names are explicitly unstable between minor
 * releases.
 */

/** `gen_ai.operation.name`: the kind of GenAI operation a span or measurement describes. */
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
/** `gen_ai.provider.name`: the model provider (`openai`, `anthropic`, ...). */
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** `gen_ai.agent.name`: human-readable agent name. */
export const ATTR_GEN_AI_AGENT_NAME = 'gen_ai.agent.name';
/** `gen_ai.agent.id`: unique agent identifier. */
export const ATTR_GEN_AI_AGENT_ID = 'gen_ai.agent.id';
/** `gen_ai.request.model`: the model a request is made to. */
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
/** `gen_ai.response.finish_reasons`: string array, why the model stopped. */
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
/** `gen_ai.usage.input_tokens`. */
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
/** `gen_ai.usage.output_tokens`. */
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
/** `gen_ai.usage.cache_read.input_tokens`: input tokens served from a provider cache (part of input_tokens). */
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
/** `gen_ai.usage.cache_creation.input_tokens` (development): input tokens written to a provider cache (part of input_tokens). */
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
/** `gen_ai.usage.reasoning.output_tokens`: output tokens spent on reasoning (part of output_tokens). */
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
/** `gen_ai.tool.name`. */
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
/** `gen_ai.tool.call.id`: the model's id for this tool call. */
export const ATTR_GEN_AI_TOOL_CALL_ID = 'gen_ai.tool.call.id';
/** `gen_ai.tool.type`: `function`, `extension` or `datastore`. */
export const ATTR_GEN_AI_TOOL_TYPE = 'gen_ai.tool.type';
/** `gen_ai.tool.description` (development): what the tool does, as the model is told. */
export const ATTR_GEN_AI_TOOL_DESCRIPTION = 'gen_ai.tool.description';
/** `gen_ai.response.model` (development): the model that answered, as the response names it. */
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
/** `gen_ai.response.id` (development): the response's id (`chatcmpl-123`); never a metric attribute. */
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
/** `gen_ai.request.temperature` (development), when the request sets it. */
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = 'gen_ai.request.temperature';
/** `gen_ai.request.max_tokens` (development), when the request sets it. */
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
/** `gen_ai.request.top_p` (development), when the request sets it. */
export const ATTR_GEN_AI_REQUEST_TOP_P = 'gen_ai.request.top_p';
/** `gen_ai.request.stream` (development): true for a streaming request; unset means not streaming. */
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
/** `gen_ai.conversation.id` (development): the conversation (session, thread) a run serves, on agent and chat spans. */
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
/** `server.address` (stable): host of the server a model request goes to. */
export const ATTR_SERVER_ADDRESS = 'server.address';
/** `server.port` (stable): its port, set only beside `server.address`. */
export const ATTR_SERVER_PORT = 'server.port';
/** `gen_ai.tool.call.arguments`: content, opt-in only. */
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = 'gen_ai.tool.call.arguments';
/** `gen_ai.tool.call.result`: content, opt-in only. */
export const ATTR_GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result';
/** `gen_ai.input.messages`: content, opt-in only; JSON of the conventions' input messages. */
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
/** `gen_ai.output.messages`: content, opt-in only; JSON of the conventions' output messages. */
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
/** `gen_ai.system_instructions`: content, opt-in only; JSON of the conventions' system instruction parts. */
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions';
/** `gen_ai.tool.definitions`: content, opt-in only; JSON of the tools offered (type and name). */
export const ATTR_GEN_AI_TOOL_DEFINITIONS = 'gen_ai.tool.definitions';
/**
 * Content attributes of our own (the conventions leave "a common approach to
 * record references to externally stored content" to do).
 */
export const ATTR_AGENTBUS_CONTENT = {
  /** The reference a run's content hook returned for the step's full content (`runContext({ contentHook })`). */
  ref: 'agentbus.content.ref',
  /** True when a content attribute of the span was cut to `maxContentLength` (its JSON still valid). */
  truncated: 'agentbus.content.truncated',
} as const;
/** `gen_ai.token.type`: `input` or `output`, on token-usage measurements. */
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
/** `error.type` (stable): the class of error an operation ended with. */
export const ATTR_ERROR_TYPE = 'error.type';

/**
 * Model Context Protocol attributes (semantic-conventions-genai `docs/gen-ai/mcp.md`,
 * development), on the tool span of a step made over MCP (`agentbus/mcp`).
 */
export const ATTR_MCP = {
  /** `mcp.method.name`: `tools/call`, `resources/read`, `prompts/get`. */
  methodName: 'mcp.method.name',
  /** `mcp.session.id`: the Streamable HTTP session. */
  sessionId: 'mcp.session.id',
  /** `mcp.protocol.version`: the negotiated protocol version (`2025-06-18`). */
  protocolVersion: 'mcp.protocol.version',
  /** `mcp.resource.uri`: the resource of a `resources/read`. */
  resourceUri: 'mcp.resource.uri',
  /** `gen_ai.prompt.name`: the prompt of a `prompts/get`. */
  promptName: 'gen_ai.prompt.name',
  /** `jsonrpc.request.id`: the JSON-RPC id of the request (server side). */
  requestId: 'jsonrpc.request.id',
  /** `network.transport` (stable): `pipe` for stdio, `tcp` for HTTP. */
  networkTransport: 'network.transport',
  /** `rpc.response.status_code`: the JSON-RPC error code of a failed request, as a string (`-32602`). */
  rpcResponseStatusCode: 'rpc.response.status_code',
} as const;

/** The MCP method whose span is a GenAI `execute_tool` span. */
export const MCP_METHOD_TOOLS_CALL = 'tools/call';
/** The MCP method whose measurements carry `gen_ai.prompt.name`. */
export const MCP_METHOD_PROMPTS_GET = 'prompts/get';

/** Well-known values of `gen_ai.operation.name` that the bridge emits. */
export const GEN_AI_OPERATION = {
  chat: 'chat',
  executeTool: 'execute_tool',
  invokeAgent: 'invoke_agent',
  invokeWorkflow: 'invoke_workflow',
} as const;

/** `gen_ai.workflow.name` (development): the name of a run that is its own root span. */
export const ATTR_GEN_AI_WORKFLOW_NAME = 'gen_ai.workflow.name';

/** Well-known values of `gen_ai.token.type`. */
export const GEN_AI_TOKEN_TYPE = { input: 'input', output: 'output' } as const;

/** `gen_ai.tool.type` of tools run by the agent process itself. */
export const GEN_AI_TOOL_TYPE_FUNCTION = 'function';

/** `error.type` of a span whose closing event never came. */
export const ERROR_TYPE_UNFINISHED = 'unfinished';
/**
 * `error.type` of an abort whose error class was not reported: the name of
 * the error an abort raises (`AbortError`), the one name for aborts on
 * every span (tool, model, agent, run root). The conventions ask for "the
 * canonical name of exception that occurred", and this is it.
 */
export const ERROR_TYPE_ABORTED = 'AbortError';
/** `error.type` when the error's class is unknown (the conventions' fallback value). */
export const ERROR_TYPE_OTHER = '_OTHER';


/** Span-event names: the bus event types they come from, in our own namespace (the conventions have none of them). */
export const SPAN_EVENT = {
  think: 'agentbus.agent.think',
  checkpointSaved: 'agentbus.memory.checkpoint.saved',
  checkpointLoaded: 'agentbus.memory.checkpoint.loaded',
  handoff: 'agentbus.agent.handoff',
} as const;

/** Attributes of our own, outside the GenAI namespace. */
export const ATTR_AGENTBUS = {
  /** The run id, to find the run's event stream from a span. */
  runId: 'agentbus.run.id',
  /** Why an agent invocation ended (`completed`, `max_iterations`, `error`, `aborted`). */
  terminateReason: 'agentbus.agent.terminate_reason',
  /** Iterations an agent used. */
  iterations: 'agentbus.agent.iterations',
  /** Tool calls an agent made. */
  toolCalls: 'agentbus.agent.tool_calls',
  /** Children of a fan-out, and how they merge. */
  fanoutAgentCount: 'agentbus.fanout.agent_count',
  fanoutMergeStrategy: 'agentbus.fanout.merge_strategy',
  fanoutSucceeded: 'agentbus.fanout.succeeded',
  fanoutFailed: 'agentbus.fanout.failed',
  /** On `agent.think` span events. */
  iteration: 'agentbus.iteration',
  hasToolCalls: 'agentbus.has_tool_calls',
  toolCallCount: 'agentbus.tool_call_count',
  /** Reasoning text on `agent.think` events: content, opt-in only. */
  reasoning: 'agentbus.reasoning',
  /** On `agent.handoff` span events: the agents that pass and take the conversation. */
  handoffFrom: 'agentbus.handoff.from_agent',
  handoffTo: 'agentbus.handoff.to_agent',
  /** How a run ended (`ok`, `error`, `aborted`), on a run's own root span. */
  runStatus: 'agentbus.run.status',
  /** On checkpoint span events. */
  threadId: 'agentbus.checkpoint.thread_id',
  backend: 'agentbus.checkpoint.backend',
} as const;

/** `gen_ai.client.token.usage`: histogram of tokens per model call, unit `{token}`. */
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage';
/** `gen_ai.client.operation.duration`: histogram of GenAI operation durations, unit `s`. */
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration';

/** `mcp.client.operation.duration`: histogram of MCP request durations as the client sees them, unit `s`. */
export const METRIC_MCP_CLIENT_OPERATION_DURATION = 'mcp.client.operation.duration';
/** `mcp.server.operation.duration`: histogram of MCP request durations as the server sees them, unit `s`. */
export const METRIC_MCP_SERVER_OPERATION_DURATION = 'mcp.server.operation.duration';

/** The conventions' explicit bucket boundaries for `gen_ai.client.token.usage` (powers of 4). */
export const TOKEN_USAGE_BUCKETS: readonly number[] = Object.freeze([
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
]);

/** The conventions' explicit bucket boundaries for `gen_ai.client.operation.duration`, in seconds. */
export const OPERATION_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
]);

/**
 * The MCP conventions' explicit bucket boundaries for `mcp.client.operation.duration`
 * and `mcp.server.operation.duration`, in seconds (up to five minutes: a tool call can be slow).
 */
export const MCP_OPERATION_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300,
]);

// ---------------------------------------------------------------- the latest (development) shape
//
// Names of the GenAI conventions' development repository
// (`open-telemetry/semantic-conventions-genai`, main as of its #571) that no
// `@opentelemetry/semantic-conventions` release has yet; the bridge writes
// them instead of the released ones only under
// `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` (or
// `semconv: 'latest'`), see semconv-shape.ts.

/** The opt-in value of `OTEL_SEMCONV_STABILITY_OPT_IN` that selects the latest GenAI conventions. */
export const SEMCONV_OPT_IN_GEN_AI_LATEST = 'gen_ai_latest_experimental';

/**
 * `gen_ai.usage.cache_write.input_tokens` (development, latest shape): input
 * tokens written to a provider cache, the development repository's rename of
 * `gen_ai.usage.cache_creation.input_tokens` (its #440).
 */
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
/** `gen_ai.token.modality` (development, latest shape): `text`, `image`, `audio`, or `unknown` when the usage has no breakdown. */
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality';
/** `gen_ai.token.modality` when the provider did not break usage down by modality (the conventions' value for that case). */
export const GEN_AI_TOKEN_MODALITY_UNKNOWN = 'unknown';
/** `gen_ai.invocation.is_nested` (development, latest shape): false on the outermost in-process invocation, true inside another. */
export const ATTR_GEN_AI_INVOCATION_IS_NESTED = 'gen_ai.invocation.is_nested';

/** The latest shape's metrics (development; gen-ai-metrics.md, client-inference.md, gen-ai-token-metrics.md). */
export const METRIC_LATEST = {
  /** Counter, `{token}`: input tokens (cached ones included), by `gen_ai.token.modality`. */
  usageInputTokens: 'gen_ai.client.inference.usage.input_tokens',
  /** Counter, `{token}`: output tokens (reasoning ones included), by `gen_ai.token.modality`. */
  usageOutputTokens: 'gen_ai.client.inference.usage.output_tokens',
  /** Counter, `{token}`: input tokens served from a provider cache (a subset of input_tokens). */
  usageCacheReadInputTokens: 'gen_ai.client.inference.usage.cache_read.input_tokens',
  /** Counter, `{token}`: input tokens written to a provider cache (a subset of input_tokens). */
  usageCacheWriteInputTokens: 'gen_ai.client.inference.usage.cache_write.input_tokens',
  /** Counter, `{token}`: output tokens spent on reasoning (a subset of output_tokens). */
  usageReasoningOutputTokens: 'gen_ai.client.inference.usage.reasoning.output_tokens',
  /** Histogram, `{token}`: input tokens per inference operation (no modality: percentiles across modalities do not add up). */
  operationInputTokens: 'gen_ai.client.inference.operation.input_tokens',
  /** Histogram, `{token}`: output tokens per inference operation. */
  operationOutputTokens: 'gen_ai.client.inference.operation.output_tokens',
  /** Histogram, `s`: a model call; `gen_ai.client.operation.duration` no longer covers inference. */
  inferenceDuration: 'gen_ai.client.inference.duration',
  /** Histogram, `s`: an agent invocation or a workflow, nested or not (replaces `gen_ai.invoke_agent.duration` and `gen_ai.invoke_workflow.duration`). */
  invocationDuration: 'gen_ai.invocation.duration',
  /** Histogram, `s`: one tool execution. */
  executeToolDuration: 'gen_ai.execute_tool.duration',
} as const;

/** The conventions' explicit bucket boundaries for `gen_ai.invocation.duration`, in seconds (an invocation is many calls). */
export const INVOCATION_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
]);

/** Instrumentation scope name of the bridge's tracer and meter (their version is the package's, `VERSION`). */
export const INSTRUMENTATION_SCOPE = 'agentbus';

/**
 * `gen_ai.evaluation.result` (development; semantic-conventions-genai
 * `docs/gen-ai/gen-ai-events.md`): the event of an evaluation, and the name of
 * the zero-length span that carries it under a span that had already ended.
 */
export const EVENT_GEN_AI_EVALUATION_RESULT = 'gen_ai.evaluation.result';

/** Attributes of a `gen_ai.evaluation.result` event (development), besides `error.type` and `gen_ai.response.id`. */
export const ATTR_GEN_AI_EVALUATION = {
  /** `gen_ai.evaluation.name` (required): what was judged (`relevance`). */
  name: 'gen_ai.evaluation.name',
  /** `gen_ai.evaluation.score.value` (double): the evaluator's score. */
  scoreValue: 'gen_ai.evaluation.score.value',
  /** `gen_ai.evaluation.score.label`: the score in a low-cardinality word (`pass`, `relevant`). */
  scoreLabel: 'gen_ai.evaluation.score.label',
  /** `gen_ai.evaluation.explanation`: the evaluator's reasons. */
  explanation: 'gen_ai.evaluation.explanation',
} as const;

// ---------------------------------------------------------------- proposed
//
// Names that no release and no development document has yet: they are
// proposed in open-telemetry/semantic-conventions-genai pull request #443,
// "Add per-operation cost conventions (gen_ai.usage.cost.*)" (open), and may
// change or be dropped before it merges. The bridge writes them only when a
// cost is known: a run or a bridge given prices, or an event that carries one.

/**
 * `gen_ai.usage.cost.*` (proposed, PR #443): the monetary cost of one
 * inference operation, on `chat` spans only (not on agent or workflow spans,
 * which would count it twice).
 */
export const ATTR_GEN_AI_USAGE_COST = {
  /** `gen_ai.usage.cost.amount` (double): the cost, in `currency`. */
  amount: 'gen_ai.usage.cost.amount',
  /** `gen_ai.usage.cost.currency`: ISO 4217 code; conditionally required with the amount. */
  currency: 'gen_ai.usage.cost.currency',
  /** `gen_ai.usage.cost.source`: `provider` (reported in the response) or `local` (computed by the recorder). */
  source: 'gen_ai.usage.cost.source',
} as const;

/**
 * `gen_ai.client.operation.cost` (proposed, PR #443): a counter of the cost
 * of inference operations, its points split by `gen_ai.usage.cost.currency`
 * (amounts in two currencies are never added into one).
 */
export const METRIC_GEN_AI_CLIENT_OPERATION_COST = 'gen_ai.client.operation.cost';
