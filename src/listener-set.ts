/**
 * A bus's listeners, called as one, as the OpenTelemetry SDK's
 * `MultiSpanProcessor` calls its processors: every `onEvent` in the order
 * the listeners were added, every `onStreamEnd`, and every `wrapStep`
 * composed around a step's body (the first added outermost). What a listener
 * throws is caught and counted, never thrown into the emitter.
 *
 * Adding or removing a listener replaces the arrays, so that `publish`
 * walks a snapshot and allocates nothing.
 */
import type { BusErrors } from './bus-errors.js';
import type { StreamEvent } from './events.js';
import { ListenerEntry, type BusListener, type StreamEndReason } from './listeners.js';
import { runWrapped, type NamedStepWrapper } from './step-wrapping.js';

/** @internal The listeners of one bus. */
export class ListenerSet {
  readonly #errors: BusErrors;
  #entries: readonly ListenerEntry[] = [];
  #wrappers: readonly NamedStepWrapper[] = [];
  #added = 0;

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

  /** Calls every `onEvent` with `event`, inside `publish`. */
  onEvent(event: StreamEvent): void {
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

  /** Tells every `onStreamEnd` that a run's stream ended without an event. */
  onStreamEnd(runId: string, reason: StreamEndReason): void {
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
