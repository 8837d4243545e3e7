/**
 * Whether user code handed back a promise: the one test of it, for the
 * places that must not await what they were not promised (a tool's result,
 * a content hook's reference).
 */

/** @internal True for a promise-like value; a value whose `then` cannot be read is treated as a plain one. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}
