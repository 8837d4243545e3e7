/**
 * The bound on what one event carries (`EventBusOptions.maxEventBytes`),
 * applied once, at publish, so that every consumer (history, subscribers,
 * listeners, SSE, the bridge) sees the same plain, bounded payload and none
 * meets the hostile value it replaced.
 */
import type { StreamEvent } from './events.js';
import { writeJson } from './bounded-json.js';
import { plainJsonSize } from './plain-json.js';

/** @internal Makes payloads plain, bounded data, and counts what it had to change. */
export class PayloadLimit {
  readonly #maxBytes: number;
  #cut = 0;
  #placeholders = 0;

  constructor(maxEventBytes: number) {
    this.#maxBytes = maxEventBytes;
  }

  /** Payloads cut to the limit or with unreadable parts replaced by placeholders. */
  get cut(): number {
    return this.#cut;
  }

  /** Events replaced whole by a `stream.placeholder` (their payload was not an object at all). */
  get placeholders(): number {
    return this.#placeholders;
  }

  /**
   * Makes `event.data` plain, bounded data and returns its size. The common
   * case (a small plain object) is one walk and no copy; anything else is
   * rewritten once here.
   */
  apply(event: StreamEvent): number {
    const data: unknown = event.data;
    const size = plainJsonSize(data, this.#maxBytes);
    if (size >= 0 && typeof data === 'object' && data !== null && !Array.isArray(data)) return size;
    const { json, lossy } = writeJson(data, this.#maxBytes);
    const copy: unknown = JSON.parse(json);
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
      if (lossy) this.#cut++;
      event.data = copy;
      return json.length;
    }
    // Not an object at all (a revoked Proxy, a toJSON returning a string):
    // the event keeps its place in the sequence and says what it was.
    this.#placeholders++;
    const placeholder = {
      eventType: event.eventType,
      reason: `payload is not an object: ${json.length > 200 ? `${json.slice(0, 199)}…` : json}`,
    };
    event.eventType = 'stream.placeholder';
    event.data = placeholder;
    return 64 + placeholder.reason.length + placeholder.eventType.length;
  }
}
