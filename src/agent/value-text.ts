/**
 * Text of values that user code hands the agent: what a tool or model threw,
 * an abort's reason, a refused option written as JSON (`shownValue` of
 * `options.ts` shows the others). Any of them may be hostile (a null-prototype object has no `toString`, a Proxy may throw from
 * every trap), and the text is wanted exactly when something already went
 * wrong, so nothing here throws: describing a failure must not become a
 * second, different failure.
 */

/**
 * The message of a thrown value or an abort reason: an Error's `message`,
 * the `message` string of an error-like object, else `String(value)`; when
 * even that throws, `[unprintable <typeof>]`. Never throws.
 */
export function thrownText(value: unknown): string {
  try {
    if (value instanceof Error) return String(value.message);
    const message = typeof value === 'object' && value !== null ? (value as { message?: unknown }).message : undefined;
    return typeof message === 'string' ? message : String(value);
  } catch {
    return `[unprintable ${typeof value}]`;
  }
}

/**
 * A refused value written as JSON (`"not a url"`, `1.5`, `null`) where it can
 * be, else its `typeof` (a BigInt, a cycle, a function). Never throws.
 */
export function shownJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
