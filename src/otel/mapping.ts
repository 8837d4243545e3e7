/**
 * The span mapping: what each event's payload becomes in OpenTelemetry
 * terms, as pure functions of the payload (DESIGN.md, "OpenTelemetry
 * mapping"). An opening event maps to the span to start, a closing event to
 * what it adds to its span and whether the step failed, a point event to a
 * span event. Nothing here touches a span, a tracer or the run table.
 *
 * The bus does not validate payloads on publish, so the few fields an
 * adapter or a hand-written emitter could get wrong (`mcp`, `errorType`) are
 * read defensively; the typed fields are trusted as the emitters' types
 * promise.
 */
import { SpanKind, type Attributes } from './api.js';
import { preview, type EventData } from '../index.js';
import { isErrorCode, isErrorTypeName } from '../payload-text.js';
import { fitContent, type FittedContent } from '../content.js';
import {
  ATTR_AGENTBUS,
  ATTR_GEN_AI_AGENT_ID,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_DESCRIPTION,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COST,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_MCP,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ERROR_TYPE_ABORTED,
  ERROR_TYPE_OTHER,
  GEN_AI_OPERATION,
  GEN_AI_TOOL_TYPE_FUNCTION,
  MCP_METHOD_PROMPTS_GET,
  MCP_METHOD_TOOLS_CALL,
  SPAN_EVENT,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_EVALUATION,
  EVENT_GEN_AI_EVALUATION_RESULT,
  ATTR_AGENTBUS_CONTENT,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_TOOL_DEFINITIONS,
} from './semconv.js';
import type { SpanEntry, StepKind } from './span-table.js';
import type { TokenCost } from '../prices.js';

/** How much content the mapping may put into attributes (the bridge's options, read once). */
export interface ContentOptions {
  /** Messages, instructions, tool definitions, tool arguments and results, reasoning text: only when true. */
  readonly captureContent: boolean;
  /** Longest content attribute, in characters (JSON ones are cut so that they stay valid JSON). */
  readonly maxContentLength: number;
}

/** The span a step's opening event starts. */
export interface StepSpan {
  readonly name: string;
  readonly spanKind: SpanKind;
  /** The span's start attributes (a fresh object: the step tracer adds the run id to it). */
  readonly attributes: Attributes;
  readonly stepKind: StepKind;
  /**
   * The attributes of its `gen_ai.client.operation.duration` measurement as
   * the step starts (frozen: shared by the success measurement, copied to add
   * what the end says); undefined for a step that is not measured there.
   */
  readonly durationAttributes: Attributes | undefined;
  /** True for a step that heads its run (an MCP server call): no `invoke_workflow` root above it. */
  readonly headsRun: boolean;
  /** For a step made over MCP, what its end needs (its span's status code, its duration metric); else undefined. */
  readonly mcp: McpStep | undefined;
}

/** What the bridge keeps of a step made over MCP until it ends. */
export interface McpStep {
  /** Which side made the span: `mcp.client.operation.duration` or `mcp.server.operation.duration`. */
  readonly side: 'client' | 'server';
  /** A `tools/call`: an `execute_tool` operation, also measured as `gen_ai.client.operation.duration`. */
  readonly executeTool: boolean;
  /**
   * The attributes of its MCP duration measurement, as the step started
   * (frozen: shared by the success measurement, copied to add `error.type`).
   * Only low-cardinality ones: no session, request id or resource uri.
   */
  readonly metricAttributes: Attributes;
}

/** What a step's closing event adds to its span. */
export interface StepEnd {
  readonly attributes: Attributes | undefined;
  /** `error.type` when the step failed, undefined when it succeeded. */
  readonly failure: string | undefined;
  /** The ERROR status message, when there is one. */
  readonly message: string | undefined;
  /** A model call's `gen_ai.response.model`, which its duration measurement carries too. */
  readonly responseModel?: string | undefined;
}

/** A span event: a point event recorded on its enclosing span. */
export interface PointEvent {
  readonly name: string;
  readonly attributes: Attributes;
}

/**
 * `error.type` of a failure: the class the emitter reported beside the
 * error text (`errorType`, see `errorTypeOf`) when it reads as a type name,
 * else the conventions' `_OTHER`.
 * The text itself is never parsed: its prefix may be anything a user threw.
 */
export function errorTypeOrOther(errorType: unknown): string {
  // The bus does not validate what it publishes: a free-text or huge errorType would be a series per message.
  return isErrorTypeName(errorType) ? errorType : ERROR_TYPE_OTHER;
}

