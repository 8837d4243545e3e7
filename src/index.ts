/**
 * agentbus: typed events for every step an agent takes, an in-process bus
 * that keeps and streams them, and nothing at all when no run is open.
 *
 * This entry point loads no OpenTelemetry module; see `agentbus/otel`.
 * @packageDocumentation
 */
export {
  EVENT_TYPE_PATTERN,
  PREVIEW_MAX,
  RUN_ID_RULE,
  isRunId,
  StreamEventError,
  envelopeSchema,
  eventDataSchemas,
  isCanonicalEventType,
  isEventType,
  parseStreamEvent,
  type CanonicalEventType,
  type CanonicalStreamEvent,
  type CustomEventData,
  type EventData,
  type StreamEvent,
  type StreamEventOf,
} from './events.js';
export { MAX_ARG_KEYS, preview } from './payload-text.js';
export { CIRCULAR_PLACEHOLDER, DEFAULT_MAX_EVENT_BYTES, MAX_DEPTH, boundedJson } from './bounded-json.js';
export { bindToRun, currentRunId, isRecording, runContext, type RunOptions } from './context.js';
export { extractRunLink, injectRunLink, type RunLink, type RunLinkCarrier, type RunLinkSource } from './link.js';
export { emit, startStep, traceTool } from './emit.js';
export { recordEvaluation, type Evaluation, type EvaluationTarget } from './evaluation.js';
export type { DataFor, EmitOptions, Step, StepEndData, StepEndTypes, StepStartType } from './step.js';
export {
  recordTokens,
  traceFanout,
  traceModel,
  type FanoutInfo,
  type ModelCallInfo,
  type ModelCallOutcome,
  type TokenUsage,
  type ToolCallInfo,
} from './trace.js';
export type { ModelPrice, PriceTable, TokenCost } from './prices.js';
export {
  CAPTURE_CONTENT_ENV,
  CONTENT_REF_MAX,
  textMessage,
  toolCallPart,
  toolDefinitions,
  toolResponsePart,
  type CapturedContent,
  type ChatMessage,
  type ContentBuilder,
  type ContentHook,
  type MessagePart,
  type ModelCallContent,
  type ModelInputContent,
  type OutputMessage,
  type ReasoningPart,
  type TextPart,
  type ToolCallContent,
  type ToolCallRequest,
  type ToolCallRequestPart,
  type ToolCallResponsePart,
  type ToolDefinition,
} from './content.js';
export type { InputMapping } from './step-content.js';
export { EventBus, type EventBusStats, type SubscribeOptions } from './bus.js';
export type { EndReason, Subscription } from './subscription.js';
export type { BusListener, StreamEndReason } from './listeners.js';
export type { StepWrapper } from './step-wrapping.js';
export type { EventBusOptions } from './bus-options.js';
export { EVENT_ENVELOPE_BYTES } from './envelope.js';
export { getEventBus, peekEventBus, resetEventBus } from './global.js';
export type { RetainedRun, RunLookup, RunSource } from './source.js';
