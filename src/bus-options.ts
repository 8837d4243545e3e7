/**
 * The options of an `EventBus`: what each one means, its default (every
 * default is here, once), and the checks a bus makes on them when it is
 * built, before it holds anything.
 */
import type { StreamEvent } from './events.js';
import { EVENT_ENVELOPE_BYTES } from './envelope.js';
import { DEFAULT_MAX_EVENT_BYTES } from './bounded-json.js';
import { booleanOption, positiveIntOption, shownValue } from './options.js';
import type { RunLimits } from './run-table.js';

/** Limits of an {@link EventBus}; every one has a default. */
export interface EventBusOptions {
  /** Events kept per run for late subscribers. Default 500. */
  historySize?: number;
  /** Runs retained; past this the least recently active run is evicted (closed runs first). Default 200. */
  maxRuns?: number;
  /** Default queue bound per subscriber. Default 1024. */
  highWaterMark?: number;
  /** Validate every published event with the catalogue (development and tests). Default false. */
  validate?: boolean;
  /**
   * Largest payload kept for one event, in characters of its JSON (bytes for
   * ASCII). A payload that is larger, or is not plain data (class instances,
   * Proxies, cycles, BigInt, throwing getters), is replaced at publish by a
   * plain copy written with `boundedJson` (cut where it overflows, with
   * placeholders where it could not be read), so every consumer sees the
   * same bounded value. Default 256 KiB.
   */
  maxEventBytes?: number;
  /** History kept per run, in bytes (payload JSON plus a fixed envelope cost); oldest events go first. Default 8 MiB. */
  maxRunBytes?: number;
  /** History kept by the whole bus, in bytes; the oldest events of the least recently active runs go first. Default 64 MiB. */
  maxBytes?: number;
  /**
   * Told about listener errors and rejected events; it must not throw.
   * Default: nothing (they are counted, and a refused event is warned about
   * once per distinct problem). A function: anything else is refused, since
   * it would take the reports and drop them.
   */
  onError?: (error: unknown, event: StreamEvent) => void;
}

/** @internal {@link EventBusOptions} with every default applied, checked. */
export interface BusSettings extends RunLimits {
  readonly highWaterMark: number;
  readonly maxEventBytes: number;
  readonly validate: boolean;
  readonly onError: ((error: unknown, event: StreamEvent) => void) | undefined;
}

/**
 * The `onError` option, or undefined. Checked here because the bus stops
 * warning about refused events once it has an `onError`: a value that is
 * not a function would swallow every report, silently.
 * @throws {TypeError} unless it is a function or undefined.
 */
function onErrorOption(onError: unknown): BusSettings['onError'] {
  if (onError === undefined || typeof onError === 'function') return onError as BusSettings['onError'];
  throw new TypeError(`EventBus: onError must be a function (error, event) => void or undefined, got ${shownValue(onError)}`);
}

/**
 * @internal The settings of a bus built with `options`.
 * @throws {TypeError} when `options` is not an object, `validate` is not a
 *   boolean or `onError` not a function (each may be undefined).
 * @throws {RangeError} naming the option, when one is not a positive
 *   integer, `maxEventBytes` is below 1024, or the byte limits do not nest.
 */
export function busSettings(options: EventBusOptions): BusSettings {
  // `null` would fail with a bare property read, and a string's own properties would be read as options.
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`EventBus: options must be an EventBusOptions object or undefined, got ${shownValue(options)}`);
  }
  const historySize = positiveIntOption('EventBus', 'historySize', options.historySize, 500);
  const maxRuns = positiveIntOption('EventBus', 'maxRuns', options.maxRuns, 200);
  const highWaterMark = positiveIntOption('EventBus', 'highWaterMark', options.highWaterMark, 1024);
  const maxEventBytes = positiveIntOption('EventBus', 'maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES);
  const maxRunBytes = positiveIntOption('EventBus', 'maxRunBytes', options.maxRunBytes, 8 * 1024 * 1024);
  const maxBytes = positiveIntOption('EventBus', 'maxBytes', options.maxBytes, 64 * 1024 * 1024);
  if (maxEventBytes < 1024) {
    throw new RangeError(`EventBus: maxEventBytes must be at least 1024, got ${maxEventBytes}`);
  }
  // The newest event always fits, so a run never loses the event it just published.
  if (maxRunBytes < maxEventBytes + EVENT_ENVELOPE_BYTES || maxBytes < maxRunBytes) {
    throw new RangeError(
      `EventBus: byte limits must nest, maxEventBytes + ${EVENT_ENVELOPE_BYTES} <= maxRunBytes <= maxBytes; got ${maxEventBytes}, ${maxRunBytes}, ${maxBytes}`,
    );
  }
  const validate = booleanOption('EventBus', 'validate', options.validate) ?? false;
  const onError = onErrorOption(options.onError);
  return { historySize, maxRuns, highWaterMark, maxEventBytes, maxRunBytes, maxBytes, validate, onError };
}