/**
 * `error.type` of an abort: the class the emitter reported (`AbortError`, or
 * `TimeoutError` for a timeout), else `AbortError`. One name for aborts on
 * every span, the agent's and the run root's included, where `aborted` used
 * to be: the name of the error an abort raises is what the tool and model
 * steps it interrupted report.
 */
export function abortErrorType(errorType: unknown): string {
  return isErrorTypeName(errorType) ? errorType : ERROR_TYPE_ABORTED;
}

/**
 * `rpc.response.status_code` of a failed MCP step: its `error.type` when that
 * is a JSON-RPC error code (`-32602`, see agentbus/mcp's `mcpErrorType`),
 * else undefined (a `tool_error` result, an abort: no code came back).
 */
export function rpcStatusCode(failure: string | undefined): string | undefined {
  return isErrorCode(failure) ? failure : undefined;
}

function stepSpan(
  name: string,
  spanKind: SpanKind,
  attributes: Attributes,
  stepKind: StepKind,
  durationAttributes: Attributes | undefined,
  headsRun = false,
  mcp: McpStep | undefined = undefined,
): StepSpan {
  return { name, spanKind, attributes, stepKind, durationAttributes, headsRun, mcp };
}

function stepEnd(attributes: Attributes | undefined, failure: string | undefined, message: string | undefined, responseModel?: string): StepEnd {
  return { attributes, failure, message, responseModel };
}

// The duration metric of every tool call, one frozen set shared by all of them: a tool
// has no `gen_ai.provider.name`. The metric requires it only "if the operation involves
// a call to a GenAI provider" (gen-ai-metrics.md, gen_ai.client.operation.duration), and
// running a tool does not; the model provider of the agent that asked for it is not the
// tool's, and borrowing it would count tool time as that provider's. Nor a model, nor ids.
const TOOL_DURATION_ATTRIBUTES: Attributes = Object.freeze({ [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.executeTool });

/**
 * The attributes a measurement shares with its span, picked from the span's
 * start attributes: only low-cardinality ones (provider, models, server), never
 * an id, a conversation or a request parameter.
 */
const DURATION_KEYS: readonly string[] = [
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
];

/** Copies the `keys` that `from` has into `to`. */
function pick(to: Attributes, from: Attributes, keys: readonly string[]): Attributes {
  for (const key of keys) {
    const value = from[key];
    if (value !== undefined) to[key] = value;
  }
  return to;
}

function durationAttributesOf(spanAttributes: Attributes): Attributes {
  return Object.freeze(pick({}, spanAttributes, DURATION_KEYS));
}

function content(value: unknown, options: ContentOptions): string {
  return preview(value, options.maxContentLength);
}

/**
 * Sets `key` to the JSON of `value` (plain content data from an event, in the
 * conventions' shape), cut to `maxContentLength` so that the JSON stays valid
 * and in its shape (content.ts, `fitContent`); a cut is marked with
 * `agentbus.content.truncated`. Nothing for an absent value.
 */
function setContent(attributes: Attributes, key: string, value: unknown, options: ContentOptions): void {
  if (value === undefined) return;
  setFitted(attributes, key, fittedContent(value, options));
}

/**
 * `value` fitted to `maxContentLength`. Below 2 characters no JSON of the
 * shapes fits (`[]` is 2), and fitContent's emptiest answer is longer than
 * the bound: the attribute is then left out, and the cut said.
 */
function fittedContent(value: unknown, options: ContentOptions): FittedContent {
  const fitted = fitContent(value, options.maxContentLength);
  return fitted.json.length <= options.maxContentLength ? fitted : NOTHING_FITS;
}

const NOTHING_FITS: FittedContent = Object.freeze({ json: '', value: undefined, cut: true });

function setFitted(attributes: Attributes, key: string, fitted: FittedContent): void {
  if (fitted !== NOTHING_FITS) attributes[key] = fitted.json;
  if (fitted.cut) attributes[ATTR_AGENTBUS_CONTENT.truncated] = true;
}

// ---------------------------------------------------------------- spans

/** `agent.invocation.started` -> `invoke_agent {agentName}`, INTERNAL. */
export function agentSpan(data: EventData<'agent.invocation.started'>): StepSpan {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeAgent,
    [ATTR_GEN_AI_AGENT_NAME]: data.agentName,
  };
  if (data.agentId !== undefined) attributes[ATTR_GEN_AI_AGENT_ID] = data.agentId;
  if (data.provider !== undefined) attributes[ATTR_GEN_AI_PROVIDER_NAME] = data.provider;
  if (data.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = data.model;
  return stepSpan(`${GEN_AI_OPERATION.invokeAgent} ${data.agentName}`, SpanKind.INTERNAL, attributes, 'agent', durationAttributesOf(attributes));
}

/**
 * `agent.terminate`: how the agent ended; `error` and `aborted` fail its
 * span, with the class of what ended it (`errorType`) as `error.type`.
 */
export function agentEnd(data: EventData<'agent.terminate'>): StepEnd {
  const reason = data.reason;
  const attributes: Attributes = {
    [ATTR_AGENTBUS.terminateReason]: reason,
    [ATTR_AGENTBUS.iterations]: data.iterationsUsed,
    [ATTR_AGENTBUS.toolCalls]: data.totalToolCalls,
  };
  if (reason !== 'error' && reason !== 'aborted') return stepEnd(attributes, undefined, undefined);
  const failure = reason === 'aborted' ? abortErrorType(data.errorType) : errorTypeOrOther(data.errorType);
  return stepEnd(attributes, failure, `agent ended: ${reason}`);
}

/**
 * `agent.model.started` -> `chat {model}`, CLIENT, with the server and the
 * request parameters the call set (only those: an attribute per parameter
 * the request left to the provider's default would state a value nobody sent).
 */
export function modelSpan(data: EventData<'agent.model.started'>, options: ContentOptions): StepSpan {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.chat,
    [ATTR_GEN_AI_REQUEST_MODEL]: data.model,
    [ATTR_GEN_AI_PROVIDER_NAME]: data.provider,
  };
  // The conventions want server.address and server.port at span creation (sampling may read them).
  setServer(attributes, data.serverAddress, data.serverPort);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_TEMPERATURE, data.temperature);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_MAX_TOKENS, data.maxTokens);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_TOP_P, data.topP);
  if (typeof data.stream === 'boolean') attributes[ATTR_GEN_AI_REQUEST_STREAM] = data.stream;
  if (options.captureContent) {
    setContent(attributes, ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, data.systemInstructions, options);
    setContent(attributes, ATTR_GEN_AI_INPUT_MESSAGES, data.inputMessages, options);
    setContent(attributes, ATTR_GEN_AI_TOOL_DEFINITIONS, data.toolDefinitions, options);
  }
  return stepSpan(`${GEN_AI_OPERATION.chat} ${data.model}`, SpanKind.CLIENT, attributes, 'model', durationAttributesOf(attributes));
}

