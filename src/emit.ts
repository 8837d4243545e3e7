/**
 * Emission helpers: what agents and adapters call at each step.
 *
 * Every helper starts with the same guard, the idle gate (`gate.ts`): with no
 * run open anywhere it returns (or calls the wrapped function) before
 * touching AsyncLocalStorage or allocating. In a process that never opened a
 * run the guard folds away entirely.
 */
import { randomFillSync } from 'node:crypto';
import { now } from './clock.js';
import { als, record, type Frame } from './context.js';
import { gate as processGate, type Gate } from './gate.js';
import {
  EVENT_TYPE_PATTERN,
  argKeys,
  errorText,
  preview,
  type CanonicalEventType,
  type CustomEventData,
  type EventData,
  type StreamEvent,
} from './events.js';

/** Payload accepted for event type `T`: the catalogue's for canonical types, any object otherwise. */
export type DataFor<T extends string> = T extends CanonicalEventType ? EventData<T> : CustomEventData;

/** Where an event sits in the step tree, when the caller knows better than the context. */
export interface EmitOptions {
  /** The step this event belongs to. */
  spanId?: string;
  /** The enclosing step. Default: the innermost step open in this async context. */
  parentSpanId?: string;
}

const checkedTypes = new Set<string>();

function reject(frame: Frame, eventType: string, data: unknown, message: string): void {
  // Telemetry must not crash the agent: a bad emission is refused and counted, never thrown.
  frame.bus.reportRejected(new TypeError(message), {
    eventId: '',
    runId: frame.run.runId,
    seq: 0,
    eventType,
    timestamp: now(),
    spanId: undefined,
    parentSpanId: frame.spanId,
    data: data as object,
  });
}

function emitInRun(eventType: string, data: object, options: EmitOptions | undefined): void {
  const frame = als.getStore();
  if (frame === undefined) return;
  if (!checkedTypes.has(eventType)) {
    if (typeof eventType !== 'string' || !EVENT_TYPE_PATTERN.test(eventType)) {
      const shown = typeof eventType === 'string' ? JSON.stringify(eventType.slice(0, 80)) : `a ${typeof eventType}`;
      return reject(frame, String(typeof eventType === 'string' ? eventType : typeof eventType), data, `emit: eventType ${shown} is not a dotted lowercase name like "myapp.cache.miss"`);
    }
    if (checkedTypes.size < 10_000) checkedTypes.add(eventType);
  }
  const shape = dataShape(data);
  if (shape !== 'object') return reject(frame, eventType, data, `emit: data of ${eventType} must be a plain object, got ${shape}`);
  let spanId: string | undefined;
  let parentSpanId: string | undefined;
  try {
    spanId = options?.spanId;
    parentSpanId = options?.parentSpanId ?? frame.spanId;
  } catch (error) {
    return reject(frame, eventType, data, `emit: options of ${eventType} could not be read: ${errorText(error)}`);
  }
  record(frame, eventType, data, spanId, parentSpanId);
}

/** 'object' for an object payload, else what it is; never throws (a revoked Proxy is an object the bus will describe). */
function dataShape(data: unknown): string {
  if (data === null) return 'null';
  if (typeof data !== 'object') return typeof data;
  try {
    return Array.isArray(data) ? 'an array' : 'object';
  } catch {
    // A revoked Proxy: the bus writes it as a placeholder event, in sequence.
    return 'object';
  }
}

// Span ids only need to be unique, not secret: a random 32-bit prefix (new
// every 2^32 ids) and a counter, spelled with a byte-to-hex table. Several
// times cheaper than random bytes per id.
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let idPrefix = '';
let idCounter = 0;

function freshPrefix(): string {
  const bytes = randomFillSync(new Uint8Array(4));
  return `${HEX[bytes[0] as number]}${HEX[bytes[1] as number]}${HEX[bytes[2] as number]}${HEX[bytes[3] as number]}`;
}

/** A fresh 16-hex-character span id, unique within the process. */
export function newSpanId(): string {
  if (idCounter === 0) idPrefix = freshPrefix();
  const n = idCounter;
  idCounter = (idCounter + 1) >>> 0;
  return `${idPrefix}${HEX[n >>> 24] as string}${HEX[(n >>> 16) & 255] as string}${HEX[(n >>> 8) & 255] as string}${HEX[n & 255] as string}`;
}

/** Event types that open a step. */
export type StepStartType =
  | 'agent.invocation.started'
  | 'agent.model.started'
  | 'agent.tool.started'
  | 'multiagent.fanout.started';

/** The closing event type of each opening type. */
export interface StepEndTypes {
  'agent.invocation.started': 'agent.terminate';
  'agent.model.started': 'agent.model.completed';
  'agent.tool.started': 'agent.tool.completed';
  'multiagent.fanout.started': 'multiagent.fanout.completed';
}

