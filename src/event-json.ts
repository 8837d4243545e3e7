/**
 * An event's JSON: the agentbus envelope of a published event, written once
 * for the whole process and shared by everything that sends it on (every SSE
 * handler's connections, the Redis backplane's entries) while it is recent
 * (see `RECENT`):
 *
 * ```
 * {"eventId":…,"runId":…,"seq":…,"eventType":…,"timestamp":…[,"spanId":…][,"parentSpanId":…],"data":…}
 * ```
 *
 * Exactly these fields, in this order, whatever else the event object
 * carries: what the SSE `data:` line has always held, and what
 * `parseStreamEvent` keeps of `JSON.stringify(event)` (zod drops unknown
 * keys), so a reader decodes the same event from either. Unlike
 * `JSON.stringify(event)`, it cannot throw on an extra property holding a
 * BigInt or a cycle, is not redirected by a `toJSON` on the event, and is
 * bounded: the bus keeps a plain payload it sized by estimate (escapes and
 * number widths are not counted), so such a payload can write several times
 * the bus's bound; here it is cut to the same bound for SSE and Redis alike.
 */
import type { StreamEvent } from './events.js';
import { boundedJson, DEFAULT_MAX_EVENT_BYTES, thrownMessage } from './bounded-json.js';
import { Ring } from './ring.js';

/** @internal One event written: its JSON, the type it was written as, and where its payload lies in the JSON. */
export interface WrittenEvent {
  /** The envelope JSON (see the module comment). Valid JSON, always. */
  readonly json: string;
  /**
   * The event type the JSON carries: the event's own, or
   * `'stream.placeholder'` when the event could not be written (or its type
   * is not a string), so that a frame's `event:` line names what its data holds.
   */
  readonly eventType: string;
  /** Where the payload's JSON starts in {@link WrittenEvent.json}; it ends just before the closing brace. */
  readonly dataStart: number;
}

/** The event type of an event that could not be written as it is. */
const PLACEHOLDER_TYPE = 'stream.placeholder';

// The readers of an event's JSON ask for it close together: every SSE
// handler's connections in the turn the event is published, the Redis
// backplane's writer at its next batch. So the JSON is kept for the last
// RECENT events written, not for as long as each event lives: kept per event
// (a WeakMap), every retained event held its JSON string too, and that
// memory, copied by every young-generation GC, made SSE delivery 20-30%
// slower at 10 and 100 connections (the handlers keep the UTF-8 bytes they
// write, per event, anyway). A reader further behind (the outbox after a
// Redis outage) writes it again: the same JSON, the payload being immutable.
// Bounded in characters too: 1024 events of the largest size would be 256 MiB.
/** @internal Events whose JSON is kept for readers still to come. */
export const RECENT = 1024;
/** @internal Characters of JSON kept at most, all those events together. */
export const RECENT_CHARS = 4 * 1024 * 1024;
const recent = new Map<object, WrittenEvent>();
const recentOrder = new Ring<object>(RECENT);
let recentChars = 0;

function keep(event: object, written: WrittenEvent): void {
  forget(recentOrder.push(event));
  recent.set(event, written);
  recentChars += written.json.length;
  while (recentChars > RECENT_CHARS && recentOrder.length > 1) forget(recentOrder.shift());
}

function forget(event: object | undefined): void {
  const written = event === undefined ? undefined : recent.get(event);
  if (written === undefined) return;
  recent.delete(event as object);
  recentChars -= written.json.length;
}

/**
 * @internal The JSON of `event`, written once per event in the process for
 * the default bound while the event is among the last {@link RECENT} written:
 * every caller (SSE handlers, the Redis backplane) gets the same
 * {@link WrittenEvent}, in whatever order they ask.
 * Never throws: an event that cannot be written becomes a
 * `stream.placeholder` whose data says why (with the same ids where they
 * can be read).
 *
 * Only the default bound is shared. A handler with its own `maxEventSize`
 * writes different bytes whenever that bound cuts, so sharing them would
 * need the bound in the key; such a handler gets a fresh write here and
 * keeps it in its own frame cache (one write per event and handler, as
 * before). Events with `seq` 0 (`stream.dropped`) are not kept either:
 * each is made for one subscriber, its own gap report, and nobody else asks.
 *
 * @param maxEventSize characters the payload's JSON may take (`boundedJson`'s budget).
 */