/**
 * `agent.model.completed`: the finish reason, the response's model and id,
 * the output messages (with content capture), the content hook's reference;
 * an `error` fails the span.
 */
export function modelEnd(data: EventData<'agent.model.completed'>, options: ContentOptions): StepEnd {
  const attributes: Attributes = { [ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: [data.stopReason] };
  const responseModel = stringOrUndefined(data.responseModel);
  if (responseModel !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
  setString(attributes, ATTR_GEN_AI_RESPONSE_ID, data.responseId);
  if (options.captureContent) setContent(attributes, ATTR_GEN_AI_OUTPUT_MESSAGES, data.outputMessages, options);
  // A reference is no content: it goes on the span with or without capture, as the hook runs either way.
  setString(attributes, ATTR_AGENTBUS_CONTENT.ref, data.contentRef);
  const error = data.error;
  const failure = error === undefined ? undefined : errorTypeOrOther(data.errorType);
  return stepEnd(attributes, failure, error, responseModel);
}

/**
 * `agent.tool.started` -> `execute_tool {toolName}`, INTERNAL; a step made
 * over MCP (agentbus/mcp) -> the MCP conventions' span instead.
 */
export function toolSpan(data: EventData<'agent.tool.started'>, options: ContentOptions): StepSpan {
  const args = options.captureContent && data.args !== undefined ? fittedContent(data.args, options) : undefined;
  const mcp = data.mcp;
  if (typeof mcp === 'object' && mcp !== null && typeof mcp.method === 'string') return mcpSpan(data, mcp, args);
  const attributes = toolAttributes(data, args);
  return stepSpan(`${GEN_AI_OPERATION.executeTool} ${data.toolName}`, SpanKind.INTERNAL, attributes, 'tool', TOOL_DURATION_ATTRIBUTES);
}

function toolAttributes(data: EventData<'agent.tool.started'>, args: FittedContent | undefined): Attributes {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.executeTool,
    [ATTR_GEN_AI_TOOL_NAME]: data.toolName,
    [ATTR_GEN_AI_TOOL_CALL_ID]: data.toolCallId,
    [ATTR_GEN_AI_TOOL_TYPE]: GEN_AI_TOOL_TYPE_FUNCTION,
  };
  const description = data.description;
  if (typeof description === 'string' && description !== '') attributes[ATTR_GEN_AI_TOOL_DESCRIPTION] = description;
  setArgs(attributes, args);
  return attributes;
}

/** `gen_ai.tool.call.arguments`, fitted; a cut is marked with `agentbus.content.truncated`. */
function setArgs(attributes: Attributes, args: FittedContent | undefined): void {
  if (args !== undefined) setFitted(attributes, ATTR_GEN_AI_TOOL_CALL_ARGUMENTS, args);
}

type McpData = NonNullable<EventData<'agent.tool.started'>['mcp']>;

// A step made over MCP: the MCP conventions' span, `{mcp.method.name} {target}`,
// CLIENT on the calling side, SERVER on the serving side, where it heads its run (no
// invoke_workflow root between it and the client span). Only a tools/call is an execute_tool span.
function mcpSpan(data: EventData<'agent.tool.started'>, mcp: McpData, args: FittedContent | undefined): StepSpan {
  const method = mcp.method;
  const toolsCall = method === MCP_METHOD_TOOLS_CALL;
  let attributes: Attributes;
  if (toolsCall) {
    attributes = toolAttributes(data, args);
  } else {
    attributes = {};
    setArgs(attributes, args);
  }
  attributes[ATTR_MCP.methodName] = method;
  setString(attributes, ATTR_MCP.protocolVersion, mcp.protocolVersion);
  setString(attributes, ATTR_MCP.networkTransport, mcp.transport);
  const server = mcp.side === 'server';
  // Where the client sent the request: the client side's only.
  if (!server) setServer(attributes, mcp.serverAddress, mcp.serverPort);
  const metricAttributes = mcpMetricAttributes(attributes, toolsCall);
  setString(attributes, ATTR_MCP.sessionId, mcp.sessionId);
  setString(attributes, ATTR_MCP.requestId, mcp.requestId);
  setString(attributes, ATTR_MCP.resourceUri, mcp.resourceUri);
  setString(attributes, ATTR_MCP.promptName, mcp.promptName);
  if (method === MCP_METHOD_PROMPTS_GET) setString(metricAttributes, ATTR_MCP.promptName, mcp.promptName);
  const target = toolsCall ? data.toolName : stringOrUndefined(mcp.promptName);
  const name = target === undefined || target === '' ? method : `${method} ${target}`;
  const step: McpStep = { side: server ? 'server' : 'client', executeTool: toolsCall, metricAttributes: Object.freeze(metricAttributes) };
  // Only a tools/call is a GenAI operation (execute_tool), measured as any tool call is.
  const durationAttributes = toolsCall ? TOOL_DURATION_ATTRIBUTES : undefined;
  return stepSpan(name, server ? SpanKind.SERVER : SpanKind.CLIENT, attributes, 'tool', durationAttributes, server, step);
}

// The MCP duration metrics' attributes (mcp.md, "Metrics"), picked from the span's: the
// method, the tool name and execute_tool for a tools/call, the protocol version, the
// transport, the server's address (the prompt name is added for a prompts/get). Not the
// call id, the arguments, the session or the resource uri (opt-in): one series per call is no metric.
const MCP_METRIC_KEYS: readonly string[] = [
  ATTR_MCP.methodName,
  ATTR_MCP.protocolVersion,
  ATTR_MCP.networkTransport,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
];

function mcpMetricAttributes(spanAttributes: Attributes, toolsCall: boolean): Attributes {
  const attributes: Attributes = {};
  if (toolsCall) {
    attributes[ATTR_GEN_AI_OPERATION_NAME] = spanAttributes[ATTR_GEN_AI_OPERATION_NAME];
    attributes[ATTR_GEN_AI_TOOL_NAME] = spanAttributes[ATTR_GEN_AI_TOOL_NAME];
  }
  return pick(attributes, spanAttributes, MCP_METRIC_KEYS);
}

/** `server.address` and, only beside it, `server.port`: where a client sent its request. */
function setServer(attributes: Attributes, address: unknown, port: unknown): void {
  const host = stringOrUndefined(address);
  if (host === undefined || host === '') return;
  attributes[ATTR_SERVER_ADDRESS] = host;
  if (isPort(port)) attributes[ATTR_SERVER_PORT] = port;
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535;
}

// What a successful step adds when there is nothing to add: one shared object, not one per step.
const NOTHING_TO_ADD: StepEnd = Object.freeze(stepEnd(undefined, undefined, undefined));

/**
 * `agent.tool.completed`: the result (when the run captured it; JSON, cut so
 * that it stays valid) or the failure, and the content hook's reference.
 */
export function toolEnd(data: EventData<'agent.tool.completed'>, options: ContentOptions): StepEnd {
  const ref = data.contentRef;
  if (!data.success) {
    const failed = typeof ref === 'string' ? { [ATTR_AGENTBUS_CONTENT.ref]: ref } : undefined;
    return stepEnd(failed, errorTypeOrOther(data.errorType), data.error);
  }
  const result = data.result;
  const capture = options.captureContent && result !== undefined;
  if (!capture && typeof ref !== 'string') return NOTHING_TO_ADD;
  const attributes: Attributes = {};
  if (capture) setContent(attributes, ATTR_GEN_AI_TOOL_CALL_RESULT, result, options);
  setString(attributes, ATTR_AGENTBUS_CONTENT.ref, ref);
  return stepEnd(attributes, undefined, undefined);
}

/**
 * `multiagent.fanout.started` -> `invoke_workflow [name]`, INTERNAL: the
 * conventions' workflow span ("a coordinated process composed of multiple
 * agents", gen-ai-agent-spans.md), which a fan-out of agents is; named
 * `invoke_workflow {gen_ai.workflow.name}` as they say, plain
 * `invoke_workflow` without a name. Not measured as an operation, as a
 * run's own root is not.
 */
export function fanoutSpan(data: EventData<'multiagent.fanout.started'>): StepSpan {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeWorkflow,
    [ATTR_AGENTBUS.fanoutAgentCount]: data.agentCount,
    [ATTR_AGENTBUS.fanoutMergeStrategy]: data.mergeStrategy,
  };
  const name = stringOrUndefined(data.name);
  if (name !== undefined && name !== '') attributes[ATTR_GEN_AI_WORKFLOW_NAME] = name;
  return stepSpan(workflowSpanName(name), SpanKind.INTERNAL, attributes, 'fanout', undefined);
}

