/**
 * Checks of numeric options, shared by the constructors that take limits
 * (EventBus, the SSE handler, the OpenTelemetry bridge), so that a bad limit
 * gets the same precise message everywhere.
 */

/**
 * `value` when it is a positive integer, `fallback` when it is undefined.
 * @throws {RangeError} `"<owner>: <name> must be a positive integer, got <value>"`.
 */
export function positiveIntOption(owner: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
