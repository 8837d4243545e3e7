/**
 * The in-process event bus: a short history per run, live fan-out to
 * subscribers, and synchronous listeners for exporters.
 *
 * `publish` is synchronous, O(subscribers), never awaits and never throws into
 * the emitter: a slow subscriber loses its oldest events (and is told), a
 * throwing listener is caught and counted.
 */
import { parseStreamEvent, type StreamEvent } from './events.js';
import { QueueSubscription, type EndReason, type Subscription } from './subscription.js';
import { positiveIntOption } from './options.js';

export type { EndReason, Subscription } from './subscription.js';

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
  /** Told about listener errors and rejected events; it must not throw. Default: nothing (they are counted). */
  onError?: (error: unknown, event: StreamEvent) => void;
}

/** Options of {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** Replay only history with `seq` greater than this (an SSE `Last-Event-ID`). Default 0: all history. */
  afterSeq?: number;
  /** Queue bound for this subscriber. Default: the bus's `highWaterMark`. */
  highWaterMark?: number;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
}

/** A synchronous listener, called inside `publish` for every event of every run. */
export type BusListener = (event: StreamEvent) => void;

/**
 * Runs the body of a step (a tool call, a model call, an agent invocation) in
 * a context the listener chooses, like a `TracingChannel` subscriber binding
 * its store. It must call `body` exactly once and return its result.
 */
export type StepWrapper = <R>(start: StreamEvent, body: () => R) => R;

/** Options of {@link EventBus.addListener}. */
export interface ListenerOptions {
  /** Wraps the body of every step opened after the listener was added. */
  wrapStep?: StepWrapper;
  /**
   * Told when a run's stream ends without an event: `closeStream` (`'closed'`)
   * or retention (`'evicted'`). Exporters use it to finish what the run left
   * open. Errors are caught and counted like the listener's.
   */
  onStreamEnd?: (runId: string, reason: 'closed' | 'evicted') => void;
}

/** Counters reported by {@link EventBus.stats}. */
export interface EventBusStats {
  /** Runs retained. */
  runs: number;
  /** Retained runs whose stream is not closed. */
  openRuns: number;
  /** Live subscriptions, per-run and all-runs. */
  subscribers: number;
  /** Events accepted by `publish`. */
  published: number;
  /** Events lost by slow subscribers, summed over subscribers. */
  dropped: number;
  /** Errors thrown by listeners and step wrappers (caught). */
  listenerErrors: number;
  /** Runs evicted by the retention limit. */
  evictedRuns: number;
  /** Events refused: invalid (with `validate`) or published to a closed run. */
  rejected: number;
}

class RunRecord {
  readonly runId: string;
  readonly subscribers = new Set<QueueSubscription>();
  seq = 0;
  closed = false;
  lastActive = 0;
  // Ring buffer of the last `capacity` events; `start` is the oldest slot.
  readonly #ring: StreamEvent[] = [];
  #start = 0;
  readonly #capacity: number;

  constructor(runId: string, capacity: number) {
    this.runId = runId;
    this.#capacity = capacity;
  }

  remember(event: StreamEvent): void {
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(event);
      return;
    }
    this.#ring[this.#start] = event;
    this.#start = this.#start + 1 === this.#capacity ? 0 : this.#start + 1;
  }

  /** History with seq > afterSeq, oldest first. Seqs are contiguous, so the offset is arithmetic. */
  historyAfter(afterSeq: number): StreamEvent[] {
    const size = this.#ring.length;
    const firstSeq = this.seq - size + 1;
    const skip = Math.max(0, Math.min(size, afterSeq - firstSeq + 1));
    const out: StreamEvent[] = [];
    for (let i = skip; i < size; i++) out.push(this.#ring[(this.#start + i) % size] as StreamEvent);
    return out;
  }
}

interface ListenerEntry {
  listener: BusListener;
  wrapStep: StepWrapper | undefined;
  onStreamEnd: ((runId: string, reason: 'closed' | 'evicted') => void) | undefined;
}

/**
 * Keeps the last events of recent runs and streams them to subscribers.
 *
 * Most code uses the process-wide instance from {@link getEventBus}; a bus of
 * one's own is useful in tests.
 */
export class EventBus {
  readonly #historySize: number;
  readonly #maxRuns: number;
  readonly #highWaterMark: number;
  readonly #validate: boolean;
  readonly #onError: ((error: unknown, event: StreamEvent) => void) | undefined;
  readonly #runs = new Map<string, RunRecord>();
  readonly #all = new Set<QueueSubscription>();
  #listeners: readonly ListenerEntry[] = [];
  #wrappers: readonly StepWrapper[] = [];
  #tick = 0;
  #published = 0;
  #droppedByEnded = 0;
  #listenerErrors = 0;
  #evicted = 0;
  #rejected = 0;

