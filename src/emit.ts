/**
 * The front doors: what agents and adapters call at each step (`emit`,
 * `startStep`, `traceTool`), and the refusal of a malformed emission.
 *
 * Every helper starts with the same guard, the idle gate (`gate.ts`): with no
 * run open anywhere it returns (or calls the wrapped function) before
 * touching AsyncLocalStorage or allocating. In a process that never opened a
 * run the guard folds away entirely.
 */
import { als, record } from './context.js';
import { EVENT_TYPE_PATTERN, type EventData } from './events.js';
import { errorText } from './payload-text.js';
import { refuse } from './refusal.js';
import { gate as processGate, type Gate } from './gate.js';
import { NOOP_STEP, startStepInRun, type DataFor, type EmitOptions, type Step, type StepStartType } from './step.js';
import { traceToolInRun, type ToolCallInfo } from './trace.js';

const checkedTypes = new Set<string>();

function emitInRun(eventType: string, data: object, options: EmitOptions | undefined): void {
  const frame = als.getStore();
  if (frame === undefined) return;
  if (!checkedTypes.has(eventType)) {
    if (typeof eventType !== 'string' || !EVENT_TYPE_PATTERN.test(eventType)) {
      const shown = typeof eventType === 'string' ? JSON.stringify(eventType.slice(0, 80)) : `a ${typeof eventType}`;
      return refuse(frame, String(typeof eventType === 'string' ? eventType : typeof eventType), data, `emit: eventType ${shown} is not a dotted lowercase name like "myapp.cache.miss"`);
    }
    if (isReserved(eventType)) {
      return refuse(frame, eventType, data, `emit: eventType ${JSON.stringify(eventType)} is reserved: run.* and stream.* events are written by the bus and runContext (readers end runs on them), never by emit`);
    }
    if (checkedTypes.size < 10_000) checkedTypes.add(eventType);
  }
  const shape = dataShape(data);
  if (shape !== 'object') return refuse(frame, eventType, data, `emit: data of ${eventType} must be a plain object, got ${shape}`);
  let spanId: string | undefined;
  let parentSpanId: string | undefined;
  try {
    spanId = options?.spanId;
    parentSpanId = options?.parentSpanId ?? frame.spanId;
  } catch (error) {
    return refuse(frame, eventType, data, `emit: options of ${eventType} could not be read: ${errorText(error)}`);
  }
  record(frame, eventType, data, spanId, parentSpanId);
}

/**
 * The bus's own namespaces: `run.started`/`run.completed` frame a run (the
 * OTel bridge ends the run's trace on `run.completed`, a console marks it
 * finished) and `stream.*` are synthetic, per reader. One emitted by hand
 * would end a run that goes on.
 */
function isReserved(eventType: string): boolean {
  return eventType.startsWith('run.') || eventType.startsWith('stream.');
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

/**
 * The front doors, built in a closure that holds the gate in a
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
    traceTool<R>(info: ToolCallInfo, fn: (step: Step<'agent.tool.started'>) => R): R {
      return gate.open ? traceToolInRun(info, fn) : fn(NOOP_STEP);
    },
  };
}

const doors = frontDoors(processGate);

/**
 * Emits one event into the current run. A point event: unless told
 * otherwise, its `parentSpanId` is the innermost open step. Outside a run it
 * does nothing and allocates nothing.
 *
 * A malformed `eventType`, one of the bus's own namespaces (`run.*`,
 * `stream.*`: `runContext` writes a run's start and end) or a non-object
 * `data` is not published; it is counted in the bus's `stats().rejected` and
 * reported to its `onError`.
 */
export const emit: <T extends string>(eventType: T, data: DataFor<T>, options?: EmitOptions) => void = doors.emit;

/**
 * Opens a step by emitting its start event with a fresh span id. Outside a
 * run it returns a shared no-op step (nothing allocated). Close it with
 * `step.end(data)` exactly once, on success, error and abort alike.
 */
export const startStep: <S extends StepStartType>(eventType: S, data: EventData<S>, options?: EmitOptions) => Step<S> = doors.startStep;

/**
 * Runs `fn` as a tool call: emits `agent.tool.started` and
 * `agent.tool.completed` (one span id, `durationMs`, success or error) and
 * returns or rethrows what `fn` does. Works for sync and async `fn`; `fn`
 * gets the open step. Outside a run it just calls `fn` (with the no-op step).
 *
 * @example
 * const sum = await traceTool({ name: 'add', args: { a: 2, b: 3 } }, async () => 2 + 3);
 */
export const traceTool: <R>(info: ToolCallInfo, fn: (step: Step<'agent.tool.started'>) => R) => R = doors.traceTool;
