/**
 * The process bus, registered once per process on `globalThis`.
 *
 * A process can hold several copies of agentbus: two versions in
 * node_modules, a bundle beside the package, an application and a library
 * that each depend on it. Each copy has its own modules, so a module-level
 * `let bus` would give each its own bus, and a listener or SSE handler
 * attached through one copy would see nothing of the runs recorded through
 * another. So, as `@opentelemetry/api` does with its globals, the process
 * bus lives in one place reached one way: an object under a
 * `Symbol.for` key on `globalThis` holding the version of the copy that put
 * it there and the bus. Every copy whose version is compatible with that one
 * (see {@link isCompatibleVersion}) shares it; a copy that is not records
 * into a bus of its own and says so once, through a process warning.
 *
 * Only the process bus is shared this way. A run's bus is carried by its
 * frame (`context.ts`), and each copy has its own AsyncLocalStorage: code
 * emitting through one copy does not see a run opened through another.
 *
 * The process bus is reached one way, {@link getEventBus}; tests replace it
 * with {@link resetEventBus}.
 */
import { EventBus } from './bus.js';
import type { EventBusOptions } from './bus-options.js';
import { retire } from './bus-protocol.js';
import { isCompatibleVersion, VERSION } from './version.js';
import { warnOnce } from './warnings.js';

/** The key on `globalThis`. Never changes: copies of every version must find each other. */
const GLOBAL_KEY: unique symbol = Symbol.for('agentbus.processBus');

/** What the key holds: the registering copy's version, and the process bus once built. */
interface BusRegistration {
  readonly version: string;
  /** The process bus; undefined until first used, or after a reset without options. */
  bus: EventBus | undefined;
}

let registration: BusRegistration | undefined;

/**
 * The process-wide bus, built on first use (the first event of the first
 * run). One per process: every copy of agentbus loaded in the process with
 * a compatible version shares it (it is registered on `globalThis`).
 */
export function getEventBus(): EventBus {
  return (busRegistration().bus ??= new EventBus());
}

/** The process-wide bus if it has been built, else `undefined`. Never builds it. */
export function peekEventBus(): EventBus | undefined {
  return busRegistration().bus;
}

/**
 * Replaces the process-wide bus (tests): with options, a new bus is built now;
 * without, the next use builds a default one. The old bus is retired: its
 * subscribers end with reason `'reset'` (after what they had queued) and its
 * listeners are detached (an exporter or backplane attached to it must be
 * attached again, to the new bus). Runs executing keep recording into the
 * bus they started with.
 *
 * @returns the new bus, or `undefined` when none was built.
 * @throws {RangeError} on invalid options, before anything is replaced.
 */
export function resetEventBus(options?: EventBusOptions): EventBus | undefined {
  const next = options === undefined ? undefined : new EventBus(options);
  const slot = busRegistration();
  const old = slot.bus;
  // Replaced first, so that whoever reacts to the end finds the new bus.
  slot.bus = next;
  old?.[retire]();
  return next;
}

/**
 * This copy's registration, found (or made) on first use and then kept: the
 * global one when its version is compatible with this copy's, otherwise one
 * of this copy's own.
 */
function busRegistration(): BusRegistration {
  return (registration ??= register());
}

function register(): BusRegistration {
  const holder = globalThis as { [GLOBAL_KEY]?: unknown };
  const found = holder[GLOBAL_KEY];
  if (found === undefined) {
    const own: BusRegistration = { version: VERSION, bus: undefined };
    // Not enumerable: code that lists the global object's properties does not meet it.
    Object.defineProperty(globalThis, GLOBAL_KEY, { value: own, writable: false, enumerable: false, configurable: true });
    return own;
  }
  const foundVersion = versionOf(found);
  if (foundVersion !== undefined && isCompatibleVersion(VERSION, foundVersion)) return found as BusRegistration;
  const version = foundVersion?.slice(0, 40);
  const why =
    version === undefined
      ? `globalThis[Symbol.for('agentbus.processBus')] holds something agentbus did not put there`
      : `the process bus was registered by agentbus ${version}, which this version cannot share it with`;
  warnOnce(
    `process-bus:${version ?? '?'}`,
    `agentbus ${VERSION}: ${why}; this copy records into a bus of its own, which the other copy's listeners, subscribers and SSE handlers do not see. Load one version of agentbus (\`npm ls agentbus\` lists them).`,
    'AGENTBUS_VERSION_CONFLICT',
  );
  return { version: VERSION, bus: undefined };
}

/** The registration's version, or undefined when `found` is not a registration; never throws (it could be a hostile Proxy). */
function versionOf(found: unknown): string | undefined {
  if (typeof found !== 'object' || found === null) return undefined;
  try {
    const version = (found as { version?: unknown }).version;
    return typeof version === 'string' && 'bus' in found ? version : undefined;
  } catch {
    return undefined;
  }
}
