/**
 * Framework values turned into canonical payload fields, shared by the
 * framework adapters so that each reads them the same way. (Error text,
 * argument keys and abort detection come from the core: `errorText`,
 * `argKeys`, `isAbortError`.)
 */

/**
 * Tool arguments as an object when they arrive as a JSON string (as several
 * frameworks pass them); anything else is returned unchanged.
 */
export function parseArgs(args: unknown): unknown {
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

/** A non-negative integer token count, or undefined when the framework gave none. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}