function workflowSpanName(name: string | undefined): string {
  return name === undefined || name === '' ? GEN_AI_OPERATION.invokeWorkflow : `${GEN_AI_OPERATION.invokeWorkflow} ${name}`;
}

/** `multiagent.fanout.completed`: how many children succeeded and failed; the fan-out itself never fails. */
export function fanoutEnd(data: EventData<'multiagent.fanout.completed'>): StepEnd {
  return stepEnd({ [ATTR_AGENTBUS.fanoutSucceeded]: data.succeeded, [ATTR_AGENTBUS.fanoutFailed]: data.failed }, undefined, undefined);
}

/** The root span of a run whose first top-level step is not an agent: `invoke_workflow [name]`, INTERNAL. */
export function workflowSpan(runId: string, name: string | undefined): StepSpan {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION.invokeWorkflow,
    [ATTR_AGENTBUS.runId]: runId,
  };
  if (name !== undefined) attributes[ATTR_GEN_AI_WORKFLOW_NAME] = name;
  return stepSpan(workflowSpanName(name), SpanKind.INTERNAL, attributes, 'workflow', undefined);
}

/** `run.completed`, on a run's own root span: its status; `error` and `aborted` fail it. */
export function runEnd(data: EventData<'run.completed'>): StepEnd {
  const status = data.status;
  const attributes: Attributes = { [ATTR_AGENTBUS.runStatus]: status };
  if (status === 'ok') return stepEnd(attributes, undefined, undefined);
  return stepEnd(attributes, status === 'aborted' ? abortErrorType(data.errorType) : errorTypeOrOther(data.errorType), data.error);
}

