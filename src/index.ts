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
  StreamEventError,
  envelopeSchema,
  eventDataSchemas,
  isCanonicalEventType,
  isEventType,
  parseStreamEvent,
  preview,
  type CanonicalEventType,
  type CanonicalStreamEvent,
  type CustomEventData,
  type EventData,
  type StreamEvent,
  type StreamEventOf,
} from './events.js';
export { bindToRun, currentRunId, isRecording, runContext, type RunOptions } from './context.js';
export {
  emit,
  newSpanId,
  now,
  recordTokens,
  startStep,
  traceFanout,
  traceModel,
  traceTool,
  type DataFor,
  type EmitOptions,
  type ModelCallInfo,
  type ModelCallOutcome,
  type Step,
  type StepEndTypes,
  type StepStartType,
  type TokenUsage,
  type TraceToolOptions,
} from './emit.js';
export {
  EventBus,
  getEventBus,
  peekEventBus,
  resetEventBus,
  type BusListener,
  type EndReason,
  type EventBusOptions,
  type EventBusStats,
  type ListenerOptions,
  type StepWrapper,
  type SubscribeOptions,
  type Subscription,
} from './bus.js';
