/**
 * The event catalogue: one zod schema per canonical event payload, and the
 * envelope every event travels in. The TypeScript types are inferred from the
 * schemas, so the catalogue, its types and its validator cannot drift apart.
 *
 * Validation happens at the edges (events arriving over SSE, a bus built with
 * `validate: true`); the emit and publish paths never call zod.
 */
import { z } from 'zod';

/** Longest text kept in a `*Preview` field. */
export const PREVIEW_MAX = 240;

/**
 * An event type: two or more dot-separated lowercase segments, each starting
 * with a letter (`agent.tool.started`, `myapp.cache_miss`).
 */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

const previewText = z.string().max(PREVIEW_MAX);
const count = z.number().int().nonnegative();
const duration = z.number().nonnegative();

/** The longest `errorType` an event carries. */
export const ERROR_TYPE_MAX = 128;

// The class of a failure beside its text (`error`): low-cardinality, so the
// bridge can use it as `error.type` without parsing it back out of the text.
const errorType = z.string().max(ERROR_TYPE_MAX).optional();

/** The longest evaluation `name` or `label` (`agent.evaluation.result`): low-cardinality words, as the conventions ask. */
export const EVALUATION_NAME_MAX = 128;
/** The longest `responseId` an evaluation carries. */
export const RESPONSE_ID_MAX = 256;
// Where a client sent a request: the host and port of the URL it used (`server.address`, `server.port`).
const serverAddress = z.string().optional();
const serverPort = z.number().int().min(0).max(65535).optional();
// Content (only when the run captures it; content.ts): lists of the GenAI
// conventions' parts, messages or tool definitions, bounded where they are made.
const contentList = z.array(z.unknown()).optional();
// The reference a run's content hook returned for the step's full content.
const contentRef = z.string().optional();

