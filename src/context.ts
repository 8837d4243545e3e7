/**
 * Run context on AsyncLocalStorage.
 *
 * Every run opens and closes the idle gate (`gate.ts`): while no run is open,
 * emission sites return before any AsyncLocalStorage lookup, allocation or
 * bus. `als.run` is paid once per run and once per step, never per event.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { EventBus } from './bus.js';
import { describeNotEventBus, isEventBus, runEnded, runStarted } from './bus-protocol.js';
import { getEventBus } from './global.js';
import { gate, runContextEntered, runContextExited } from './gate.js';
import { now } from './clock.js';
import { isRunId, isSpanId, RUN_ID_RULE, SPAN_ID_RULE, type StreamEvent } from './events.js';
import { errorText, errorTypeOf } from './payload-text.js';
import type { RunLink } from './link.js';
import { pricesOption, type PriceTable, type Prices } from './prices.js';
import { captureContentFromEnv, type ContentHook } from './content.js';
import { booleanOption, shownValue } from './options.js';

/** @internal What every frame of one run shares: the run's id and the settings its nested runs inherit. */
export interface RunScope {
  readonly runId: string;
  readonly captureContent: boolean;
  /** The run's content hook (`RunOptions.contentHook`, inherited), or undefined. */
  readonly contentHook: ContentHook | undefined;
  readonly conversationId: string | undefined;
  /** The checked price table (`RunOptions.prices`), or undefined: then `recordTokens` adds no cost. */
  readonly prices: Prices | undefined;
  /**
   * True once the `runContext` that opened this scope has returned and the
   * run's stream closed with it (not `keepOpen`): nothing recorded in it can
   * end any more, so what an adapter still keeps open for it may go.
   */
  ended: boolean;
}

/**
 * @internal What AsyncLocalStorage holds: the run, the innermost open step,
 * and the bus the run records into (read here, never looked up per event).
 * Every frame is built with its properties in this order: one shape.
 */
export interface Frame {
  readonly run: RunScope;
  /** The step that encloses code running in this frame; undefined at the run's top level. */
  readonly spanId: string | undefined;
  /** The run's bus: `RunOptions.bus`, else the enclosing run's, else the process bus. */
  readonly bus: EventBus;
}

/** @internal */
export const als = new AsyncLocalStorage<Frame>();

/** Options of {@link runContext}. */
export interface RunOptions {
  /**
   * The run's id; a random UUID when omitted (undefined). 1-128 characters of
   * `[A-Za-z0-9._:-]`, not only dots. `null` is refused, not taken for
   * "omitted": an id lookup that came back empty would otherwise record the
   * run under an id nobody knows.
   */
  runId?: string;
  /** A human-readable name, carried by `run.started`. A string, or undefined for none. */
  name?: string;
  /**
   * Put content into events, in the GenAI conventions' shapes and bounded
   * (see content.ts): a model call's input messages, system instructions,
   * tool definitions and output messages, a tool call's arguments and
   * result. Previews are always kept, cut to 240 characters. Inherited by
   * nested runs. Default: the enclosing run's, else true when
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is `true` (read once
   * per process), else false.
   */
  captureContent?: boolean;
  /**
   * Gets the full content of each model and tool step as it closes, whether
   * or not content is captured, and returns a reference (a URI) to where it
   * stored it, which the step's span carries as `agentbus.content.ref`. See
   * {@link ContentHook}. Inherited by nested runs. Default: the enclosing
   * run's, else none.
   */
  contentHook?: ContentHook | undefined;
  /**
   * Keep the run's stream open when `runContext` returns, for a caller that
   * will add to the run later (then it closes the stream itself with
   * `closeStream(runId)` on the run's bus, or the retention limit ends it).
   * Default false: the stream closes after `run.completed`, and subscribers
   * (SSE clients) end. A boolean: a string such as `'no'` is refused, not
   * taken as true or false.
   */
  keepOpen?: boolean;
  /**
   * The conversation (session, thread) this run serves, as the application
   * names it: carried by `run.started`, and the OpenTelemetry bridge puts it
   * on the run's agent and model spans (`gen_ai.conversation.id`). One
   * conversation is usually many runs (a run per turn). Inherited by nested
   * runs. At most 256 characters, no control characters.
   */
  conversationId?: string | undefined;
  /**
   * Makes this run a child of a step in another service: the link that
   * `extractRunLink` read from the incoming request. `run.started` then
   * carries the link's `parentRunId` and `parentSpanId` and its
   * `traceparent`/`tracestate`, and the OpenTelemetry bridge places the
   * run's root span under the calling step's span, in the caller's trace.
   * With a link, the link is the parent even when `runContext` is called
   * inside another local run (which still passes on `captureContent`);
   * without one, a nested run is the child of the enclosing step.
   */
  link?: RunLink | undefined;
  /**
   * The bus the run records into: its events, its stream, its listeners (an
   * `instrumentOtel({ bus })`, a `createSseHandler({ bus })`). Default: the
   * enclosing run's bus when nested (whether or not it has a `link`), else
   * the process bus ({@link getEventBus}). Runs nested in this one inherit it.
   */
  bus?: EventBus | undefined;
  /**
   * Token prices by model name, in a currency per MILLION tokens (see
   * `ModelPrice`): `agent.tokens.used` of a model the table prices then
   * carries the call's `cost` (`{ amount, currency, source: 'local' }`), and
   * the OpenTelemetry bridge puts it on the call's `chat` span. A model the
   * table does not price gets no cost (never a guessed one). agentbus ships
   * no prices. Checked and copied here; inherited by nested runs, and a
   * nested run's own table replaces it.
   */
  prices?: PriceTable | undefined;
}

