/**
 * Steps: a unit of an agent's work (an agent invocation, a model call, a
 * tool call, a fan-out) as a pair of events with one span id.
 *
 * A step is what `Span` is to OpenTelemetry: opened by `startStep`, closed
 * once by `end`, and outside a run a shared no-op (`NonRecordingSpan`'s role)
 * so that instrumented code allocates nothing when idle.
 */
import { runStep, wrapsSteps } from './bus-protocol.js';
import { now } from './clock.js';
import { als, record, type Frame, type RunScope } from './context.js';
import type { CustomEventData, CanonicalEventType, EventData, StreamEvent } from './events.js';
import { newSpanId } from './ids.js';
import type { Prices } from './prices.js';
import { errorText } from './payload-text.js';
import { refuse } from './refusal.js';
import { warnOnce } from './warnings.js';

/** Payload accepted for event type `T`: the catalogue's for canonical types, any object otherwise. */
export type DataFor<T extends string> = T extends CanonicalEventType ? EventData<T> : CustomEventData;

/** Where an event sits in the step tree, when the caller knows better than the context. */
export interface EmitOptions {
  /** The step this event belongs to. */
  spanId?: string;
  /** The enclosing step. Default: the innermost step open in this async context. */
  parentSpanId?: string;
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

const END_TYPE: StepEndTypes = {
  'agent.invocation.started': 'agent.terminate',
  'agent.model.started': 'agent.model.completed',
  'agent.tool.started': 'agent.tool.completed',
  'multiagent.fanout.started': 'multiagent.fanout.completed',
};

/**
 * The payload of a step's closing event. `durationMs`, where the closing
 * event has one, may be left out: the step measures it from its own start
 * event on the event clock, so every duration in a run is measured one way.
 * Give it only when the work ran somewhere the step did not see (a
 * framework's own timing of a tool that ran before the step was opened).
 */
export type StepEndData<S extends StepStartType> = S extends StepStartType
  ? Omit<EventData<StepEndTypes[S]>, 'durationMs'> & { durationMs?: number }
  : never;

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
  /**
   * Emits the closing event, whose type follows from the opening one
   * ({@link StepEndTypes}). A step closes exactly once: a second call is
   * ignored and reported through the process warning channel, as the
   * OpenTelemetry SDK reports a second `span.end()`.
   */
  end(data: StepEndData<S>): void;
  /** True once `end` was called. */
  readonly ended: boolean;
  /** Epoch milliseconds of the start event (0 when not recording). */
  readonly startTime: number;
}