/** One open step: a tool call, a model call, an agent invocation, a fan-out. */
export interface Step<S extends StepStartType = StepStartType> {
  /** The step's span id; undefined when not recording. */
  readonly spanId: string | undefined;
  /** The enclosing step's span id. */
  readonly parentSpanId: string | undefined;
  /** False for the shared no-op step returned outside a run. */
  readonly recording: boolean;
  /** Whether content (tool arguments) may go into events of this run. */
  readonly captureContent: boolean;
  /**
   * Runs `fn` as this step's body: events emitted inside get this step as
   * their parent, and bus listeners that wrap steps (the OpenTelemetry
   * bridge) run it in their context.
   */
  run<R>(fn: () => R): R;
  /** Emits an event that belongs to this step (e.g. `agent.tokens.used` of a model call). */
  emit<T extends string>(eventType: T, data: DataFor<T>): void;
  /** Emits the closing event. Only the first call counts: a step closes exactly once. */
  end(eventType: StepEndTypes[S], data: EventData<StepEndTypes[S]>): void;
  /** True once `end` was called. */
  readonly ended: boolean;
  /** Epoch milliseconds of the start event (0 when not recording). */
  readonly startTime: number;
}

const NOOP_STEP: Step<never> = Object.freeze({
  spanId: undefined,
  parentSpanId: undefined,
  recording: false,
  captureContent: false,
  ended: false,
  startTime: 0,
  run: <R>(fn: () => R): R => fn(),
  emit: () => {},
  end: () => {},
});

class RecordingStep<S extends StepStartType> implements Step<S> {
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly recording = true;
  readonly #inner: Frame;
  readonly #start: StreamEvent;
  #ended = false;

  constructor(frame: Frame, eventType: S, data: EventData<S>, spanId: string, parentSpanId: string | undefined) {
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.#inner = { run: frame.run, spanId, bus: frame.bus };
    this.#start = record(frame, eventType, data, spanId, parentSpanId);
  }

  get captureContent(): boolean {
    return this.#inner.run.captureContent;
  }

  get ended(): boolean {
    return this.#ended;
  }