// Generous for both W3C Trace Context headers: a traceparent has 55 characters, and a
// tracestate is propagated up to 512.
const LINK_HEADER_MAX_LENGTH = 512;

/** Throws a precise error unless `runId` is a usable run id. */
export function assertRunId(runId: unknown): asserts runId is string {
  if (!isRunId(runId)) {
    const shown = typeof runId === 'string' ? JSON.stringify(runId.slice(0, 40)) : typeof runId;
    throw new TypeError(`runId must be ${RUN_ID_RULE}, got ${shown}`);
  }
}

/**
 * The options object, checked before any option is read: a string's own
 * properties would otherwise be read as options (`'x'.link` is
 * `String.prototype.link`), and `null` would fail with a bare property read.
 * @throws {TypeError} unless it is an object.
 */
function optionsObject(options: unknown): RunOptions {
  if (typeof options === 'object' && options !== null) return options as RunOptions;
  throw new TypeError(`runContext: options must be a RunOptions object or undefined, got ${shownValue(options)}`);
}

/**
 * The run id option, or a fresh random UUID when it is undefined.
 * @throws {TypeError} unless it is undefined or a usable run id (`null` included: see {@link RunOptions.runId}).
 */
function runIdOption(runId: unknown): string {
  if (runId === undefined) return randomUUID();
  if (isRunId(runId)) return runId;
  throw new TypeError(`runContext: options.runId must be ${RUN_ID_RULE}, or undefined for a random UUID, got ${shownValue(runId)}`);
}

/**
 * The name option, or undefined: `run.started` carries it, and the
 * catalogue wants a string there.
 * @throws {TypeError} unless it is a string or undefined.
 */
function nameOption(name: unknown): string | undefined {
  if (name === undefined || typeof name === 'string') return name;
  throw new TypeError(`runContext: options.name must be a string or undefined, got ${shownValue(name)}`);
}

/**
 * The bus option, or undefined.
 * @throws {TypeError} unless it is an `EventBus` or undefined.
 */
function busOption(bus: unknown): EventBus | undefined {
  if (bus === undefined || isEventBus(bus)) return bus;
  throw new TypeError(`runContext: options.bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got ${describeNotEventBus(bus)}`);
}

/**
 * The conversation id option, or undefined.
 * @throws {TypeError} unless it is undefined or a string of 1-256 characters without control characters.
 */
function conversationIdOption(conversationId: unknown): string | undefined {
  if (conversationId === undefined || isSpanId(conversationId)) return conversationId;
  throw new TypeError(`runContext: options.conversationId must be undefined or ${SPAN_ID_RULE}, got ${shownValue(conversationId)}`);
}

/**
 * The content hook option, or undefined.
 * @throws {TypeError} unless it is a function or undefined.
 */
function contentHookOption(hook: unknown): ContentHook | undefined {
  if (hook === undefined || typeof hook === 'function') return hook as ContentHook | undefined;
  throw new TypeError(`runContext: options.contentHook must be a function (content) => reference or undefined, got ${shownValue(hook)}`);
}

/**
 * The link option read once (a getter is not asked twice), or undefined.
 * Links normally come from `extractRunLink`, which validated them; this
 * checks the shape a developer passed.
 * @throws {TypeError} naming the field and what it must be.
 */
function linkOption(link: unknown): RunLink | undefined {
  if (link === undefined) return undefined;
  if (typeof link !== 'object' || link === null) {
    throw new TypeError(`link must be a RunLink object (as extractRunLink returns) or undefined, got ${shownValue(link)}`);
  }
  const { parentRunId, parentSpanId, traceparent, tracestate } = link as Record<string, unknown>;
  if (!isRunId(parentRunId)) throw new TypeError(`link.parentRunId must be ${RUN_ID_RULE}, got ${shownValue(parentRunId)}`);
  if (parentSpanId !== undefined && !isSpanId(parentSpanId)) {
    throw new TypeError(`link.parentSpanId must be undefined or ${SPAN_ID_RULE}, got ${shownValue(parentSpanId)}`);
  }
  for (const [name, value] of [['traceparent', traceparent], ['tracestate', tracestate]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.length > LINK_HEADER_MAX_LENGTH)) {
      const got = typeof value === 'string' ? `${value.length} characters` : shownValue(value);
      throw new TypeError(`link.${name} must be undefined or a string of at most ${LINK_HEADER_MAX_LENGTH} characters, got ${got}`);
    }
  }
  return { parentRunId, parentSpanId, traceparent: traceparent as string | undefined, tracestate: tracestate as string | undefined };
}

