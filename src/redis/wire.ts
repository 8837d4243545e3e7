/**
 * How runs are laid out in Redis: one stream per run, one index stream, and
 * entry ids that are sequence numbers, so that an SSE `Last-Event-ID` is a
 * stream position on every instance.
 *
 * ```
 * {prefix}:run:{runId}   entries, oldest first (MAXLEN ~ the history cap):
 *   `${seq}-1`  e    = the event's JSON, the very string an SSE `data:` line carries (`event-json.ts`)
 *   `${seq}-0`  gap  = JSON { count, fromSeq, toSeq }: events lost before `seq` (outbox overflow, Redis down)
 *   `${seq}-2`  end  = why the stream ended ('closed' | 'dropped'), after the last event `seq`
 * {prefix}:runs          the index, auto ids: run = runId, state = 'started' | 'ended', at = ms since epoch
 * ```
 *
 * A gap marker sorts just before the first event after the gap and an end
 * marker just after the last event, so a reader that has every event up to
 * `seq` starts reading right after `${seq}-1` and sees both.
 *
 * Everything read back is untrusted (any client can write to Redis): decoding
 * validates, and an entry that is not one of ours is reported, never thrown.
 */
import { parseStreamEvent, type StreamEvent } from '../events.js';
import { eventJson } from '../event-json.js';
import { droppedEvent } from '../subscription.js';

/** The key prefix when none is given. */
export const DEFAULT_PREFIX = 'agentbus';

/** The stream of one run's events. */
export function runKey(prefix: string, runId: string): string {
  return `${prefix}:run:${runId}`;
}

/** The index stream: runs as they start and end, for the all-runs view. */
export function indexKey(prefix: string): string {
  return `${prefix}:runs`;
}

/** The entry id of the event with sequence number `seq`. */
export function eventEntryId(seq: number): string {
  return `${seq}-1`;
}

/** The entry id of the gap marker written before the event `seq`, the first after a gap. */
export function gapEntryId(seq: number): string {
  return `${seq}-0`;
}

/** The entry id of the end marker written after the run's last event `lastSeq`. */
export function endEntryId(lastSeq: number): string {
  return `${lastSeq}-2`;
}

/** The exclusive XRANGE start for a reader that has every event up to `afterSeq` (`-`: from the start). */
export function rangeStartAfter(afterSeq: number): string {
  return afterSeq > 0 ? `(${afterSeq}-1` : '-';
}

/** The field names of an entry. */
export const FIELD = { event: 'e', gap: 'gap', end: 'end', run: 'run', state: 'state', at: 'at' } as const;

/** Why a run's stream ended, as its end marker says. */
export type EndMarkerReason = 'closed' | 'dropped';

/** A decoded run-stream entry. */
export type RunEntry =
  | { readonly kind: 'event'; readonly event: StreamEvent }
  | { readonly kind: 'end'; readonly reason: EndMarkerReason }
  | { readonly kind: 'invalid'; readonly error: string };

const ENTRY_ID = /^(\d{1,15})-([0-2])$/;

/** The sequence number an entry id stands for, or undefined for an id that is not ours. */
export function seqOfEntryId(id: string): number | undefined {
  const match = ENTRY_ID.exec(id);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The fields of an event entry: the event's JSON, shared with the SSE
 * handlers of this process (written once per event for all of them, and
 * the same bytes: the agentbus envelope's eight fields, the payload bounded
 * as SSE bounds it). Never throws: an event that cannot be written is
 * stored as the `stream.placeholder` SSE would send for it.
 */
export function encodeEvent(event: StreamEvent): Record<string, string> {
  return { [FIELD.event]: eventJson(event).json };
}

/** The fields of a gap marker. */
export function encodeGap(count: number, fromSeq: number, toSeq: number): Record<string, string> {
  return { [FIELD.gap]: JSON.stringify({ count, fromSeq, toSeq }) };
}

/** The fields of an end marker. */
export function encodeEnd(reason: EndMarkerReason): Record<string, string> {
  return { [FIELD.end]: reason };
}

/** What an index entry says of a run. */
export type RunIndexState = 'started' | 'ended';

/** The fields of an index entry: the run, what happened to it, and when (ms since epoch, whole). */
export function encodeIndexEntry(runId: string, state: RunIndexState, at: number): Record<string, string> {
  return { [FIELD.run]: runId, [FIELD.state]: state, [FIELD.at]: String(Math.floor(at)) };
}

/**
 * Decodes one entry of `runId`'s stream. A gap marker becomes the same
 * `stream.dropped` event a slow local subscriber gets (`seq` 0: it has no
 * position of its own).
 */
export function decodeRunEntry(runId: string, id: string, fields: Readonly<Record<string, string>>): RunEntry {
  try {
    const seq = seqOfEntryId(id);
    if (seq === undefined) return { kind: 'invalid', error: `entry id ${JSON.stringify(id.slice(0, 40))} is not an agentbus entry id` };
    const end = fields[FIELD.end];
    if (end !== undefined) {
      return end === 'closed' || end === 'dropped' ? { kind: 'end', reason: end } : { kind: 'invalid', error: `unknown end reason ${JSON.stringify(end.slice(0, 40))}` };
    }
    const gap = fields[FIELD.gap];
    if (gap !== undefined) return decodeGap(runId, gap);
    const json = fields[FIELD.event];
    if (json === undefined) return { kind: 'invalid', error: `entry ${id} has none of the fields e, gap, end` };
    const event = parseStreamEvent(JSON.parse(json));
    if (event.runId !== runId) return { kind: 'invalid', error: `entry ${id} holds an event of run ${JSON.stringify(event.runId)}` };
    if (event.seq !== seq) return { kind: 'invalid', error: `entry ${id} holds an event with seq ${event.seq}` };
    return { kind: 'event', event };
  } catch (error) {
    return { kind: 'invalid', error: error instanceof Error ? error.message : String(error) };
  }
}

function decodeGap(runId: string, json: string): RunEntry {
  const gap = JSON.parse(json) as { count?: unknown; fromSeq?: unknown; toSeq?: unknown } | null;
  const count = gap?.count;
  const fromSeq = gap?.fromSeq;
  const toSeq = gap?.toSeq;
  if (!isCount(count) || count === 0 || !isCount(fromSeq) || !isCount(toSeq)) return { kind: 'invalid', error: 'a gap marker needs a positive integer count and integer fromSeq and toSeq' };
  return { kind: 'event', event: droppedEvent(runId, count, fromSeq, toSeq) };
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
