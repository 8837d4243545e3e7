/**
 * Checks of numeric and boolean options, shared by the constructors that
 * take them (EventBus, the SSE handler, the OpenTelemetry bridge,
 * runContext), so that a bad one gets the same precise message everywhere.
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

/**
 * A boolean option, or undefined when not given. Checked because a string
 * from configuration (`'false'`) is truthy: taken as it is, it would turn on
 * what it meant to turn off (content capture, for one).
 * @throws {TypeError} `"runContext: options.captureContent must be a boolean or undefined, got \"false\" (a string)"`.
 */
export function booleanOption(owner: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  const shown = typeof value === 'string' ? `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (a string)` : value === null ? 'null' : typeof value;
  throw new TypeError(`${owner}: ${name} must be a boolean or undefined, got ${shown}`);
}