  run<R>(fn: () => R): R {
    const bus = this.#inner.bus;
    if (!bus.wrapsSteps) return als.run(this.#inner, fn);
    return als.run(this.#inner, () => bus.runStep(this.#start, fn));
  }

  emit<T extends string>(eventType: T, data: DataFor<T>): void {
    record(this.#inner, eventType, data, this.spanId, this.parentSpanId);
  }

  get startTime(): number {
    return this.#start.timestamp;
  }

  end(eventType: StepEndTypes[S], data: EventData<StepEndTypes[S]>): void {
    this.endAt(now(), eventType, data);
  }

  /** @internal `end` with the closing timestamp chosen by the caller (so a duration can match it exactly). */
  endAt(timestamp: number, eventType: StepEndTypes[S], data: EventData<StepEndTypes[S]>): void {
    if (this.#ended) return;
    this.#ended = true;
    record(this.#inner, eventType, data, this.spanId, this.parentSpanId, timestamp);
  }
}

function startStepInRun<S extends StepStartType>(eventType: S, data: EventData<S>, options: EmitOptions | undefined): Step<S> {
  const frame = als.getStore();
  if (frame === undefined) return NOOP_STEP;
  return new RecordingStep(frame, eventType, data, options?.spanId ?? newSpanId(), options?.parentSpanId ?? frame.spanId);
}

/** True for a promise-like value; a value whose `then` cannot be read is treated as a plain result. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}

/** Options of {@link traceTool}. */
export interface TraceToolOptions {
  /** The model's id for this call; a fresh id when omitted. */
  toolCallId?: string;
}

function traceToolInRun<R>(name: string, args: unknown, fn: () => R, options: TraceToolOptions | undefined): R {
  const frame = als.getStore();
  if (frame === undefined) return fn();
  const toolCallId = options?.toolCallId ?? newSpanId();
  const step = new RecordingStep(frame, 'agent.tool.started', {
    toolName: name,
    toolCallId,
    argKeys: argKeys(args),
    args: frame.run.captureContent ? args : undefined,
  }, newSpanId(), frame.spanId);
  // The duration comes from the events' own timestamps: one clock read per event.
  // Telemetry never changes what the tool returns or throws: nothing here may throw.
  const finish = (success: boolean, outcome: unknown) => {
    try {
      const at = now();
      step.endAt(at, 'agent.tool.completed', {
        toolName: name,
        toolCallId,
        success,
        durationMs: at - step.startTime,
        outputPreview: success ? preview(outcome) : undefined,
        error: success ? undefined : errorText(outcome),
      });
    } catch {
      // preview, errorText and publish never throw; this guards the guarantee itself.
    }
  };
  let result: R;
  try {
    result = step.run(fn);
  } catch (error) {
    finish(false, error);
    throw error;
  }
  if (!isThenable(result)) {
    finish(true, result);
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      finish(true, value);
      return value;
    },
    (error: unknown) => {
      finish(false, error);
      throw error;
    },
  ) as R;
}

/**
 * The three front doors, built in a closure that holds the gate in a
 * `const`: the JIT can then treat the gate as a constant and, while no run
 * was ever opened, fold each guard to nothing (a module-level import would
 * be re-read at every call). Everything past the guard lives in the
 * `*InRun` functions.
 */
function frontDoors(g: Gate) {
  const gate = g;
  return {
    emit<T extends string>(eventType: T, data: DataFor<T>, options?: EmitOptions): void {
      if (gate.open) emitInRun(eventType, data, options);
    },
    startStep<S extends StepStartType>(eventType: S, data: EventData<S>, options?: EmitOptions): Step<S> {
      return gate.open ? startStepInRun(eventType, data, options) : NOOP_STEP;
    },
    traceTool<R>(name: string, args: unknown, fn: () => R, options?: TraceToolOptions): R {
      return gate.open ? traceToolInRun(name, args, fn, options) : fn();
    },
  };
}

const doors = frontDoors(processGate);

/**
 * Emits one event into the current run. A point event: unless told
 * otherwise, its `parentSpanId` is the innermost open step. Outside a run it
 * does nothing and allocates nothing.
 *
 * A malformed `eventType` or a non-object `data` is not published; it is
 * counted in the bus's `stats().rejected` and reported to its `onError`.
 */
export const emit: <T extends string>(eventType: T, data: DataFor<T>, options?: EmitOptions) => void = doors.emit;

/**
 * Opens a step by emitting its start event with a fresh span id. Outside a
 * run it returns a shared no-op step (nothing allocated). Close it with
 * `step.end(...)` exactly once, on success, error and abort alike.
 */
export const startStep: <S extends StepStartType>(eventType: S, data: EventData<S>, options?: EmitOptions) => Step<S> = doors.startStep;

/**
 * Runs `fn` as a tool call: emits `agent.tool.started` and
 * `agent.tool.completed` (one span id, `durationMs`, success or error) and
 * returns or rethrows what `fn` does. Works for sync and async `fn`.
 * Outside a run it just calls `fn`.
 */
export const traceTool: <R>(name: string, args: unknown, fn: () => R, options?: TraceToolOptions) => R = doors.traceTool;

/** Token counts of one model call. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  reasoningOutputTokens?: number;
}

/** What {@link traceModel} needs to know about a model call before it starts. */
export interface ModelCallInfo {
  model: string;
  provider: string;
  messageCount: number;
  toolCount: number;
}

/** What {@link traceModel} reads from a model call's result. */
export interface ModelCallOutcome {
  stopReason: string;
  toolCallCount: number;
  content: string;
  usage?: TokenUsage | undefined;
}

/**
 * Runs one model call: emits `agent.model.started`, then (if the result has
 * usage) `agent.tokens.used`, then `agent.model.completed`. On failure the
 * completed event carries the error, which is rethrown.
 */
export async function traceModel<R extends ModelCallOutcome>(info: ModelCallInfo, fn: () => Promise<R>): Promise<R> {
  const step = startStep('agent.model.started', info);
  if (!step.recording) return fn();
  let result: R;
  try {
    result = await step.run(fn);
  } catch (error) {
    step.end('agent.model.completed', { stopReason: 'error', toolCallCount: 0, contentPreview: '', error: errorText(error) });
    throw error;
  }
  // Reading the result is telemetry's business: a hostile result is still returned as is.
  try {
    if (result.usage !== undefined) recordTokens(step, info, result.usage);
    step.end('agent.model.completed', {
      stopReason: String(result.stopReason),
      toolCallCount: result.toolCallCount,
      contentPreview: preview(result.content),
    });
  } catch (error) {
    step.end('agent.model.completed', { stopReason: 'unknown', toolCallCount: 0, contentPreview: '', error: `unreadable model result: ${errorText(error)}` });
  }
  return result;
}

/** Emits `agent.tokens.used` on a model-call step (so it carries that call's span id). */
export function recordTokens(step: Step, info: { model: string; provider: string }, usage: TokenUsage): void {
  if (!step.recording) return;
  step.emit('agent.tokens.used', {
    model: info.model,
    provider: info.provider,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    totalTokens: usage.inputTokens + usage.outputTokens,
    cacheReadInputTokens: usage.cacheReadInputTokens,
    reasoningOutputTokens: usage.reasoningOutputTokens,
  });
}

/**
 * Runs `tasks` (typically child agents) concurrently as one fan-out step:
 * each task's events get the fan-out as their parent. Resolves with every
 * task's settled result; never rejects because a task failed.
 */
export async function traceFanout<T>(
  mergeStrategy: string,
  tasks: ReadonlyArray<() => Promise<T>>,
): Promise<PromiseSettledResult<T>[]> {
  const step = startStep('multiagent.fanout.started', { agentCount: tasks.length, mergeStrategy });
  const started = performance.now();
  const results = await step.run(() => Promise.allSettled(tasks.map((task) => task())));
  const failed = results.filter((r) => r.status === 'rejected').length;
  step.end('multiagent.fanout.completed', {
    succeeded: results.length - failed,
    failed,
    durationMs: performance.now() - started,
  });
  return results;
}

export { now };