/** Payload schemas of the canonical event types, keyed by event type. */
export const eventDataSchemas = {
  'run.started': z.object({
    name: z.string().optional(),
    parentRunId: z.string().optional(),
    parentSpanId: z.string().optional(),
    // W3C trace context of the calling step in another service (a run opened with a link).
    traceparent: z.string().optional(),
    tracestate: z.string().optional(),
    // The run executes in another process and its events were relayed here (`mcp:<server name>`).
    relayedFrom: z.string().optional(),
    // The conversation (session, thread) the run serves (`RunOptions.conversationId`, inherited by nested runs).
    conversationId: z.string().optional(),
  }),
  'run.completed': z.object({
    status: z.enum(['ok', 'error', 'aborted']),
    error: z.string().optional(),
    errorType,
    durationMs: duration,
  }),
  'agent.invocation.started': z.object({
    agentName: z.string(),
    agentId: z.string().optional(),
    model: z.string().optional(),
    provider: z.string().optional(),
  }),
  'agent.think': z.object({
    iteration: z.number().int().positive(),
    reasoningPreview: previewText,
    hasToolCalls: z.boolean(),
    toolCallCount: count,
  }),
  'agent.model.started': z.object({
    model: z.string(),
    provider: z.string(),
    messageCount: count,
    toolCount: count,
    serverAddress,
    serverPort,
    // Request parameters, only those the request set.
    temperature: z.number().optional(),
    maxTokens: count.optional(),
    topP: z.number().optional(),
    stream: z.boolean().optional(),
    systemInstructions: contentList,
    inputMessages: contentList,
    toolDefinitions: contentList,
  }),
  'agent.model.completed': z.object({
    stopReason: z.string(),
    toolCallCount: count,
    contentPreview: previewText,
    error: z.string().optional(),
    errorType,
    // What the response says of itself: the model that answered, and its id.
    responseModel: z.string().optional(),
    responseId: z.string().optional(),
    outputMessages: contentList,
    contentRef,
  }),
  'agent.tokens.used': z.object({
    model: z.string(),
    provider: z.string(),
    inputTokens: count,
    outputTokens: count,
    totalTokens: count,
    cacheReadInputTokens: count.optional(),
    cacheCreationInputTokens: count.optional(),
    reasoningOutputTokens: count.optional(),
    // What the call cost: computed on the bus side from the run's price table
    // (`RunOptions.prices`, source `local`), only for a model the table prices.
    cost: z
      .object({
        amount: z.number().finite().nonnegative(),
        currency: z.string().regex(/^[A-Z]{3}$/, { message: 'expected an ISO 4217 code of three uppercase letters' }),
        source: z.enum(['local', 'provider']),
      })
      .optional(),
  }),
  'agent.tool.started': z.object({
    toolName: z.string(),
    toolCallId: z.string(),
    argKeys: z.array(z.string()),
    args: z.unknown().optional(),
    // What the tool does, as the model is told (`gen_ai.tool.description`).
    description: z.string().optional(),
    // A tool call (or resource read, prompt get) over the Model Context Protocol (`agentbus/mcp`).
    mcp: z.object({
      method: z.string(),
      side: z.enum(['client', 'server']),
      serverName: z.string().optional(),
      serverVersion: z.string().optional(),
      sessionId: z.string().optional(),
      protocolVersion: z.string().optional(),
      transport: z.string().optional(),
      // Where the client sent the request (Streamable HTTP or SSE: the host and port of the transport's URL).
      serverAddress,
      serverPort,
      requestId: z.string().optional(),
      resourceUri: z.string().optional(),
      promptName: z.string().optional(),
    }).optional(),
  }),
  'agent.tool.completed': z.object({
    toolName: z.string(),
    toolCallId: z.string(),
    success: z.boolean(),
    durationMs: duration,
    outputPreview: previewText.optional(),
    // What the tool returned, when the run captures content.
    result: z.unknown().optional(),
    contentRef,
    error: z.string().optional(),
    errorType,
  }),
  'agent.terminate': z.object({
    reason: z.enum(['completed', 'max_iterations', 'error', 'aborted']),
    iterationsUsed: count,
    totalToolCalls: count,
    finalMessagePreview: previewText,
    // For `error` and `aborted`: the class of what ended the agent (`AbortError`, `ModelHttpError`).
    errorType,
  }),
  'agent.handoff': z.object({
    fromAgent: z.string(),
    toAgent: z.string(),
  }),
  'multiagent.fanout.started': z.object({
    agentCount: count,
    mergeStrategy: z.string(),
    // The workflow the fan-out runs, a low-cardinality name (`gen_ai.workflow.name`).
    name: z.string().optional(),
  }),
  'multiagent.fanout.completed': z.object({
    succeeded: count,
    failed: count,
    durationMs: duration,
  }),
  'memory.checkpoint.saved': z.object({
    threadId: z.string(),
    iteration: count,
    backend: z.string(),
  }),
  'memory.checkpoint.loaded': z.object({
    threadId: z.string(),
    iteration: count,
    backend: z.string(),
  }),
  'stream.placeholder': z.object({
    eventType: z.string(),
    reason: z.string(),
  }),
  'stream.dropped': z.object({
    count: z.number().int().positive(),
    fromSeq: count.optional(),
    toSeq: count.optional(),
  }),
  // A verdict on a step (recordEvaluation): the envelope's parentSpanId is the
  // step judged (none: the run as a whole). Scores are on the evaluator's own scale.
  'agent.evaluation.result': z.object({
    name: z.string().min(1).max(EVALUATION_NAME_MAX),
    score: z.number().finite().optional(),
    label: z.string().max(EVALUATION_NAME_MAX).optional(),
    explanation: previewText.optional(),
    responseId: z.string().min(1).max(RESPONSE_ID_MAX).optional(),
    errorType,
  }),
} as const;

type DataSchemas = typeof eventDataSchemas;

/** A canonical event type name, e.g. `'agent.tool.started'`. */
export type CanonicalEventType = keyof DataSchemas;

/** The payload of canonical event type `K`. */
export type EventData<K extends CanonicalEventType> = z.infer<DataSchemas[K]>;

/** Payload of a custom (non-canonical) event: free-form JSON-like data. */
export type CustomEventData = Record<string, unknown>;

const RUN_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DOTS_ONLY = /^\.+$/;