  constructor(options: EventBusOptions = {}) {
    this.#historySize = positiveIntOption('EventBus', 'historySize', options.historySize, 500);
    this.#maxRuns = positiveIntOption('EventBus', 'maxRuns', options.maxRuns, 200);
    this.#highWaterMark = positiveIntOption('EventBus', 'highWaterMark', options.highWaterMark, 1024);
    this.#validate = options.validate ?? false;
    this.#onError = options.onError;
  }

  /**
   * Publishes one event: the bus assigns its `seq` (1, 2, 3 ... per run) and
   * its `eventId`, keeps it in the run's history, queues it for every
   * subscriber and calls every listener. Never throws.
   */
  publish(event: StreamEvent): void {
    if (this.#validate && !this.#isValid(event)) return;
    let run = this.#runs.get(event.runId);
    if (run === undefined) run = this.#createRun(event.runId);
    else if (run.closed) {
      this.#reject(new Error(`run ${event.runId} is closed; event ${event.eventType} was not published`), event);
      return;
    }
    event.seq = ++run.seq;
    event.eventId = `${run.runId}:${event.seq}`;
    run.lastActive = ++this.#tick;
    run.remember(event);
    this.#published++;
    for (const sub of run.subscribers) sub.push(event);
    if (this.#all.size !== 0) for (const sub of this.#all) sub.push(event);
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        (listeners[i] as ListenerEntry).listener(event);
      } catch (error) {
        this.#listenerErrors++;
        this.#report(error, event);
      }
    }
  }

