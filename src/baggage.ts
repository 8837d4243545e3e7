/**
 * The run link's members of a W3C `baggage` header: `agentbus.run_id` and
 * `agentbus.span_id`, written into a header that may already carry other
 * members, and read back out of one.
 *
 * Both ways keep to the W3C Baggage limits of 180 members and 8192 bytes: a
 * sender must not exceed them, and a receiver need not read past them. A
 * member that would break a limit is left out whole, never cut in the middle.
 */
import { Buffer } from 'node:buffer';

const RUN_ID_KEY = 'agentbus.run_id';
const SPAN_ID_KEY = 'agentbus.span_id';
const BAGGAGE_MAX_MEMBERS = 180;

/** The longest `baggage` a sender may write and a receiver reads, in bytes (W3C Baggage). */
export const BAGGAGE_MAX_BYTES = 8192;

/**
 * The `baggage` to send: our members (the step's `spanId` absent at the
 * run's top level), percent-encoded, followed by the members of `existing`
 * that are not ours, until one would break a W3C limit: it and the rest are
 * left out whole, as the specification requires. Ours come first so that a
 * receiver that reads only up to the limits still finds them.
 *
 * @throws {URIError} when an id holds a lone surrogate (a span id chosen by
 * user code may), which percent-encoding cannot write.
 */
export function baggageWithRunLink(existing: string | null | undefined, runId: string, spanId: string | undefined): string {
  const ours = spanId === undefined
    ? [`${RUN_ID_KEY}=${encodeURIComponent(runId)}`]
    : [`${RUN_ID_KEY}=${encodeURIComponent(runId)}`, `${SPAN_ID_KEY}=${encodeURIComponent(spanId)}`];
  let value = ours.join(',');
  if (typeof existing !== 'string' || existing === '') return value;
  let members = ours.length;
  let bytes = value.length; // ours are ASCII: percent-encoded
  for (let start = 0; start < existing.length && members < BAGGAGE_MAX_MEMBERS;) {
    let end = existing.indexOf(',', start);
    if (end === -1) end = existing.length;
    const member = existing.slice(start, end).trim();
    start = end + 1;
    if (member === '') continue;
    const key = memberKey(member);
    if (key === RUN_ID_KEY || key === SPAN_ID_KEY) continue;
    const size = Buffer.byteLength(member, 'utf8') + 1;
    if (bytes + size > BAGGAGE_MAX_BYTES) break;
    value += `,${member}`;
    bytes += size;
    members++;
  }
  return value;
}

/** The key of a baggage list member (`key = value ; property`), trimmed. */
function memberKey(member: string): string {
  const eq = member.indexOf('=');
  const semi = member.indexOf(';');
  const end = eq === -1 ? (semi === -1 ? member.length : semi) : semi === -1 ? eq : Math.min(eq, semi);
  return member.slice(0, end).trim();
}

/**
 * The values of our two members in a received `baggage` header, decoded;
 * the first occurrence of each counts. Only the first 8192 bytes and 180
 * members are read, and the member the byte limit would cut is left out
 * whole (a sender that writes ours first, as {@link baggageWithRunLink}
 * does, is still understood). A value whose percent-encoding is broken is
 * undefined; the caller validates the rest.
 */
export function runLinkOfBaggage(header: string): { runId: string | undefined; spanId: string | undefined } {
  let baggage = header;
  if (baggage.length > BAGGAGE_MAX_BYTES) {
    const lastComma = baggage.lastIndexOf(',', BAGGAGE_MAX_BYTES);
    if (lastComma === -1) return { runId: undefined, spanId: undefined };
    baggage = baggage.slice(0, lastComma);
  }
  let runId: string | undefined;
  let spanId: string | undefined;
  let members = 0;
  for (let start = 0; start < baggage.length && members < BAGGAGE_MAX_MEMBERS;) {
    let end = baggage.indexOf(',', start);
    if (end === -1) end = baggage.length;
    const member = baggage.slice(start, end);
    start = end + 1;
    if (member.trim() === '') continue;
    members++;
    const semi = member.indexOf(';');
    const pair = semi === -1 ? member : member.slice(0, semi);
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const key = pair.slice(0, eq).trim();
    if (key === RUN_ID_KEY) runId ??= pair.slice(eq + 1).trim();
    else if (key === SPAN_ID_KEY) spanId ??= pair.slice(eq + 1).trim();
    if (runId !== undefined && spanId !== undefined) break;
  }
  return { runId: runId === undefined ? undefined : decode(runId), spanId: spanId === undefined ? undefined : decode(spanId) };
}

/** A percent-decoded baggage value, or undefined when its encoding is broken. */
function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