export function eventJson(event: StreamEvent, maxEventSize = DEFAULT_MAX_EVENT_BYTES): WrittenEvent {
  if (maxEventSize !== DEFAULT_MAX_EVENT_BYTES) return writeEvent(event, maxEventSize);
  let written = recent.get(event);
  if (written === undefined) {
    written = writeEvent(event, maxEventSize);
    // Read safely: a hostile object handed over directly may throw (and then is not kept).
    if ((safeRead(event, 'seq') as number) > 0) keep(event, written);
  }
  return written;
}

/** @internal The payload's JSON within a written event (a slice: V8 shares the characters, no copy). */
export function payloadJson(written: WrittenEvent): string {
  return written.json.slice(written.dataStart, -1);
}

/**
 * @internal A JSON string token for an envelope field: a short string as
 * `JSON.stringify` writes it, anything else bounded (an envelope published
 * straight to the bus is checked cheaply, not validated). Never throws.
 */
export function jsonString(value: unknown): string {
  return typeof value === 'string' && value.length <= 1024 ? JSON.stringify(value) : boundedJson(value, 1024);
}

/** @internal A JSON number token for an envelope field: a finite number as `JSON.stringify` writes it, anything else null. */
export function jsonNumber(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : 'null';
}

/**
 * @internal The data of a `stream.placeholder` that stands for an event
 * which could not be written: its type and why. Never throws.
 */
export function placeholderData(eventType: unknown, error: unknown): string {
  return `{"eventType":${jsonString(eventType)},"reason":${jsonString(`could not be written: ${thrownMessage(error)}`)}}`;
}

/** @internal Reads one field of an event that may be hostile (a getter, a Proxy): undefined when reading throws. */
export function safeRead(event: StreamEvent, key: keyof StreamEvent): unknown {
  try {
    return event[key];
  } catch {
    return undefined;
  }
}

function writeEvent(event: StreamEvent, maxEventSize: number): WrittenEvent {
  try {
    // The payload is the only costly part; boundedJson never throws (reading `data` itself may).
    const eventType = event.eventType;
    return envelope(event, typeof eventType === 'string' ? eventType : PLACEHOLDER_TYPE, eventType, boundedJson(event.data, maxEventSize));
  } catch (error) {
    const data = placeholderData(safeRead(event, 'eventType'), error);
    try {
      return envelope(event, PLACEHOLDER_TYPE, PLACEHOLDER_TYPE, data);
    } catch {
      // Not even the ids can be read (a Proxy event whose every trap throws).
      const head = `{"eventType":"${PLACEHOLDER_TYPE}","data":`;
      return { json: `${head}${data}}`, eventType: PLACEHOLDER_TYPE, dataStart: head.length };
    }
  }
}

/** The envelope around an already written payload, field by field. */
function envelope(event: StreamEvent, frameType: string, eventType: unknown, data: string): WrittenEvent {
  const { spanId, parentSpanId } = event;
  const span = spanId === undefined ? '' : `,"spanId":${jsonString(spanId)}`;
  const parent = parentSpanId === undefined ? '' : `,"parentSpanId":${jsonString(parentSpanId)}`;
  const head = `{"eventId":${jsonString(event.eventId)},"runId":${jsonString(event.runId)},"seq":${jsonNumber(event.seq)},"eventType":${jsonString(eventType)},"timestamp":${jsonNumber(event.timestamp)}${span}${parent},"data":`;
  return { json: `${head}${data}}`, eventType: frameType, dataStart: head.length };
}
