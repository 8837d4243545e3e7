/**
 * The protocol of an `EventBus`: the methods the rest of the core calls on a
 * bus and users do not, and the brand by which any copy of agentbus
 * recognizes a bus.
 *
 * The methods are keyed by these symbols, as pino keeps its internals behind
 * `[writeSym]`, so that `EventBus` shows users only what they call. The
 * symbols come from the global registry (`Symbol.for`), not `Symbol()`: the
 * process bus is shared by the copies of agentbus loaded in one process
 * (see `global.ts`), and a `runContext` of one copy must reach them on a bus
 * built by another. Their keys never change; whether two copies agree on
 * what they mean is the version check of {@link isEventBus}.
 *
 * Not exported from the package.
 */
import type { EventBus } from './bus.js';
import { isCompatibleVersion, VERSION } from './version.js';

/** @internal Holds, on `EventBus.prototype`, the version of the copy that defined the class. */
export const busBrand: unique symbol = Symbol.for('agentbus.EventBus');

/** @internal `bus[runStarted](runId)`: a `runContext` enters the run. */
export const runStarted: unique symbol = Symbol.for('agentbus.EventBus.runStarted');

/** @internal `bus[runEnded](runId, keepOpen)`: a `runContext` left the run. */
export const runEnded: unique symbol = Symbol.for('agentbus.EventBus.runEnded');

/** @internal `bus[wrapsSteps]`: true when some listener wraps step bodies. */
export const wrapsSteps: unique symbol = Symbol.for('agentbus.EventBus.wrapsSteps');

/** @internal `bus[runStep](start, body)`: runs a step's body inside the listeners' wrappers. */
export const runStep: unique symbol = Symbol.for('agentbus.EventBus.runStep');

/** @internal `bus[reportRejected](error, event, key?)`: counts and reports an emission refused before publishing. */
export const reportRejected: unique symbol = Symbol.for('agentbus.EventBus.reportRejected');

/** @internal `bus[retire]()`: the bus stops being the process bus. */
export const retire: unique symbol = Symbol.for('agentbus.EventBus.retire');

/**
 * @internal True for an `EventBus` of this copy of agentbus, or of another
 * copy loaded in the process whose version is compatible with this one (as
 * the process bus is shared, see `global.ts`). Never throws.
 */
export function isEventBus(value: unknown): value is EventBus {
  if (typeof value !== 'object' || value === null) return false;
  try {
    const version = (value as { [busBrand]?: unknown })[busBrand];
    return typeof version === 'string' && isCompatibleVersion(VERSION, version);
  } catch {
    return false;
  }
}

/**
 * @internal What `value` is, for an error saying it is not a usable bus:
 * "an EventBus of agentbus 2.0.0, a version this one (0.1.0) cannot use",
 * "an instance of Map", "a function", ... Never throws.
 */
export function describeNotEventBus(value: unknown): string {
  if (typeof value !== 'object' || value === null) return value === null ? 'null' : typeof value === 'function' ? 'a function' : typeof value;
  try {
    const version = (value as { [busBrand]?: unknown })[busBrand];
    if (typeof version === 'string') return `an EventBus of agentbus ${version.slice(0, 40)}, a version this one (${VERSION}) cannot use`;
    const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
    if (typeof name === 'string' && name !== '' && name !== 'Object') return `an instance of ${name.slice(0, 40)}`;
  } catch {
    // A hostile Proxy: it is an object, which is all we can say.
  }
  return 'a plain object';
}