  /**
   * Subscribes to one run: registered at once, so nothing published after
   * this call is missed. Yields the retained history after `afterSeq`, then
   * live events, and ends when the run's stream is closed or evicted, on
   * `signal`, or on `close()`.
   */
  subscribe(runId: string, options: SubscribeOptions = {}): Subscription {
    let run = this.#runs.get(runId);
    if (run === undefined) run = this.#createRun(runId);
    run.lastActive = ++this.#tick;
    const record = run;
    const history = run.historyAfter(options.afterSeq ?? 0);
    // The replay is never cut by the queue bound: a late subscriber gets all
    // retained history (itself bounded by historySize), then the live bound applies.
    const sub = new QueueSubscription(
      Math.max(positiveIntOption('EventBus.subscribe', 'highWaterMark', options.highWaterMark, this.#highWaterMark), history.length),
      runId,
      (ended) => {
        record.subscribers.delete(ended);
        this.#droppedByEnded += ended.dropped;
      },
    );
    for (const event of history) sub.push(event);
    if (run.closed) {
      sub.end('closed', true);
      return sub;
    }
    run.subscribers.add(sub);
    if (options.signal !== undefined) sub.bindSignal(options.signal);
    return sub;
  }

  /** Subscribes to the live events of every run (no history). */
  subscribeAll(options: Omit<SubscribeOptions, 'afterSeq'> = {}): Subscription {
    const sub = new QueueSubscription(
      positiveIntOption('EventBus.subscribeAll', 'highWaterMark', options.highWaterMark, this.#highWaterMark),
      undefined,
      (ended) => {
        this.#all.delete(ended);
        this.#droppedByEnded += ended.dropped;
      },
    );
    this.#all.add(sub);
    if (options.signal !== undefined) sub.bindSignal(options.signal);
    return sub;
  }

  /**
   * Adds a synchronous listener, called inside `publish` for every event
   * (exporters such as the OpenTelemetry bridge). Its errors are caught and
   * counted. Returns a function that removes it.
   */
  addListener(listener: BusListener, options: ListenerOptions = {}): () => void {
    const entry: ListenerEntry = { listener, wrapStep: options.wrapStep, onStreamEnd: options.onStreamEnd };
    this.#listeners = [...this.#listeners, entry];
    this.#rebuildWrappers();
    return () => {
      this.#listeners = this.#listeners.filter((e) => e !== entry);
      this.#rebuildWrappers();
    };
  }

  /** True when some listener wraps step bodies. */
  get wrapsSteps(): boolean {
    return this.#wrappers.length !== 0;
  }

  /**
   * Runs `body` inside every listener's `wrapStep` (outermost first), or
   * directly when there is none. A wrapper that throws before calling the
   * body is counted and skipped: the body always runs exactly once.
   */
  runStep<R>(start: StreamEvent, body: () => R): R {
    const wrappers = this.#wrappers;
    if (wrappers.length === 0) return body();
    let inner: () => R = body;
    for (let i = wrappers.length - 1; i >= 0; i--) {
      const wrapper = wrappers[i] as StepWrapper;
      const next = inner;
      inner = () => {
        let called = false;
        try {
          return wrapper(start, () => {
            called = true;
            return next();
          });
        } catch (error) {
          if (called) throw error;
          this.#listenerErrors++;
          this.#report(error, start);
          return next();
        }
      };
    }
    return inner();
  }

  /**
   * Closes a run's stream: subscribers receive what is queued, then end.
   * Later events for the run are rejected. Idempotent; unknown runs are ignored.
   */
  closeStream(runId: string): void {
    const run = this.#runs.get(runId);
    if (run === undefined || run.closed) return;
    run.closed = true;
    for (const sub of [...run.subscribers]) sub.end('closed', true);
    this.#streamEnded(runId, 'closed');
  }

  /** True when the bus retains the run (open or closed). */
  hasRun(runId: string): boolean {
    return this.#runs.has(runId);
  }

  /** True when the run is retained and its stream was closed. */
  isClosed(runId: string): boolean {
    return this.#runs.get(runId)?.closed ?? false;
  }

  /** The retained history of a run, oldest first (empty for unknown runs). */
  history(runId: string, afterSeq = 0): StreamEvent[] {
    return this.#runs.get(runId)?.historyAfter(afterSeq) ?? [];
  }

  /** Ids of the retained runs, least recently active first. */
  runIds(): string[] {
    return [...this.#runs.values()].sort((a, b) => a.lastActive - b.lastActive).map((r) => r.runId);
  }

  /** Counters for health checks and tests. */
  stats(): EventBusStats {
    let subscribers = this.#all.size;
    let openRuns = 0;
    let dropped = this.#droppedByEnded;
    for (const sub of this.#all) dropped += sub.dropped;
    for (const run of this.#runs.values()) {
      subscribers += run.subscribers.size;
      if (!run.closed) openRuns++;
      for (const sub of run.subscribers) dropped += sub.dropped;
    }
    return {
      runs: this.#runs.size,
      openRuns,
      subscribers,
      published: this.#published,
      dropped,
      listenerErrors: this.#listenerErrors,
      evictedRuns: this.#evicted,
      rejected: this.#rejected,
    };
  }

  #createRun(runId: string): RunRecord {
    if (this.#runs.size >= this.#maxRuns) this.#evictOne();
    const run = new RunRecord(runId, this.#historySize);
    this.#runs.set(runId, run);
    return run;
  }

  // O(maxRuns), paid only when a new run arrives at the limit.
  #evictOne(): void {
    let victim: RunRecord | undefined;
    for (const run of this.#runs.values()) {
      if (
        victim === undefined ||
        (run.closed && !victim.closed) ||
        (run.closed === victim.closed && run.lastActive < victim.lastActive)
      ) {
        victim = run;
      }
    }
    if (victim === undefined) return;
    this.#runs.delete(victim.runId);
    this.#evicted++;
    for (const sub of [...victim.subscribers]) sub.end('evicted', true);
    // A closed run was already reported when it closed.
    if (!victim.closed) this.#streamEnded(victim.runId, 'evicted');
  }

  #streamEnded(runId: string, reason: 'closed' | 'evicted'): void {
    for (const entry of this.#listeners) {
      if (entry.onStreamEnd === undefined) continue;
      try {
        entry.onStreamEnd(runId, reason);
      } catch (error) {
        this.#listenerErrors++;
        this.#report(error, { eventId: '', runId, seq: 0, eventType: 'stream.closed', timestamp: Date.now(), data: { reason } });
      }
    }
  }

  #rebuildWrappers(): void {
    this.#wrappers = this.#listeners.flatMap((e) => (e.wrapStep === undefined ? [] : [e.wrapStep]));
  }

  #isValid(event: StreamEvent): boolean {
    try {
      // seq and eventId are assigned here, so check the event as it will look.
      parseStreamEvent({ ...event, seq: 1, eventId: event.eventId || 'pending' });
      return true;
    } catch (error) {
      this.#reject(error, event);
      return false;
    }
  }

  /**
   * @internal Counts an event refused before publishing (a malformed `emit`)
   * and tells `onError`.
   */
  reportRejected(error: unknown, event: StreamEvent): void {
    this.#reject(error, event);
  }

  #reject(error: unknown, event: StreamEvent): void {
    this.#rejected++;
    this.#report(error, event);
  }

  #report(error: unknown, event: StreamEvent): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error, event);
    } catch {
      // onError must not throw; if it does, the emitter is still protected.
    }
  }
}

let instance: EventBus | undefined;

/** The process-wide bus, built on first use (the first event of the first run). */
export function getEventBus(): EventBus {
  return (instance ??= new EventBus());
}

/** The process-wide bus if it has been built, else `undefined`. Never builds it. */
export function peekEventBus(): EventBus | undefined {
  return instance;
}

/**
 * Replaces the process-wide bus (tests): with options, a new bus is built now;
 * without, the next use builds a default one. Subscribers of the old bus are
 * not ended.
 */
export function resetEventBus(options?: EventBusOptions): EventBus | undefined {
  instance = options === undefined ? undefined : new EventBus(options);
  return instance;
}