/** The rule a run id follows, for error messages. */
export const RUN_ID_RULE = "1-128 characters of letters, digits, '.', '_', ':' or '-', not only dots";

/**
 * True for a usable run id: 1-128 characters of `[A-Za-z0-9._:-]`, and not
 * only dots (`.` and `..` are path segments no URL can name).
 */
export function isRunId(runId: unknown): runId is string {
  return typeof runId === 'string' && RUN_ID.test(runId) && !DOTS_ONLY.test(runId);
}

/** The longest event type or span id the bus accepts, in characters. */
export const MAX_ID_LENGTH = 256;

/** The rule a span id read from outside follows (the bus's length rule, and no control characters), for error messages. */
export const SPAN_ID_RULE = `1-${MAX_ID_LENGTH} characters without control characters`;

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * True for a usable span id from outside the process (a link read from a
 * request): the bus's length rule for an event's `spanId`, and no control
 * characters (ids read from the network end up in terminals and logs).
 */
export function isSpanId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_ID_LENGTH && !CONTROL_CHARACTER.test(value);
}

const envelopeShape = {
  eventId: z.string().min(1),
  runId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  timestamp: z.number().finite().nonnegative(),
  spanId: z.string().min(1).optional(),
  parentSpanId: z.string().min(1).optional(),
};

/** Envelope schema with free-form data: the shape shared by every event. */
export const envelopeSchema = z.object({
  ...envelopeShape,
  eventType: z.string().regex(EVENT_TYPE_PATTERN, {
    message: 'expected a dotted lowercase event type such as "agent.tool.started"',
  }),
  data: z.record(z.string(), z.unknown()),
});

type Envelope = Omit<z.infer<typeof envelopeSchema>, 'eventType' | 'data'>;

/** A canonical event of type `K`, with its payload typed. */
export type StreamEventOf<K extends CanonicalEventType> = Envelope & {
  eventType: K;
  data: EventData<K>;
};

/** Any canonical event (a union discriminated by `eventType`). */
export type CanonicalStreamEvent = { [K in CanonicalEventType]: StreamEventOf<K> }[CanonicalEventType];

/**
 * An event as it travels on the bus and the wire. `data` is typed per event
 * type; narrow with {@link isEventType}.
 */
export interface StreamEvent extends Envelope {
  /** The event's type: a canonical one (`agent.tool.started`) or a custom dotted lowercase one (`myapp.cache.miss`). */
  eventType: string;
  /** The payload, typed per `eventType` in the catalogue; narrow with {@link isEventType}. */
  data: object;
}

/** True for the canonical event type names of the catalogue. */
export function isCanonicalEventType(type: string): type is CanonicalEventType {
  return Object.hasOwn(eventDataSchemas, type);
}

/** Narrows `event` to canonical type `type`, so that `event.data` is typed. */
export function isEventType<K extends CanonicalEventType>(event: StreamEvent, type: K): event is StreamEventOf<K> {
  return event.eventType === type;
}

/** A validation failure: says which field is wrong and what was expected. */
export class StreamEventError extends TypeError {
  /** One entry per problem: the path to the field and the message. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(issues: ReadonlyArray<{ path: string; message: string }>) {
    super(`invalid stream event: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'StreamEventError';
    this.issues = issues;
  }
}

function fail(error: z.ZodError, prefix: string[] = []): never {
  throw new StreamEventError(
    error.issues.map((issue) => ({
      path: [...prefix, ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  );
}

/**
 * Validates an unknown value (typically parsed JSON from the wire) as a stream
 * event. Canonical types get their payload checked against the catalogue;
 * custom dotted types accept any object payload.
 *
 * @throws {StreamEventError} naming each offending field and the problem.
 */
export function parseStreamEvent(value: unknown): StreamEvent {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) fail(envelope.error);
  const event = envelope.data;
  if (isCanonicalEventType(event.eventType)) {
    const data = eventDataSchemas[event.eventType].safeParse(event.data);
    if (!data.success) fail(data.error, ['data']);
    return { ...event, data: data.data };
  }
  return event;
}
