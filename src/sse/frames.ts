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
import { DEFAULT_MAX_EVENT_BYTES } from '../bounded-json.js';
import { eventJson, jsonNumber, jsonString, payloadJson, placeholderData, safeRead, type WrittenEvent } from '../event-json.js';

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
 * One event's frame, encoded once: `id: <seq>` line and all, and the same
 * bytes without the `id:` line (a view, no copy).
 */
interface EncodedFrame {
  readonly withId: Uint8Array;
  readonly withoutId: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes events as SSE frames. One encoder serves every connection of a
 * handler: an event fanned out to a thousand subscribers is UTF-8 encoded
 * once per handler (cached per event object; the bus never changes an event
 * after publishing), and every connection writes the same bytes.
 *
 * The JSON inside is not written here: it is the event's process-wide JSON
 * (`event-json.ts`), written once per event however many handlers (and the
 * Redis backplane) send it while it is recent. The Locus framing puts its own envelope around
 * the same payload JSON (a slice of it, no second walk of the payload).
 *
 * Encoding never throws: the payload is written with `boundedJson` (one
 * pass, at most `maxEventSize` characters), and an event that still cannot
 * be written (a hostile object handed to the encoder directly) becomes a
 * `stream.placeholder` frame with the same id, whose data says why.
 */
export class FrameEncoder {
  readonly format: SseFormat;
  readonly #maxEventSize: number;
  readonly #cache = new WeakMap<StreamEvent, EncodedFrame>();

  constructor(format: SseFormat, maxEventSize = DEFAULT_MAX_EVENT_BYTES) {
    this.format = format;
    this.#maxEventSize = maxEventSize;
  }

  /**
   * The frame of one event, as UTF-8 bytes shared by every connection that
   * writes it: write them, never modify them. With `withId`, an `id: <seq>`
   * line comes first, except for events with seq 0 (`stream.dropped`): they
   * are not part of the run's sequence, so the client's last id stays on the
   * last real event and a reconnect refills the gap from history.
   */
  bytes(event: StreamEvent, withId: boolean): Uint8Array {
    let frame = this.#cache.get(event);
    if (frame === undefined) {
      const seq = safeRead(event, 'seq');
      frame = this.#encode(event, seq);
      // A seq-0 event is made for one subscriber (its own gap report): nobody else will ask.
      if ((seq as number) > 0) this.#cache.set(event, frame);
    }
    return withId ? frame.withId : frame.withoutId;
  }

  /** The frame of one event as text: what {@link FrameEncoder.bytes} holds. */
  event(event: StreamEvent, withId: boolean): string {
    return decoder.decode(this.bytes(event, withId));
  }

  /** The closing frame: `event: end` (agentbus) or `event: done` (Locus), with the reason. */
  end(reason: EndReason, runId: string | undefined): string {
    const data = this.format === 'locus' ? { run_id: runId ?? null, reason } : { runId: runId ?? null, reason };
    return `event: ${END_EVENT[this.format]}\ndata: ${JSON.stringify(data)}\n\n`;
  }

  #encode(event: StreamEvent, seq: unknown): EncodedFrame {
    const written = eventJson(event, this.#maxEventSize);
    const body = this.format === 'locus' ? locusFrame(event, written) : frame(written.eventType, written.json);
    if (!((seq as number) > 0)) {
      const bytes = encoder.encode(body);
      return { withId: bytes, withoutId: bytes };
    }
    const idLine = `id: ${jsonNumber(seq)}\n`;
    const withId = encoder.encode(idLine + body);
    // The id line is ASCII: as many bytes as characters.
    return { withId, withoutId: withId.subarray(idLine.length) };
  }
}

/**
 * The Locus frame of an event: Locus's envelope around the payload JSON the
 * agentbus envelope already holds. Sharing it is a string slice, and it
 * keeps both framings of an event showing the same payload (cut at the same
 * place, with the same placeholders); an event the agentbus envelope could
 * not be written for is a placeholder in both.
 */
function locusFrame(event: StreamEvent, written: WrittenEvent): string {
  try {
    return frame(written.eventType, locusJson(event, written.eventType, payloadJson(written)));
  } catch (error) {
    // Its own fields failed: a timestamp Date cannot represent, a throwing getter.
    const data = placeholderData(safeRead(event, 'eventType'), error);
    try {
      return frame('stream.placeholder', locusJson(event, 'stream.placeholder', data));
    } catch {
      return frame('stream.placeholder', `{"eventType":"stream.placeholder","data":${data}}`);
    }
  }
}

/** Locus's `StreamEvent.to_dict()` envelope around an already written payload. */
function locusJson(event: StreamEvent, eventType: string, data: string): string {
  return `{"event_id":${jsonString(event.eventId)},"run_id":${jsonString(event.runId)},"event_type":${jsonString(eventType)},"timestamp":${jsonString(pythonIsoTimestamp(event.timestamp))},"data":${data}}`;
}

/** An event block: `event:` and `data:` lines. */
function frame(eventType: string, json: string): string {
  // JSON escapes CR/LF, so data is one line; an event type published
  // straight to the bus is not checked, so a line break in it is replaced.
  const type = LINE_BREAK.test(eventType) ? eventType.replace(LINE_BREAKS, '_') : eventType;
  return `event: ${type}\ndata: ${json}\n\n`;
}
