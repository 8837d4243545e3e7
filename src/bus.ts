/**
 * The in-process event bus: a short history per run, live fan-out to
 * subscribers, and synchronous listeners for exporters.
 *
 * `publish` is synchronous, O(subscribers), never awaits and never throws into
 * the emitter: a slow subscriber loses its oldest events (and is told), a
 * throwing listener is caught and counted.
 *
 * `EventBus` is the one door; each part behind it has its file: the checks
 * on an event's envelope (`envelope.ts`) and the bound on its payload
 * (`payload-limit.ts`), the runs retained and their streams (`run-table.ts`,
 * one run in `run-record.ts`), the subscribers (`subscriber-set.ts`), the
 * listeners (`listener-set.ts`), where errors go (`bus-errors.ts`), the
 * options (`bus-options.ts`). What the rest of the core calls on a bus is
 * behind the symbols of `bus-protocol.ts`; the process bus is `global.ts`'s.
 */
import { isRunId, parseStreamEvent, RUN_ID_RULE, type StreamEvent } from './events.js';
import type { Subscription } from './subscription.js';
import { busSettings, type EventBusOptions } from './bus-options.js';
import { BusErrors } from './bus-errors.js';
import { describeRunId, envelopeProblem, EVENT_ENVELOPE_BYTES } from './envelope.js';
import { eventIdOf } from './event-id.js';
import { ListenerSet, MAX_QUEUED_BY_LISTENERS } from './listener-set.js';
import type { BusListener } from './listeners.js';
import { PayloadLimit } from './payload-limit.js';
import { RunTable } from './run-table.js';
import { SubscriberSet, subscribeRequest } from './subscriber-set.js';
import { busBrand, reportRejected, retire, runEnded, runStarted, runStep, wrapsSteps } from './bus-protocol.js';
import { VERSION } from './version.js';
import type { RetainedRun, RunLookup, RunSource } from './source.js';


/** Options of {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** Replay only history with `seq` greater than this (an SSE `Last-Event-ID`). Default 0: all history. */
  afterSeq?: number;
  /** Queue bound for this subscriber. Default: the bus's `highWaterMark`. */
  highWaterMark?: number;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
}

/** Counters reported by {@link EventBus.stats}. */
export interface EventBusStats {
  /** Runs retained. */
  runs: number;
  /**
   * Retained runs whose stream is open (not closed): runs executing, runs
   * kept open after their `runContext` (`keepOpen`), and runs subscribed to
   * or published to outside any `runContext` and not closed.
   */
  openStreams: number;
  /** Live subscriptions, per-run and all-runs. */
  subscribers: number;
  /** Events accepted by `publish`. */
  published: number;
  /** Events lost by slow subscribers, summed over subscribers. */
  dropped: number;
  /** Errors thrown by listeners and step wrappers (caught), and step wrappers that broke their contract (see {@link BusListener.wrapStep}). */
  listenerErrors: number;
  /** Runs evicted by the retention limit. */
  evictedRuns: number;
  /** Events refused: a malformed envelope or run id, invalid (with `validate`), or published to a closed run. */
  rejected: number;
  /** Bytes of history retained (payload JSON plus a fixed envelope cost per event). */
  bytes: number;
  /** Events removed from history, oldest first, to keep within `maxRunBytes` and `maxBytes`. */
  trimmed: number;
  /** Events whose payload was cut to `maxEventBytes` or had unreadable parts replaced by placeholders. */
  cut: number;
  /** Events replaced whole by a `stream.placeholder` (their payload was not an object at all). */
  placeholders: number;
}

/**
 * Keeps the last events of recent runs and streams them to subscribers.
 *
 * Most code uses the process-wide instance from {@link getEventBus}. A bus
 * of one's own (tests, a tenant kept apart) records the runs given to it,
 * `runContext(fn, { bus })`; give it also to whatever reads them
 * (`instrumentOtel({ bus })`, `createSseHandler({ bus })`).
 */
export class EventBus implements RunSource {
  readonly #validate: boolean;
  readonly #errors: BusErrors;
  readonly #payloads: PayloadLimit;
  readonly #listeners: ListenerSet;
  readonly #subscribers: SubscriberSet;
  readonly #runs: RunTable;
  #published = 0;

  /** @throws {RangeError} naming the option, when one is not a positive integer or the byte limits do not nest. */
  constructor(options: EventBusOptions = {}) {
    const settings = busSettings(options);
    this.#validate = settings.validate;
    this.#errors = new BusErrors(settings.onError);
    this.#payloads = new PayloadLimit(settings.maxEventBytes);
    this.#listeners = new ListenerSet(this.#errors);
    this.#subscribers = new SubscriberSet(settings.highWaterMark);
    this.#runs = new RunTable(settings, this.#listeners);
  }

