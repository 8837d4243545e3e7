/**
 * The run link in an MCP request's `params._meta` (SEP-414): the W3C keys
 * `traceparent`, `tracestate` and `baggage`, unprefixed, as the MCP semantic
 * conventions ask. Written by the client side, read by the server side.
 */
import { extractRunLink, injectRunLink, type RunLink } from '../link.js';

/** The three `_meta` keys that carry the link. */
const LINK_KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/** A `_meta` object, as the SDK passes it: any JSON object. */
export type McpMeta = Readonly<Record<string, unknown>>;

/**
 * The `_meta` to send: the caller's keys, untouched, plus the link of the
 * current step. A `traceparent` the caller set wins (with its `tracestate`,
 * or none); a `baggage` the caller set is kept and ours merged into it (its
 * members stay, in order, after ours). Call it inside the step.
 */
export function metaWithLink(callerMeta: unknown): Record<string, unknown> {
  const theirs = typeof callerMeta === 'object' && callerMeta !== null && !Array.isArray(callerMeta)
    ? (callerMeta as McpMeta)
    : undefined;
  const carrier: Record<string, string> = {};
  const theirBaggage = theirs?.['baggage'];
  if (typeof theirBaggage === 'string') carrier['baggage'] = theirBaggage;
  injectRunLink(carrier);
  const meta: Record<string, unknown> = { ...theirs };
  const ownTrace = theirs !== undefined && theirs['traceparent'] !== undefined;
  if (!ownTrace) {
    if (carrier['traceparent'] !== undefined) meta['traceparent'] = carrier['traceparent'];
    if (carrier['tracestate'] !== undefined) meta['tracestate'] = carrier['tracestate'];
  }
  if (carrier['baggage'] !== undefined && (theirBaggage === undefined || typeof theirBaggage === 'string')) {
    meta['baggage'] = carrier['baggage'];
  }
  return meta;
}

/**
 * The link an incoming request carries: from its `params._meta`, else from
 * the HTTP request's headers (Streamable HTTP), else undefined. Only the
 * three string keys are read; the rest of `_meta` is never looked at.
 */
export function linkOfRequest(meta: unknown, headers: unknown): RunLink | undefined {
  if (typeof meta === 'object' && meta !== null) {
    const picked: Record<string, string> = {};
    for (const key of LINK_KEYS) {
      const value = (meta as McpMeta)[key];
      if (typeof value === 'string') picked[key] = value;
    }
    const link = extractRunLink(picked);
    if (link !== undefined) return link;
  }
  if (typeof headers === 'object' && headers !== null) {
    // Wrapped, so that a header named `headers` is not taken for the header object.
    return extractRunLink({ headers: headers as Record<string, string | readonly string[] | undefined> });
  }
  return undefined;
}
