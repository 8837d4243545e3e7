/**
 * A bus's listeners, called as one, as the OpenTelemetry SDK's
 * `MultiSpanProcessor` calls its processors: every `onEvent` in the order
 * the listeners were added, every `onStreamEnd`, and every `wrapStep`
 * composed around a step's body (the first added outermost). What a listener
 * throws is caught and counted, never thrown into the emitter.
 *
 * Adding or removing a listener replaces the arrays, so that `publish`
 * walks a snapshot and allocates nothing.
 *
 * Every listener sees the events in the order they were published. A
 * listener may publish (or close a stream) while it is being called; what it
 * publishes then is queued and handed to the listeners once the event at
 * hand has reached all of them. diagnostics_channel nests such a publish
 * instead, which is what this did: the listeners after the publishing one
 * got event N+1 before N, and the Redis backplane then refused N as older
 * than what it had written, for good.
 */
import type { BusErrors } from './bus-errors.js';
import type { StreamEvent } from './events.js';
import { ListenerEntry, type BusListener, type StreamEndReason } from './listeners.js';
import { runWrapped, type NamedStepWrapper } from './step-wrapping.js';

/** A stream's end told while the listeners were being called: queued as an event is. */
class StreamEnd {
  constructor(
    readonly runId: string,
    readonly reason: StreamEndReason,
  ) {}
}

/**
 * How many events and stream ends the listeners may publish while handling
 * one published outside them. A listener that publishes for every event it
 * sees, its own included, never stops: past this, what it publishes is
 * refused (the bus says so), so the loop ends and nothing it queued is lost.
 */
export const MAX_QUEUED_BY_LISTENERS = 10_000;

/** @internal The listeners of one bus. */
export class ListenerSet {
  readonly #errors: BusErrors;
  #entries: readonly ListenerEntry[] = [];
  #wrappers: readonly NamedStepWrapper[] = [];
  #added = 0;
  // True while listeners are being called; what arrives meanwhile waits in #queued.
  #delivering = false;
  readonly #queued: (StreamEvent | StreamEnd)[] = [];

  constructor(errors: BusErrors) {
    this.#errors = errors;
  }

  /**
   * Adds a listener; returns a function that removes it (idempotent).
   * @throws {TypeError} naming the handler that is missing or not a function.
   */
  add(listener: BusListener): () => void {
    const entry = new ListenerEntry(listener, ++this.#added);
    this.#set([...this.#entries, entry]);
    return () => {
      if (this.#entries.includes(entry)) this.#set(this.#entries.filter((e) => e !== entry));
    };
  }

  /** Detaches every listener. */
  clear(): void {
    this.#set([]);
  }

  #set(entries: readonly ListenerEntry[]): void {
    this.#entries = entries;
    this.#wrappers = entries.flatMap((e) => (e.wrapper === undefined ? [] : [e.wrapper]));
  }

  /** True when some listener wraps step bodies. */
  get wrapsSteps(): boolean {
    return this.#wrappers.length !== 0;
  }

  /** True when the listeners have published, while being called, as much as one event may cause (see {@link MAX_QUEUED_BY_LISTENERS}). */
  get saturated(): boolean {
    return this.#queued.length >= MAX_QUEUED_BY_LISTENERS;
  }

  /** Calls every `onEvent` with `event`, inside `publish`; after what is being delivered, when called from a listener. */
  onEvent(event: StreamEvent): void {
    if (this.#delivering) {
      this.#queued.push(event);
      return;
    }
    this.#delivering = true;
    try {
      this.#deliver(event);
      // The queue is touched only when a listener published: resetting an
      // array's length on every publish cost ~35 ns per event (bench/publish).
      if (this.#queued.length !== 0) this.#drain();
    } finally {
      this.#delivering = false;
    }
  }

  /**
   * Tells every `onStreamEnd` that a run's stream ended without an event;
   * after what is being delivered, when called from a listener. (Each new run
   * at the retention limit ends one: kept apart from `onEvent`, whose path
   * one shared with it made polymorphic and twice as slow there.)
   */
  onStreamEnd(runId: string, reason: StreamEndReason): void {
    const end = new StreamEnd(runId, reason);
    if (this.#delivering) {
      this.#queued.push(end);
      return;
    }
    this.#delivering = true;
    try {
      this.#deliverEnd(end);
      if (this.#queued.length !== 0) this.#drain();
    } finally {
      this.#delivering = false;
    }
  }

  // What the listeners published while being called, in order; the queue may grow while it is walked.
  #drain(): void {
    const queued = this.#queued;
    try {
      for (let i = 0; i < queued.length; i++) {
        const item = queued[i] as StreamEvent | StreamEnd;
        if (item instanceof StreamEnd) this.#deliverEnd(item);
        else this.#deliver(item);
      }
    } finally {
      queued.length = 0;
    }
  }

  #deliver(event: StreamEvent): void {
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as ListenerEntry;
      try {
        entry.onEvent.call(entry.self, event);
      } catch (error) {
        this.#errors.listenerFailed(error, event);
      }
    }
  }

  #deliverEnd({ runId, reason }: StreamEnd): void {
    for (const entry of this.#entries) {
      if (entry.onStreamEnd === undefined) continue;
      try {
        entry.onStreamEnd.call(entry.self, runId, reason);
      } catch (error) {
        this.#errors.listenerFailed(error, { eventId: '', runId, seq: 0, eventType: 'stream.closed', timestamp: Date.now(), data: { reason } });
      }
    }
  }

  /**
   * Runs `body` inside every listener's `wrapStep`, or directly when there
   * is none. The body runs exactly once and this returns or throws what it
   * did, whatever the wrappers do (see `BusListener.wrapStep`).
   */
  runStep<R>(start: StreamEvent, body: () => R): R {
    return runWrapped(this.#wrappers, start, body, this.#errors.wrapperFault);
  }
}