/** The token usage a span ends with: totals of its model calls (summed over them for an agent). */
export function usageAttributes(usage: SpanEntry): Attributes {
  const attributes: Attributes = {
    [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: usage.inputTokens,
    [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: usage.outputTokens,
  };
  if (usage.cacheReadInputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cacheReadInputTokens;
  if (usage.cacheCreationInputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cacheCreationInputTokens;
  if (usage.reasoningOutputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoningOutputTokens;
  return attributes;
}

/**
 * The proposed cost attributes (semantic-conventions-genai PR #443) a `chat`
 * span ends with: the amount, its currency and where it came from.
 */
export function costAttributes(cost: TokenCost): Attributes {
  return {
    [ATTR_GEN_AI_USAGE_COST.amount]: cost.amount,
    [ATTR_GEN_AI_USAGE_COST.currency]: cost.currency,
    [ATTR_GEN_AI_USAGE_COST.source]: cost.source,
  };
}

/**
 * The token usage a span ends with in the latest shape: cache writes under
 * their development name, `gen_ai.usage.cache_write.input_tokens` (renamed
 * from `cache_creation`), and no cache breakdown on an agent's span (the
 * development conventions took it off `invoke_agent`: summed over models and
 * calls it misleads; the chat spans carry it).
 */
export function latestUsageAttributes(usage: SpanEntry): Attributes {
  const attributes: Attributes = {
    [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: usage.inputTokens,
    [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: usage.outputTokens,
  };
  if (usage.kind !== 'agent') {
    if (usage.cacheReadInputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cacheReadInputTokens;
    if (usage.cacheCreationInputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cacheCreationInputTokens;
  }
  if (usage.reasoningOutputTokens !== 0) attributes[ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoningOutputTokens;
  return attributes;
}

// ---------------------------------------------------------------- span events

/** `agent.think` -> a span event; the reasoning text only with content capture. */
export function thinkEvent(data: EventData<'agent.think'>, options: ContentOptions): PointEvent {
  const attributes: Attributes = {
    [ATTR_AGENTBUS.iteration]: data.iteration,
    [ATTR_AGENTBUS.hasToolCalls]: data.hasToolCalls,
    [ATTR_AGENTBUS.toolCallCount]: data.toolCallCount,
  };
  if (options.captureContent) attributes[ATTR_AGENTBUS.reasoning] = content(data.reasoningPreview, options);
  return { name: SPAN_EVENT.think, attributes };
}

/** `agent.handoff` -> a span event naming the agents that pass and take the conversation. */
export function handoffEvent(data: EventData<'agent.handoff'>): PointEvent {
  return { name: SPAN_EVENT.handoff, attributes: { [ATTR_AGENTBUS.handoffFrom]: data.fromAgent, [ATTR_AGENTBUS.handoffTo]: data.toAgent } };
}

/** `memory.checkpoint.saved` -> a span event. */
export function checkpointSavedEvent(data: EventData<'memory.checkpoint.saved'>): PointEvent {
  return { name: SPAN_EVENT.checkpointSaved, attributes: checkpointAttributes(data) };
}

/** `memory.checkpoint.loaded` -> a span event. */
export function checkpointLoadedEvent(data: EventData<'memory.checkpoint.loaded'>): PointEvent {
  return { name: SPAN_EVENT.checkpointLoaded, attributes: checkpointAttributes(data) };
}

function checkpointAttributes(data: EventData<'memory.checkpoint.saved' | 'memory.checkpoint.loaded'>): Attributes {
  return { [ATTR_AGENTBUS.threadId]: data.threadId, [ATTR_AGENTBUS.iteration]: data.iteration, [ATTR_AGENTBUS.backend]: data.backend };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function setString(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'string') attributes[key] = value;
}

/**
 * `agent.evaluation.result` -> a `gen_ai.evaluation.result` event with the
 * conventions' attributes. The explanation goes in with or without
 * `captureContent`: the conventions recommend it (content attributes are
 * opt-in), and it is the evaluator's text, already a preview, not the
 * conversation's.
 */
export function evaluationEvent(data: EventData<'agent.evaluation.result'>): PointEvent {
  const attributes: Attributes = {};
  setString(attributes, ATTR_GEN_AI_EVALUATION.name, data.name);
  // Read defensively: `emit('agent.evaluation.result', ...)` reaches here unchecked.
  if (typeof data.score === 'number' && Number.isFinite(data.score)) attributes[ATTR_GEN_AI_EVALUATION.scoreValue] = data.score;
  setString(attributes, ATTR_GEN_AI_EVALUATION.scoreLabel, data.label);
  setString(attributes, ATTR_GEN_AI_EVALUATION.explanation, data.explanation);
  setString(attributes, ATTR_GEN_AI_RESPONSE_ID, data.responseId);
  if (data.errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorTypeOrOther(data.errorType);
  return { name: EVENT_GEN_AI_EVALUATION_RESULT, attributes };
}

function setNumber(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'number' && Number.isFinite(value)) attributes[key] = value;
}