/** @internal The step every helper returns outside a run: records nothing, allocates nothing. */
export const NOOP_STEP: Step<never> = Object.freeze({
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

/** @internal A step of a run: its start event is published on construction. */
export class RecordingStep<S extends StepStartType> implements Step<S> {
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly recording = true;
  readonly #inner: Frame;
  readonly #start: StreamEvent;
  // Kept apart from the published start event, whose type the bus may replace
  // (a payload it cannot write becomes a `stream.placeholder`).
  readonly #startType: S;
  readonly #endType: StepEndTypes[S];
  #ended = false;

  /** `eventType` must be one of {@link StepStartType} (checked by the callers). */
  constructor(frame: Frame, eventType: S, data: EventData<S>, spanId: string, parentSpanId: string | undefined) {
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.#inner = { run: frame.run, spanId, bus: frame.bus };
    this.#startType = eventType;
    this.#endType = END_TYPE[eventType];
    this.#start = record(frame, eventType, data, spanId, parentSpanId);
  }

  get captureContent(): boolean {
    return this.#inner.run.captureContent;
  }

  /** @internal The run this step belongs to (its content policy). */
  get runScope(): RunScope {
    return this.#inner.run;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** @internal The run's price table (`RunOptions.prices`), for `recordTokens`. */
  get prices(): Prices | undefined {
    return this.#inner.run.prices;
  }

  get startTime(): number {
    return this.#start.timestamp;
  }

  run<R>(fn: () => R): R {
    const bus = this.#inner.bus;
    if (!bus[wrapsSteps]) return als.run(this.#inner, fn);
    return als.run(this.#inner, () => bus[runStep](this.#start, fn));
  }

  emit<T extends string>(eventType: T, data: DataFor<T>): void {
    record(this.#inner, eventType, data, this.spanId, this.parentSpanId);
  }

  end(data: StepEndData<S>): void {
    const given: unknown = data;
    if (typeof given !== 'object' || given === null) {
      // Most likely the 0.1 form, `end(eventType, data)`, from code the compiler did not check.
      refuse(this.#inner, this.#endType, given, `step.end: data of the ${this.#startType} step must be the ${this.#endType} payload object, got ${typeof given === 'string' ? `the string ${JSON.stringify(given.slice(0, 80))} (step.end(eventType, data) became step.end(data) in 0.2)` : given === null ? 'null' : typeof given}; the step is still open`);
      return;
    }
    const at = now();
    const endType = this.#endType;
    // Only the closing types with a duration get one measured here.
    let closing = data;
    if ((endType === 'agent.tool.completed' || endType === 'multiagent.fanout.completed') && readDuration(data) === undefined) {
      try {
        closing = { ...data, durationMs: at - this.startTime };
      } catch {
        // A payload that cannot be copied (a hostile Proxy) goes as it is: the bus describes it.
      }
    }
    this.endAt(at, closing);
  }

  /** @internal `end` with the closing timestamp chosen by the caller (so a duration can match it exactly). */
  endAt(timestamp: number, data: StepEndData<S>): void {
    if (this.#ended) {
      warnOnce(
        `step-ended-twice:${this.#startType}`,
        `step.end was called twice on the ${this.#startType} step ${this.spanId} of run ${this.#inner.run.runId}; the second call is ignored (a step closes exactly once)`,
        'AGENTBUS_STEP_ENDED_TWICE',
      );
      return;
    }
    this.#ended = true;
    record(this.#inner, this.#endType, data, this.spanId, this.parentSpanId, timestamp);
  }
}

/** @internal The run of a recording step, or undefined for the no-op step (and any other `Step`). */
export function runScopeOf(step: Step): RunScope | undefined {
  return step instanceof RecordingStep ? step.runScope : undefined;
}

/** `data.durationMs`, or undefined when absent or unreadable (a hostile payload is the bus's to describe). */
function readDuration(data: object): unknown {
  try {
    return (data as { durationMs?: unknown }).durationMs;
  } catch {
    return 0;
  }
}

/** @internal `startStep` past the idle gate. */
export function startStepInRun<S extends StepStartType>(eventType: S, data: EventData<S>, options: EmitOptions | undefined): Step<S> {
  const frame = als.getStore();
  if (frame === undefined) return NOOP_STEP;
  if (typeof eventType !== 'string' || !Object.hasOwn(END_TYPE, eventType)) {
    const shown = typeof eventType === 'string' ? JSON.stringify((eventType as string).slice(0, 80)) : `a ${typeof eventType}`;
    refuse(frame, typeof eventType === 'string' ? eventType : typeof eventType, data, `startStep: eventType ${shown} does not open a step; the opening types are ${Object.keys(END_TYPE).join(', ')} (emit() takes any other)`);
    return NOOP_STEP;
  }
  let spanId: string | undefined;
  let parentSpanId: string | undefined;
  try {
    spanId = options?.spanId;
    parentSpanId = options?.parentSpanId;
  } catch (error) {
    refuse(frame, eventType, data, `startStep: options of ${eventType} could not be read: ${errorText(error)}`);
    return NOOP_STEP;
  }
  return new RecordingStep(frame, eventType, data, spanId ?? newSpanId(), parentSpanId ?? frame.spanId);
}