  /**
   * Publishes one event: the bus assigns its `seq` (1, 2, 3 ... per run) and
   * its `eventId`, bounds its payload (see {@link EventBusOptions.maxEventBytes}),
   * keeps it in the run's history, queues it for every subscriber and calls
   * every listener. Never throws: a malformed event is refused and counted
   * in `stats().rejected`.
   */
  publish(event: StreamEvent): void {
    try {
      this.#publish(event);
    } catch (error) {
      // Only a hostile event object (a throwing getter on the envelope) gets here.
      this.#errors.reject(error, event);
    }
  }

  #publish(event: StreamEvent): void {
    const problem = envelopeProblem(event);
    if (problem !== undefined) {
      this.#errors.reject(new TypeError(`EventBus.publish: ${problem}; the event was not published`), event);
      return;
    }
    if (this.#validate && !this.#isValid(event)) return;
    let run = this.#runs.get(event.runId);
    if (run === undefined) {
      if (!isRunId(event.runId)) {
        this.#errors.reject(new TypeError(`EventBus.publish: runId ${describeRunId(event.runId)} is not a run id (${RUN_ID_RULE}); the event was not published`), event);
        return;
      }
      // A run closed and then given up stays closed: a late event (a timer the run left behind) does not open it again.
      if (this.#runs.closedBefore(event.runId)) return this.#rejectClosed(event);
      run = this.#runs.add(event.runId);
    } else if (run.closed) {
      return this.#rejectClosed(event);
    }
    if (this.#listeners.saturated) {
      this.#errors.reject(
        new Error(`EventBus.publish: listeners published ${MAX_QUEUED_BY_LISTENERS} events while handling one (a listener that publishes for every event it sees, its own too?); ${event.eventType} was not published`),
        event,
        'listener-loop',
      );
      return;
    }
    const size = this.#payloads.apply(event) + EVENT_ENVELOPE_BYTES;
    event.seq = ++run.seq;
    event.eventId = eventIdOf(run.runId, event.seq);
    this.#runs.keep(run, event, size);
    this.#published++;
    this.#subscribers.push(run, event);
    this.#listeners.onEvent(event);
  }

