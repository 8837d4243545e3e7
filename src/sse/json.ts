/**
 * JSON for the wire that never throws and never grows without bound.
 *
 * Event payloads come from user code: tool arguments may hold cycles,
 * BigInts or megabytes of text. The SSE server must still write one valid,
 * bounded JSON document per event, so anything `JSON.stringify` refuses is
 * replaced by a readable placeholder and oversized fields are cut.
 */

/** Default cap on one serialized event, in UTF-16 code units (about bytes for ASCII). */
export const DEFAULT_MAX_EVENT_SIZE = 256 * 1024;

/** What replaces a value that refers back to one of its ancestors. */
export const CIRCULAR_PLACEHOLDER = '[Circular]';

// Payload fields at or above this size are the first to be replaced when an event is too big.
const FIELD_CUT = 1024;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `JSON.stringify` with placeholders instead of exceptions: a cycle becomes
 * `"[Circular]"`, a BigInt its decimal digits as a string, a throwing
 * `toJSON` `"[Unserializable: message]"`. Shared (non-cyclic) references are
 * written in full. `enclosing` lists objects that contain `value`, so that a
 * reference back to them is also a cycle.
 */
export function safeStringify(value: unknown, enclosing: readonly object[] = []): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    // The slow path only runs for payloads that the fast path rejected.
  }
  // Each object is copied with its values resolved up front, because
  // JSON.stringify calls toJSON (and getters) before the replacer sees them.
  // `holders` are those copies along the current path, `originals` what they copy.
  const holders: object[] = [];
  const originals: object[] = [];
  return JSON.stringify(resolve(value, ''), function (this: unknown, _key, current: unknown) {
    if (typeof current === 'bigint') return current.toString();
    if (typeof current !== 'object' || current === null) return current;
    while (holders.length > 0 && holders[holders.length - 1] !== this) {
      holders.pop();
      originals.pop();
    }
    if (originals.includes(current) || enclosing.includes(current)) return CIRCULAR_PLACEHOLDER;
    const copy: Record<string, unknown> | unknown[] = Array.isArray(current) ? [] : {};
    for (const key of Object.keys(current)) {
      (copy as Record<string, unknown>)[key] = resolve(current, key);
    }
    holders.push(copy);
    originals.push(current);
    return copy;
  }) ?? 'null';
}

/** `holder[key]` after its `toJSON`, or a placeholder when reading it throws. */
function resolve(holder: unknown, key: string): unknown {
  try {
    const value = key === '' ? holder : (holder as Record<string, unknown>)[key];
    const toJSON = (value as { toJSON?: unknown } | null | undefined)?.toJSON;
    return typeof toJSON === 'function' ? (toJSON.call(value, key) as unknown) : value;
  } catch (error) {
    return `[Unserializable: ${describe(error)}]`;
  }
}

/**
 * Serializes an event envelope whose `data` may be hostile. When the result
 * exceeds `maxSize`, the largest top-level `data` fields are replaced, one by
 * one, by `"[truncated: N chars]"` until it fits; if it still does not, the
 * whole payload becomes `{ truncated: true, size: N }`.
 */
export function boundedEventJson(envelope: Record<string, unknown> & { data: object }, dataKey: string, maxSize: number): string {
  const text = safeStringify(envelope);
  if (text.length <= maxSize) return text;
  const data = envelope[dataKey] as Record<string, unknown>;
  const big = Object.keys(data)
    .map((key) => ({ key, size: safeStringify(data[key], [data]).length }))
    .filter((f) => f.size >= FIELD_CUT)
    .sort((a, b) => b.size - a.size);
  const cut: Record<string, unknown> = { ...data };
  for (const { key, size } of big) {
    cut[key] = `[truncated: ${size} chars]`;
    const shrunk = safeStringify({ ...envelope, [dataKey]: cut }, [data]);
    if (shrunk.length <= maxSize) return shrunk;
  }
  return safeStringify({ ...envelope, [dataKey]: { truncated: true, size: text.length } });
}
