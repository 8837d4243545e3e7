/**
 * Checks of numeric, boolean and signal options, shared by the constructors
 * and calls that take them (EventBus and its subscribe, the SSE handler, the
 * OpenTelemetry bridge, runContext, the Redis source), so that a bad one gets
 * the same precise message everywhere.
 */

/**
 * `value` when it is an integer from 1 to `Number.MAX_SAFE_INTEGER` (2^53-1),
 * `fallback` when it is undefined. The upper bound is for counts that leave
 * the process as text or meet arithmetic: past 2^53-1 a number is no longer
 * exact, and from 1e21 `String` writes it in exponent form (`"1e+21"`), which
 * Redis (`MAXLEN ~ 1e+21`, `EXPIRE`) refuses on every command, long after
 * the option was accepted.
 * @throws {RangeError} `"<owner>: <name> must be a positive integer, got 0"`, or
 *   `"attachRedisBackplane: historySize must be at most 9007199254740991 (Number.MAX_SAFE_INTEGER), got 1e+21"`.
 */
export function positiveIntOption(owner: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${name} must be a positive integer, got ${shownValue(value)}`);
  }
  if (value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${owner}: ${name} must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER), got ${value}`);
  }
  return value;
}

/**
 * A boolean option, or undefined when not given. Checked because a string
 * from configuration (`'false'`) is truthy: taken as it is, it would turn on
 * what it meant to turn off (content capture, for one).
 * @throws {TypeError} `"runContext: options.captureContent must be a boolean or undefined, got \"false\""`.
 */
export function booleanOption(owner: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new TypeError(`${owner}: ${name} must be a boolean or undefined, got ${shownValue(value)}`);
}

/**
 * What an error message shows of a refused value: a string quoted (cut to
 * 40 characters: `"5"`, told from the number `5` by its quotes), a number
 * as written (`NaN`, `-5`), `null`, `an array`, else its `typeof`; never an
 * object's contents. Never throws. Every option check of the package shows
 * values this way.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  try {
    if (Array.isArray(value)) return 'an array';
  } catch {
    // Array.isArray throws only for a revoked Proxy: an object to the reader.
  }
  return typeof value;
}

/**
 * The longest delay a timer accepts: 2^31-1 ms, about 24.8 days.
 * `setTimeout` and `setInterval` hold their delay in a signed 32-bit integer;
 * given more, Node does not refuse but warns and waits 1 ms, so a heartbeat
 * of "practically never" (`2 ** 32`) would ping a thousand times a second
 * and a long retry delay become a reconnect loop. Browsers read an SSE
 * `retry:` as a 32-bit integer too.
 */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A delay option in milliseconds: `value` when it is an integer from `least`
 * (0 or 1) to {@link MAX_DELAY_MS}, `fallback` when it is undefined. Checked
 * when given rather than discovered in production (see `MAX_DELAY_MS`).
 * @throws {RangeError} `"createSseHandler: heartbeatMs must be a positive integer, got 0"`, or
 *   `"createSseHandler: heartbeatMs must be at most 2147483647 ms (2^31-1, the longest delay timers accept; Node fires a longer one after 1 ms), got 4294967296"`.
 */
export function delayOption(owner: string, name: string, value: unknown, fallback: number, least: 0 | 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
    throw new RangeError(`${owner}: ${name} must be a ${least === 1 ? 'positive' : 'non-negative'} integer, got ${shownValue(value)}`);
  }
  if (value > MAX_DELAY_MS) {
    throw new RangeError(`${owner}: ${name} must be at most ${MAX_DELAY_MS} ms (2^31-1, the longest delay timers accept; Node fires a longer one after 1 ms), got ${value}`);
  }
  return value;
}

/**
 * `value` when it is a non-negative safe integer, `fallback` when it is undefined.
 * @throws {RangeError} `"<owner>: <name> must be a non-negative integer, got <value>"`.
 */
export function nonNegativeIntOption(owner: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${owner}: ${name} must be a non-negative integer, got ${shownValue(value)}`);
  }
  return value;
}

/**
 * `value` when it is an AbortSignal (or quacks like one, as a signal from
 * another realm does: `aborted`, `throwIfAborted`, `addEventListener`,
 * `removeEventListener`), undefined when not given. Checked before anything
 * is registered: a signal that fails later would leave behind what it was
 * meant to end.
 * @throws {TypeError} `"Agent.run: options.signal must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got \"x\""`.
 */
export function signalOption(owner: string, name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  let ok = false;
  try {
    const signal = value as Partial<AbortSignal> | null;
    ok =
      typeof signal === 'object' &&
      signal !== null &&
      typeof signal.aborted === 'boolean' &&
      typeof signal.throwIfAborted === 'function' &&
      typeof signal.addEventListener === 'function' &&
      typeof signal.removeEventListener === 'function';
  } catch {
    // A getter that throws: not a signal.
  }
  if (!ok) throw new TypeError(`${owner}: ${name} must be an AbortSignal (controller.signal, AbortSignal.timeout(ms)) or undefined, got ${shownValue(value)}`);
  return value as AbortSignal;
}