/** True for the errors an abort or a timeout raises (`AbortError`, `TimeoutError`): they end a run as `aborted`. */
export function isAbortError(error: unknown): boolean {
  // Asked while a run is failing: a value whose `name` cannot be read (a Proxy's trap throws) is no abort error, not a second failure.
  try {
    const name = (error as { name?: unknown } | null)?.name;
    return name === 'AbortError' || name === 'TimeoutError';
  } catch {
    return false;
  }
}

/**
 * Runs `fn` as one observable run: its events, and those of everything it
 * calls, go under `runId` to the run's bus (`options.bus`, else the
 * enclosing run's, else the process bus). Emits `run.started` and `run.completed`
 * (status `ok`, `error` or `aborted`; the error is rethrown), then closes the
 * run's stream unless `keepOpen` (subscribers and SSE clients end after
 * `run.completed`). Called inside another run, it makes a child run linked
 * by `parentRunId`/`parentSpanId`; with `options.link`, a child run of the
 * step in another service that the link names. Entering a run id whose
 * stream was closed opens it again; its sequence continues.
 *
 * @returns what `fn` returns (awaited).
 * @throws {TypeError} (as a rejection, before `fn` runs) when `fn` is not a
 *   function, `options` is not an object, or for an invalid `runId` (`null`
 *   included), `name`, `keepOpen`, `link`, `bus`, `conversationId`,
 *   `captureContent`, `contentHook` or `prices`.
 */
export async function runContext<T>(fn: (runId: string) => T | Promise<T>, options: RunOptions = {}): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError(`runContext: fn must be a function (runId) => result, got ${shownValue(fn)}`);
  options = optionsObject(options);
  // Every option is read once, here, before the run opens: `keepOpen` too, which is used only when the run ends.
  const runId = runIdOption(options.runId);
  const name = nameOption(options.name);
  const keepOpen = booleanOption('runContext', 'options.keepOpen', options.keepOpen) ?? false;
  const link = linkOption(options.link);
  const chosenBus = busOption(options.bus);
  const conversationId = conversationIdOption(options.conversationId);
  const prices = pricesOption('runContext: options.prices', options.prices);
  const captureContent = booleanOption('runContext', 'options.captureContent', options.captureContent);
  const parent = als.getStore();
  const run: RunScope = {
    runId,
    captureContent: captureContent ?? parent?.run.captureContent ?? captureContentFromEnv(),
    contentHook: contentHookOption(options.contentHook) ?? parent?.run.contentHook,
    conversationId: conversationId ?? parent?.run.conversationId,
    prices: prices ?? parent?.run.prices,
    ended: false,
  };
  const bus = chosenBus ?? parent?.bus ?? getEventBus();
  const frame: Frame = { run, spanId: undefined, bus };
  const started = now();
  bus[runStarted](runId);
  runContextEntered();
  try {
    return await als.run(frame, async () => {
      // One shape for every run.started: the link, when given, wins over an enclosing local run.
      record(frame, 'run.started', {
        name,
        parentRunId: link === undefined ? parent?.run.runId : link.parentRunId,
        parentSpanId: link === undefined ? parent?.spanId : link.parentSpanId,
        traceparent: link?.traceparent,
        tracestate: link?.tracestate,
        conversationId: run.conversationId,
      }, undefined, undefined);
      try {
        const result = await fn(runId);
        record(frame, 'run.completed', { status: 'ok', durationMs: now() - started }, undefined, undefined);
        return result;
      } catch (error) {
        record(frame, 'run.completed', {
          status: isAbortError(error) ? 'aborted' : 'error',
          error: errorText(error),
          errorType: errorTypeOf(error),
          durationMs: now() - started,
        }, undefined, undefined);
        throw error;
      }
    });
  } finally {
    runContextExited();
    bus[runEnded](runId, keepOpen);
    if (!keepOpen) run.ended = true;
  }
}

/** The id of the run this code executes in, or undefined outside any run. */
export function currentRunId(): string | undefined {
  return gate.open ? als.getStore()?.run.runId : undefined;
}

/** True when this code executes inside a run (so emissions are recorded). */
export function isRecording(): boolean {
  return gate.open && als.getStore() !== undefined;
}

/**
 * Binds `fn` to the current run context, for callbacks that some other
 * context will call (an `AbortSignal` listener aborted from outside the run,
 * a pooled worker's callback). Outside a run, returns `fn` unchanged.
 */
export function bindToRun<F extends (...args: never[]) => unknown>(fn: F): F {
  if (!gate.open || als.getStore() === undefined) return fn;
  return AsyncLocalStorage.bind(fn);
}

/**
 * @internal Builds one event (always the same object shape) and publishes it.
 * `seq` and `eventId` are assigned by the bus.
 */
export function record(
  frame: Frame,
  eventType: string,
  data: object,
  spanId: string | undefined,
  parentSpanId: string | undefined,
  timestamp: number = now(),
): StreamEvent {
  const event: StreamEvent = {
    eventId: '',
    runId: frame.run.runId,
    seq: 0,
    eventType,
    timestamp,
    spanId,
    parentSpanId,
    data,
  };
  frame.bus.publish(event);
  return event;
}
