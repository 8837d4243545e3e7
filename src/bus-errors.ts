/**
 * Where a bus's errors go. None is thrown into the emitter (telemetry must
 * not crash the agent): each is counted for `stats()`, and told to the
 * bus's `onError` when it has one. A refused event with no `onError` to tell
 * is warned about instead, once per distinct problem; a step wrapper that
 * broke its contract is warned about in any case, naming its listener.
 */
import type { StreamEvent } from './events.js';
import type { StepWrapperFaultReport } from './step-wrapping.js';
import { warnOnce } from './warnings.js';

/** @internal A bus's error counters and its `onError`. */
export class BusErrors {
  readonly #onError: ((error: unknown, event: StreamEvent) => void) | undefined;
  #rejected = 0;
  #listenerErrors = 0;

  constructor(onError: ((error: unknown, event: StreamEvent) => void) | undefined) {
    this.#onError = onError;
  }

  /** Events refused. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Errors of listeners and step wrappers. */
  get listenerErrors(): number {
    return this.#listenerErrors;
  }

  /**
   * An event refused. With no `onError` to tell, the developer is told once
   * per distinct problem (`key`, by default the message) through a process warning.
   */
  reject(error: unknown, event: StreamEvent, key?: string): void {
    this.#rejected++;
    if (this.#onError === undefined) {
      const message = warningText(error);
      warnOnce(key ?? message, message);
      return;
    }
    this.#report(error, event);
  }

  /** A listener's handler threw while handling `event`. */
  listenerFailed(error: unknown, event: StreamEvent): void {
    this.#listenerErrors++;
    this.#report(error, event);
  }

  /** A step wrapper's fault (see `step-wrapping.ts`); one function per bus, handed to every step as it is. */
  readonly wrapperFault: StepWrapperFaultReport = (start, error, misuse) => {
    this.#listenerErrors++;
    if (misuse) warnOnce(warningText(error), warningText(error), 'AGENTBUS_LISTENER_MISUSE');
    this.#report(error, start);
  };

  #report(error: unknown, event: StreamEvent): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error, event);
    } catch {
      // onError must not throw; if it does, the emitter is still protected.
    }
  }
}

/** An error's message for a warning; never throws (the error may come from a hostile getter). */
function warningText(error: unknown): string {
  try {
    const text = error instanceof Error ? error.message : String(error);
    return text.length > 400 ? `${text.slice(0, 399)}…` : text;
  } catch {
    return 'an event was refused (its error could not be read)';
  }
}