  #rejectClosed(event: StreamEvent): void {
    this.#errors.reject(new Error(`run ${event.runId} is closed; event ${event.eventType} was not published`), event, `closed:${event.eventType}`);
  }

  /**
   * Subscribes to one run: registered at once, so nothing published after
   * this call is missed. Yields the retained history after `afterSeq`, then
   * live events, and ends when the run's stream is closed, evicted or
   * dropped, on `signal`, or on `close()`. A resume from before the oldest
   * event retained (`afterSeq` older than the history) starts with one
   * `stream.dropped` for the events no longer there.
   *
   * @throws {TypeError} when `runId` is not a run id, or `signal` not an AbortSignal.
   * @throws {RangeError} when `afterSeq` is not a non-negative integer, or `highWaterMark` not a positive integer.
   */
  subscribe(runId: string, options?: SubscribeOptions): Subscription {
    const request = subscribeRequest('EventBus.subscribe', options);
    let run = this.#runs.get(runId);
    if (run === undefined) {
      if (!isRunId(runId)) throw new TypeError(`EventBus.subscribe: runId ${describeRunId(runId)} is not a run id (${RUN_ID_RULE})`);
      run = this.#runs.add(runId);
    }
    this.#runs.touch(run);
    return this.#subscribers.ofRun(run, request);
  }

  /**
   * Subscribes to the live events of every run (no history).
   *
   * @throws {TypeError | RangeError} naming the option, when `highWaterMark` or `signal` is not what it must be.
   */
  subscribeAll(options?: Omit<SubscribeOptions, 'afterSeq'>): Subscription {
    return this.#subscribers.ofAll(subscribeRequest('EventBus.subscribeAll', options));
  }

  /**
   * Adds a listener: its `onEvent` is called synchronously inside `publish`
   * for every event, its `wrapStep` wraps the body of every step opened from
   * now on, its `onStreamEnd` is told when a run's stream ends without an
   * event (see {@link BusListener}). Its errors are caught and counted.
   * Returns a function that removes it (idempotent).
   *
   * @throws {TypeError} naming the handler, when `listener` is not an object
   *   with an `onEvent` function and optional `wrapStep`, `onStreamEnd`, `name`.
   */
  addListener(listener: BusListener): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Closes a run's stream: subscribers receive what is queued, then end.
   * Later events for the run are rejected until a `runContext` enters it
   * again. Called while a `runContext` executes the run, it takes effect
   * when the run ends, after `run.completed`. Idempotent; unknown runs are
   * ignored.
   */
  closeStream(runId: string): void {
    this.#runs.close(runId);
  }

  /**
   * Forgets a run's recorded events now (for a user who must delete what was
   * recorded): its history is freed and its subscribers end with reason
   * `'dropped'`. Its sequence is remembered, so if the run publishes again its
   * event ids continue and are never reused. Returns false for unknown runs.
   */
  dropHistory(runId: string): boolean {
    return this.#runs.drop(runId);
  }

  /** True when the bus retains the run (open or closed). */
  hasRun(runId: string): boolean {
    return this.#runs.get(runId) !== undefined;
  }

  /** True when the run is retained and its stream was closed. */
  isClosed(runId: string): boolean {
    return this.#runs.get(runId)?.closed ?? false;
  }

  /** What the bus knows of a run for a reader that has every event up to `afterSeq` (see {@link RunSource}). */
  lookup(runId: string, afterSeq: number): RunLookup {
    const run = this.#runs.get(runId);
    if (run === undefined) return 'unknown';
    return run.closed && afterSeq > 0 && !run.hasAfter(afterSeq) ? 'finished' : 'available';
  }

  /** The retained history of a run, oldest first (empty for unknown runs). */
  history(runId: string, afterSeq = 0): StreamEvent[] {
    return this.#runs.get(runId)?.historyAfter(afterSeq) ?? [];
  }

  /** Ids of the retained runs, least recently active first. */
  runIds(): string[] {
    return this.#runs.idsByActivity();
  }

  /** The retained runs, most recently active first, each with its history (see {@link RunSource.retainedRuns}). */
  retainedRuns(): RetainedRun[] {
    const ids = this.#runs.idsByActivity();
    const runs: RetainedRun[] = [];
    for (let i = ids.length - 1; i >= 0; i--) {
      const runId = ids[i] as string;
      runs.push({ runId, events: this.history(runId), open: !this.isClosed(runId) });
    }
    return runs;
  }

  /** Counters for health checks and tests. */
  stats(): EventBusStats {
    let openStreams = 0;
    for (const run of this.#runs.values()) if (!run.closed) openStreams++;
    const { subscribers, dropped } = this.#subscribers.tally(this.#runs.values());
    return {
      runs: this.#runs.size,
      openStreams,
      subscribers,
      published: this.#published,
      dropped,
      listenerErrors: this.#errors.listenerErrors,
      evictedRuns: this.#runs.evicted,
      rejected: this.#errors.rejected,
      bytes: this.#runs.bytes,
      trimmed: this.#runs.trimmed,
      cut: this.#payloads.cut,
      placeholders: this.#payloads.placeholders,
    };
  }

  /** @internal True when some listener wraps step bodies. */
  get [wrapsSteps](): boolean {
    return this.#listeners.wrapsSteps;
  }

  /**
   * @internal Runs `body` inside every listener's `wrapStep` (the first
   * added outermost), or directly when there is none. The body runs exactly
   * once and this returns or throws what it did, whatever the wrappers do
   * (see {@link BusListener.wrapStep}).
   */
  [runStep]<R>(start: StreamEvent, body: () => R): R {
    return this.#listeners.runStep(start, body);
  }

  /** @internal A `runContext` enters the run (see `RunTable.enter`). */
  [runStarted](runId: string): void {
    this.#runs.enter(runId);
  }

  /** @internal A `runContext` left the run: when the last one leaves, its stream closes unless `keepOpen` (see `RunTable.leave`). */
  [runEnded](runId: string, keepOpen: boolean): void {
    this.#runs.leave(runId, keepOpen);
  }

  /**
   * @internal The bus stops being the process bus (`resetEventBus`): every
   * subscription ends with reason `'reset'` (what it had queued is still
   * delivered) and every listener is detached. Runs still executing on it go
   * on recording into its history.
   */
  [retire](): void {
    this.#listeners.clear();
    this.#subscribers.endAll(this.#runs.values(), 'reset');
  }

  /**
   * @internal Counts an event refused before publishing (a malformed `emit`,
   * a relayed event that does not pass) and tells `onError`; `key` groups
   * the process warnings of one kind of problem.
   */
  [reportRejected](error: unknown, event: StreamEvent, key?: string): void {
    this.#errors.reject(error, event, key);
  }

  #isValid(event: StreamEvent): boolean {
    try {
      // seq and eventId are assigned here, so check the event as it will look.
      parseStreamEvent({ ...event, seq: 1, eventId: event.eventId || 'pending' });
      return true;
    } catch (error) {
      this.#errors.reject(error, event);
      return false;
    }
  }
}

// Marks every EventBus with its copy's version, so that `isEventBus` knows one made by another copy of agentbus (see bus-protocol.ts).
Object.defineProperty(EventBus.prototype, busBrand, { value: VERSION });

