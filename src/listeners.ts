/**
 * Listeners: what hears every event of a bus, synchronously, inside
 * `publish` (exporters such as the OpenTelemetry bridge and the Redis
 * backplane). A listener is one object of named handlers, as
 * `TracingChannel.subscribe(handlers)` takes, checked and read once when it
 * is added; the bus then calls them from an entry of one shape.
 */
import type { StreamEvent } from './events.js';
import type { NamedStepWrapper, StepWrapper } from './step-wrapping.js';

/**
 * A listener: one object of named handlers, as `TracingChannel.subscribe`
 * takes. Its handlers are read once, by `EventBus.addListener`, and
 * called with the object as `this`, so an exporter class can implement this
 * interface and be added as it is.
 */
export interface BusListener {
  /**
   * Called synchronously inside `publish`, for every event of every run (an
   * exporter such as the OpenTelemetry bridge). Errors are caught and counted.
   */
  onEvent: (event: StreamEvent) => void;
  /**
   * Wraps the body of every step opened after the listener was added: it
   * must call `body` exactly once and return what it returns. A wrapper that
   * does not cannot change the step: the body still runs exactly once, the
   * step returns or throws what the body did, and the wrapper is reported
   * (counted as a listener error, told to `onError`, and, unless it merely
   * threw, warned about once with the listener's `name`).
   */
  wrapStep?: StepWrapper | undefined;
  /**
   * Told when a run's stream ends without an event: `closeStream`
   * (`'closed'`), retention (`'evicted'`) or `dropHistory` (`'dropped'`).
   * Exporters use it to finish what the run left open. Errors are caught
   * and counted like `onEvent`'s.
   */
  onStreamEnd?: ((runId: string, reason: StreamEndReason) => void) | undefined;
  /** Names the listener in warnings about it. Default: `listener #<n>`, the n-th added to the bus. */
  name?: string | undefined;
}

/** Why a run's stream ended without an event: closed, evicted by retention, or its history dropped on demand. */
export type StreamEndReason = 'closed' | 'evicted' | 'dropped';

/** @internal What the bus keeps of a listener: its handlers, read once, in one shape. */
export class ListenerEntry {
  readonly self: BusListener;
  readonly name: string;
  readonly onEvent: (event: StreamEvent) => void;
  readonly onStreamEnd: ((runId: string, reason: StreamEndReason) => void) | undefined;
  readonly wrapper: NamedStepWrapper | undefined;

  /**
   * @param ordinal - The listener's number on its bus (1 for the first added), for its default name.
   * @throws {TypeError} naming the handler that is missing or not a function.
   */
  constructor(listener: unknown, ordinal: number) {
    const owner = 'EventBus.addListener';
    if (typeof listener === 'function') {
      throw new TypeError(`${owner}: takes one object of handlers, { onEvent, wrapStep?, onStreamEnd?, name? }, got a function (pass { onEvent: yourFunction })`);
    }
    if (typeof listener !== 'object' || listener === null) {
      throw new TypeError(`${owner}: listener must be an object of handlers, { onEvent, wrapStep?, onStreamEnd?, name? }, got ${listener === null ? 'null' : typeof listener}`);
    }
    // Each handler is read once: a getter is not asked again at every event.
    const { onEvent, wrapStep, onStreamEnd, name } = listener as Partial<BusListener>;
    if (typeof onEvent !== 'function') throw new TypeError(`${owner}: onEvent must be a function, got ${typeOf(onEvent)}`);
    if (wrapStep !== undefined && typeof wrapStep !== 'function') throw new TypeError(`${owner}: wrapStep must be a function or undefined, got ${typeOf(wrapStep)}`);
    if (onStreamEnd !== undefined && typeof onStreamEnd !== 'function') throw new TypeError(`${owner}: onStreamEnd must be a function or undefined, got ${typeOf(onStreamEnd)}`);
    if (name !== undefined && typeof name !== 'string') throw new TypeError(`${owner}: name must be a string or undefined, got ${typeOf(name)}`);
    this.self = listener as BusListener;
    this.name = name ?? `listener #${ordinal}`;
    this.onEvent = onEvent;
    this.onStreamEnd = onStreamEnd;
    this.wrapper = wrapStep === undefined ? undefined : { wrapStep, self: listener, name: this.name };
  }
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
