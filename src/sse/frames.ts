/**
 * Server-Sent Events frames for stream events, in the agentbus framing and
 * in the Locus-compatible one.
 *
 * agentbus: `id: <seq>`, `event: <eventType>`, `data: <StreamEvent JSON>`,
 * and `event: end` when the stream closes.
 *
 * Locus: the envelope of Locus's `StreamEvent.to_dict()` (`event_id`,
 * `run_id`, `event_type`, `timestamp`, `data`; the timestamp is an ISO 8601
 * string as Python's `datetime.isoformat()` writes it for UTC,
 * `2025-01-01T12:00:00.123456+00:00`), `event: <event_type>`, and
 * `event: done` at the end. The `id:` line is kept: Locus consumers ignore
 * it and browsers use it to resume.
 */
import type { EndReason } from '../subscription.js';
import type { StreamEvent } from '../events.js';
import { boundedEventJson, DEFAULT_MAX_EVENT_SIZE } from './json.js';

/** Wire framing of a stream: agentbus's own, or Locus's snake_case envelope. */
export type SseFormat = 'agentbus' | 'locus';

/** The event name that closes a stream in each framing. */
export const END_EVENT: Readonly<Record<SseFormat, string>> = { agentbus: 'end', locus: 'done' };

/** The comment line written when a stream has been idle for a heartbeat interval. */
export const HEARTBEAT_FRAME = ': ping\n\n';

const LINE_BREAK = /[\r\n]/;
const LINE_BREAKS = /[\r\n]/g;

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/**
 * Epoch milliseconds (fractional) as Python's `datetime.isoformat()` writes a
 * UTC-aware datetime: microseconds always present, offset `+00:00`.
 */
export function pythonIsoTimestamp(epochMs: number): string {
  let whole = Math.floor(epochMs);
  let micros = Math.round((epochMs - whole) * 1000);
  if (micros === 1000) {
    whole += 1;
    micros = 0;
  }
  const iso = new Date(whole).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 19)}.${pad((whole % 1000 + 1000) % 1000, 3)}${pad(micros, 3)}+00:00`;
}

/**
 * Encodes events as SSE frames. One encoder serves every connection of a
 * handler: an event fanned out to a thousand subscribers is serialized once
 * (cached per event object; the bus never changes an event after publishing).
 */
export class FrameEncoder {
  readonly format: SseFormat;
  readonly #maxEventSize: number;
  readonly #cache = new WeakMap<StreamEvent, string>();

  constructor(format: SseFormat, maxEventSize = DEFAULT_MAX_EVENT_SIZE) {
    this.format = format;
    this.#maxEventSize = maxEventSize;
  }

  /**
   * The frame of one event. With `withId`, an `id: <seq>` line comes first,
   * except for events with seq 0 (`stream.dropped`): they are not part of
   * the run's sequence, so the client's last id stays on the last real event
   * and a reconnect refills the gap from history.
   */
  event(event: StreamEvent, withId: boolean): string {
    let body = this.#cache.get(event);
    if (body === undefined) {
      body = this.#body(event);
      if (event.seq > 0) this.#cache.set(event, body);
    }
    return withId && event.seq > 0 ? `id: ${event.seq}\n${body}` : body;
  }

  /** The closing frame: `event: end` (agentbus) or `event: done` (Locus), with the reason. */
  end(reason: EndReason, runId: string | undefined): string {
    const data = this.format === 'locus' ? { run_id: runId ?? null, reason } : { runId: runId ?? null, reason };
    return `event: ${END_EVENT[this.format]}\ndata: ${JSON.stringify(data)}\n\n`;
  }

  #body(event: StreamEvent): string {
    const json =
      this.format === 'locus'
        ? boundedEventJson(
            {
              event_id: event.eventId,
              run_id: event.runId,
              event_type: event.eventType,
              timestamp: pythonIsoTimestamp(event.timestamp),
              data: event.data,
            },
            'data',
            this.#maxEventSize,
          )
        : boundedEventJson(event as unknown as Record<string, unknown> & { data: object }, 'data', this.#maxEventSize);
    // JSON escapes CR/LF, so data is one line; an event type published
    // straight to the bus is not checked, so a line break in it is replaced.
    const type = LINE_BREAK.test(event.eventType) ? event.eventType.replace(LINE_BREAKS, '_') : event.eventType;
    return `event: ${type}\ndata: ${json}\n\n`;
  }
}
