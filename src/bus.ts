/**
 * The in-process event bus: a short history per run, live fan-out to
 * subscribers, and synchronous listeners for exporters.
 *
 * `publish` is synchronous, O(subscribers), never awaits and never throws into
 * the emitter: a slow subscriber loses its oldest events (and is told), a
 * throwing listener is caught and counted.
 */
import { EVENT_TYPE_PATTERN, isRunId, MAX_ID_LENGTH, parseStreamEvent, RUN_ID_RULE, type StreamEvent } from './events.js';
import { QueueSubscription, type EndReason, type Subscription } from './subscription.js';
import { positiveIntOption } from './options.js';
import { DEFAULT_MAX_EVENT_BYTES, writeJson } from './bounded-json.js';
import { plainJsonSize } from './plain-json.js';
import { PastRuns } from './past-runs.js';
import { Ring } from './ring.js';
import { runWrapped, type NamedStepWrapper } from './step-wrapping.js';
import { ListenerEntry, type BusListener, type StreamEndReason } from './listeners.js';
import { busRegistration } from './global.js';
import { isCompatibleVersion, VERSION } from './version.js';
import { warnOnce } from './warnings.js';
import type { RunLookup, RunSource } from './source.js';

export type { EndReason, Subscription } from './subscription.js';
export type { StepWrapper } from './step-wrapping.js';
export type { BusListener, StreamEndReason } from './listeners.js';

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

/** Bytes charged per event for its envelope (ids, type, timestamp), on top of the payload's JSON. */
export const EVENT_ENVELOPE_BYTES = 200;

class RunRecord {
  readonly runId: string;
  readonly subscribers = new Set<QueueSubscription>();
  seq: number;
  closed = false;
  /** `closeStream` was asked while the run executed: it closes when the run ends. */
  closeWhenDone = false;
  lastActive = 0;
  /** Bytes of the events in history. */
  bytes = 0;
  // History: the last `capacity` events, and their sizes in a second ring
  // that evicts in step. Seqs in it are contiguous, so lookups are arithmetic.
  readonly #events: Ring<StreamEvent>;
  readonly #sizes: Ring<number>;

  constructor(runId: string, capacity: number, seq: number) {
    this.runId = runId;
    this.#events = new Ring(capacity);
    this.#sizes = new Ring(capacity);
    this.seq = seq;
  }

  get length(): number {
    return this.#events.length;
  }

  /** Adds the newest event; returns the bytes of the oldest one it displaced (0 if none). */
  remember(event: StreamEvent, size: number): number {
    this.#events.push(event);
    const freed = this.#sizes.push(size) ?? 0;
    this.bytes += size - freed;
    return freed;
  }

  /** Removes the oldest event from history; returns its bytes. */
  dropOldest(): number {
    if (this.#events.shift() === undefined) return 0;
    const size = this.#sizes.shift() as number;
    this.bytes -= size;
    return size;
  }

  /** True when history holds an event with seq > afterSeq (seqs in it end at `seq`). */
  hasAfter(afterSeq: number): boolean {
    return this.#events.length > 0 && afterSeq < this.seq;
  }

  /** History with seq > afterSeq, oldest first. */
  historyAfter(afterSeq: number): StreamEvent[] {
    const firstSeq = this.seq - this.#events.length + 1;
    return this.#events.slice(afterSeq - firstSeq + 1);
  }
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
  readonly #historySize: number;
  readonly #maxRuns: number;
  readonly #highWaterMark: number;
  readonly #maxEventBytes: number;
  readonly #maxRunBytes: number;
  readonly #maxBytes: number;
  readonly #validate: boolean;
  readonly #onError: ((error: unknown, event: StreamEvent) => void) | undefined;
  readonly #runs = new Map<string, RunRecord>();
  readonly #all = new Set<QueueSubscription>();
  // Runs executing now (a `runContext` is inside them), with how many contexts are.
  readonly #executing = new Map<string, number>();
  readonly #past: PastRuns;
  #listeners: readonly ListenerEntry[] = [];
  #wrappers: readonly NamedStepWrapper[] = [];
  #listenersAdded = 0;
  #tick = 0;
  #published = 0;
  #droppedByEnded = 0;
  #listenerErrors = 0;
  #evicted = 0;
  #rejected = 0;
  #bytes = 0;
  #trimmed = 0;
  #cut = 0;
  #placeholders = 0;

  constructor(options: EventBusOptions = {}) {
    this.#historySize = positiveIntOption('EventBus', 'historySize', options.historySize, 500);
    this.#maxRuns = positiveIntOption('EventBus', 'maxRuns', options.maxRuns, 200);
    this.#highWaterMark = positiveIntOption('EventBus', 'highWaterMark', options.highWaterMark, 1024);
    this.#maxEventBytes = positiveIntOption('EventBus', 'maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES);
    this.#maxRunBytes = positiveIntOption('EventBus', 'maxRunBytes', options.maxRunBytes, 8 * 1024 * 1024);
    this.#maxBytes = positiveIntOption('EventBus', 'maxBytes', options.maxBytes, 64 * 1024 * 1024);
    if (this.#maxEventBytes < 1024) {
      throw new RangeError(`EventBus: maxEventBytes must be at least 1024, got ${this.#maxEventBytes}`);
    }
    // The newest event always fits, so a run never loses the event it just published.
    if (this.#maxRunBytes < this.#maxEventBytes + EVENT_ENVELOPE_BYTES || this.#maxBytes < this.#maxRunBytes) {
      throw new RangeError(
        `EventBus: byte limits must nest, maxEventBytes + ${EVENT_ENVELOPE_BYTES} <= maxRunBytes <= maxBytes; got ${this.#maxEventBytes}, ${this.#maxRunBytes}, ${this.#maxBytes}`,
      );
    }
    this.#validate = options.validate ?? false;
    this.#onError = options.onError;
    this.#past = new PastRuns(Math.max(1000, 10 * this.#maxRuns));
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
      this.#reject(error, event);
    }
  }

  #publish(event: StreamEvent): void {
    const problem = envelopeProblem(event);
    if (problem !== undefined) {
      this.#reject(new TypeError(`EventBus.publish: ${problem}; the event was not published`), event);
      return;
    }
    if (this.#validate && !this.#isValid(event)) return;
    let run = this.#runs.get(event.runId);
    if (run === undefined) {
      if (!isRunId(event.runId)) {
        this.#reject(new TypeError(`EventBus.publish: runId ${describeRunId(event.runId)} is not a run id (${RUN_ID_RULE}); the event was not published`), event);
        return;
      }
      run = this.#createRun(event.runId);
    } else if (run.closed) {
      this.#reject(new Error(`run ${event.runId} is closed; event ${event.eventType} was not published`), event, `closed:${event.eventType}`);
      return;
    }
    const size = this.#bound(event) + EVENT_ENVELOPE_BYTES;
    event.seq = ++run.seq;
    event.eventId = `${run.runId}:${event.seq}`;
    run.lastActive = ++this.#tick;
    this.#bytes += size - run.remember(event, size);
    if (run.bytes > this.#maxRunBytes || this.#bytes > this.#maxBytes) this.#trim(run);
    this.#published++;
    for (const sub of run.subscribers) sub.push(event);
    if (this.#all.size !== 0) for (const sub of this.#all) sub.push(event);
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i] as ListenerEntry;
      try {
        listener.onEvent.call(listener.self, event);
      } catch (error) {
        this.#listenerErrors++;
        this.#report(error, event);
      }
    }
  }

  /**
   * Makes `event.data` plain, bounded data and returns its size. The common
   * case (a small plain object) is one walk and no copy; anything else is
   * rewritten once here, so that no consumer ever meets the hostile value.
   */
  #bound(event: StreamEvent): number {
    const data: unknown = event.data;
    const size = plainJsonSize(data, this.#maxEventBytes);
    if (size >= 0 && typeof data === 'object' && data !== null && !Array.isArray(data)) return size;
    const { json, lossy } = writeJson(data, this.#maxEventBytes);
    const copy: unknown = JSON.parse(json);
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
      if (lossy) this.#cut++;
      event.data = copy;
      return json.length;
    }
    // Not an object at all (a revoked Proxy, a toJSON returning a string):
    // the event keeps its place in the sequence and says what it was.
    this.#placeholders++;
    const placeholder = {
      eventType: event.eventType,
      reason: `payload is not an object: ${json.length > 200 ? `${json.slice(0, 199)}…` : json}`,
    };
    event.eventType = 'stream.placeholder';
    event.data = placeholder;
    return 64 + placeholder.reason.length + placeholder.eventType.length;
  }

  /** Removes oldest history, first from the run over its own budget, then bus-wide by retention order. */
  #trim(run: RunRecord): void {
    while (run.bytes > this.#maxRunBytes && run.length > 1) {
      this.#bytes -= run.dropOldest();
      this.#trimmed++;
    }
    while (this.#bytes > this.#maxBytes) {
      const victim = this.#pickVictim((r) => r.length > (r === run ? 1 : 0));
      if (victim === undefined) return;
      this.#bytes -= victim.dropOldest();
      this.#trimmed++;
    }
  }

  /**
   * Subscribes to one run: registered at once, so nothing published after
   * this call is missed. Yields the retained history after `afterSeq`, then
   * live events, and ends when the run's stream is closed, evicted or
   * dropped, on `signal`, or on `close()`.
   *
   * @throws {TypeError} when `runId` is not a run id.
   */
  subscribe(runId: string, options: SubscribeOptions = {}): Subscription {
    let run = this.#runs.get(runId);
    if (run === undefined) {
      if (!isRunId(runId)) throw new TypeError(`EventBus.subscribe: runId ${describeRunId(runId)} is not a run id (${RUN_ID_RULE})`);
      run = this.#createRun(runId);
    }
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
    const entry = new ListenerEntry(listener, ++this.#listenersAdded);
    this.#setListeners([...this.#listeners, entry]);
    return () => {
      if (this.#listeners.includes(entry)) this.#setListeners(this.#listeners.filter((e) => e !== entry));
    };
  }

  #setListeners(listeners: readonly ListenerEntry[]): void {
    this.#listeners = listeners;
    this.#wrappers = listeners.flatMap((e) => (e.wrapper === undefined ? [] : [e.wrapper]));
  }

  /** True when some listener wraps step bodies. */
  get wrapsSteps(): boolean {
    return this.#wrappers.length !== 0;
  }

  /**
   * Runs `body` inside every listener's `wrapStep` (the first added
   * outermost), or directly when there is none. The body runs exactly once
   * and this returns or throws what it did, whatever the wrappers do (see
   * {@link BusListener.wrapStep}).
   */
  runStep<R>(start: StreamEvent, body: () => R): R {
    return runWrapped(this.#wrappers, start, body, this.#wrapperFault);
  }

  readonly #wrapperFault = (start: StreamEvent, error: unknown, misuse: boolean): void => {
    this.#listenerErrors++;
    if (misuse) warnOnce(warningText(error), warningText(error), 'AGENTBUS_LISTENER_MISUSE');
    this.#report(error, start);
  };

  /**
   * @internal A `runContext` enters the run: it counts as executing (evicted
   * after finished runs, its sequence never forgotten) and, if its stream
   * was closed, the stream opens again and the sequence continues.
   */
  runStarted(runId: string): void {
    this.#executing.set(runId, (this.#executing.get(runId) ?? 0) + 1);
    this.#past.pin(runId);
    const run = this.#runs.get(runId);
    if (run !== undefined && run.closed) {
      run.closed = false;
      run.closeWhenDone = false;
    }
  }

  /**
   * @internal A `runContext` left the run. When the last one leaves, the
   * run's stream closes (unless `keepOpen`), or if `closeStream` was asked
   * meanwhile, it closes now: after `run.completed`, never before.
   */
  runEnded(runId: string, keepOpen: boolean): void {
    const count = (this.#executing.get(runId) ?? 1) - 1;
    if (count > 0) {
      this.#executing.set(runId, count);
      return;
    }
    this.#executing.delete(runId);
    this.#past.unpin(runId);
    const run = this.#runs.get(runId);
    if (run !== undefined && (!keepOpen || run.closeWhenDone)) this.closeStream(runId);
  }

  /**
   * Closes a run's stream: subscribers receive what is queued, then end.
   * Later events for the run are rejected until a `runContext` enters it
   * again. Called while a `runContext` executes the run, it takes effect
   * when the run ends, after `run.completed`. Idempotent; unknown runs are
   * ignored.
   */
  closeStream(runId: string): void {
    const run = this.#runs.get(runId);
    if (run === undefined || run.closed) return;
    if (this.#executing.has(runId)) {
      run.closeWhenDone = true;
      return;
    }
    run.closed = true;
    for (const sub of [...run.subscribers]) sub.end('closed', true);
    this.#streamEnded(runId, 'closed');
  }

  /**
   * Forgets a run's recorded events now (for a user who must delete what was
   * recorded): its history is freed and its subscribers end with reason
   * `'dropped'`. Its sequence is remembered, so if the run publishes again its
   * event ids continue and are never reused. Returns false for unknown runs.
   */
  dropHistory(runId: string): boolean {
    const run = this.#runs.get(runId);
    if (run === undefined) return false;
    this.#remove(run, 'dropped');
    return true;
  }

  /** True when the bus retains the run (open or closed). */
  hasRun(runId: string): boolean {
    return this.#runs.has(runId);
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
    return [...this.#runs.values()].sort((a, b) => a.lastActive - b.lastActive).map((r) => r.runId);
  }

  /** Counters for health checks and tests. */
  stats(): EventBusStats {
    let subscribers = this.#all.size;
    let openStreams = 0;
    let dropped = this.#droppedByEnded;
    for (const sub of this.#all) dropped += sub.dropped;
    for (const run of this.#runs.values()) {
      subscribers += run.subscribers.size;
      if (!run.closed) openStreams++;
      for (const sub of run.subscribers) dropped += sub.dropped;
    }
    return {
      runs: this.#runs.size,
      openStreams,
      subscribers,
      published: this.#published,
      dropped,
      listenerErrors: this.#listenerErrors,
      evictedRuns: this.#evicted,
      rejected: this.#rejected,
      bytes: this.#bytes,
      trimmed: this.#trimmed,
      cut: this.#cut,
      placeholders: this.#placeholders,
    };
  }

  #createRun(runId: string): RunRecord {
    if (this.#runs.size >= this.#maxRuns) {
      const victim = this.#pickVictim(() => true);
      if (victim !== undefined) {
        this.#evicted++;
        this.#remove(victim, 'evicted');
      }
    }
    const run = new RunRecord(runId, this.#historySize, this.#past.take(runId));
    this.#runs.set(runId, run);
    return run;
  }

  /**
   * The run to give up first among those `eligible`: closed runs, then
   * finished ones, then runs still executing; least recently active first.
   * O(runs), paid only at the retention or byte limit.
   */
  #pickVictim(eligible: (run: RunRecord) => boolean): RunRecord | undefined {
    let victim: RunRecord | undefined;
    let victimRank = 3;
    for (const run of this.#runs.values()) {
      if (!eligible(run)) continue;
      const rank = run.closed ? 0 : this.#executing.has(run.runId) ? 2 : 1;
      if (victim === undefined || rank < victimRank || (rank === victimRank && run.lastActive < victim.lastActive)) {
        victim = run;
        victimRank = rank;
      }
    }
    return victim;
  }

  #remove(run: RunRecord, reason: 'evicted' | 'dropped'): void {
    this.#runs.delete(run.runId);
    this.#bytes -= run.bytes;
    this.#past.remember(run.runId, run.seq);
    for (const sub of [...run.subscribers]) sub.end(reason, true);
    // A closed run was already reported when it closed.
    if (!run.closed) this.#streamEnded(run.runId, reason);
  }

  #streamEnded(runId: string, reason: StreamEndReason): void {
    for (const entry of this.#listeners) {
      if (entry.onStreamEnd === undefined) continue;
      try {
        entry.onStreamEnd.call(entry.self, runId, reason);
      } catch (error) {
        this.#listenerErrors++;
        this.#report(error, { eventId: '', runId, seq: 0, eventType: 'stream.closed', timestamp: Date.now(), data: { reason } });
      }
    }
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
   * @internal The bus stops being the process bus ({@link resetEventBus}):
   * every subscription ends with reason `'reset'` (what it had queued is still
   * delivered) and every listener is detached. Runs still executing on it go
   * on recording into its history.
   */
  retire(): void {
    this.#setListeners([]);
    for (const sub of [...this.#all]) sub.end('reset', true);
    for (const run of this.#runs.values()) for (const sub of [...run.subscribers]) sub.end('reset', true);
  }

  /**
   * @internal Counts an event refused before publishing (a malformed `emit`)
   * and tells `onError`.
   */
  reportRejected(error: unknown, event: StreamEvent): void {
    this.#reject(error, event);
  }

  // With no onError to tell, the developer is told once per distinct problem
  // (`key`, by default the message) through a process warning.
  #reject(error: unknown, event: StreamEvent, key?: string): void {
    this.#rejected++;
    if (this.#onError === undefined) {
      const message = warningText(error);
      warnOnce(key ?? message, message);
      return;
    }
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

/** An error's message for a warning; never throws (the error may come from a hostile getter). */
function warningText(error: unknown): string {
  try {
    const text = error instanceof Error ? error.message : String(error);
    return text.length > 400 ? `${text.slice(0, 399)}…` : text;
  } catch {
    return 'an event was refused (its error could not be read)';
  }
}

// Event types already checked against the pattern (bounded: custom types are few in practice).
const checkedTypes = new Set<string>();

/** What is wrong with an event's envelope (not its payload), or undefined. Cheap: typeof checks. */
function envelopeProblem(event: StreamEvent): string | undefined {
  if (typeof event !== 'object' || event === null) return `event must be an object, got ${event === null ? 'null' : typeof event}`;
  const { eventType, timestamp, spanId, parentSpanId } = event;
  if (typeof eventType !== 'string' || eventType.length === 0 || eventType.length > MAX_ID_LENGTH) {
    return `eventType must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${typeof eventType === 'string' ? `${eventType.length} characters` : typeof eventType}`;
  }
  if (!checkedTypes.has(eventType)) {
    // Every reader validates the type (the SSE client, the bridge): one the pattern refuses would break them all.
    if (!EVENT_TYPE_PATTERN.test(eventType)) return `eventType ${JSON.stringify(eventType)} is not a dotted lowercase name like "myapp.cache.miss"`;
    if (checkedTypes.size < 10_000) checkedTypes.add(eventType);
  }
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return `timestamp must be a finite number, got ${String(typeof timestamp === 'number' ? timestamp : typeof timestamp)}`;
  if (spanId !== undefined && (typeof spanId !== 'string' || spanId.length === 0 || spanId.length > MAX_ID_LENGTH)) return `spanId must be undefined or a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  if (parentSpanId !== undefined && (typeof parentSpanId !== 'string' || parentSpanId.length === 0 || parentSpanId.length > MAX_ID_LENGTH)) {
    return `parentSpanId must be undefined or a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  }
  return undefined;
}

function describeRunId(runId: unknown): string {
  return typeof runId === 'string' ? JSON.stringify(runId.length > 40 ? `${runId.slice(0, 40)}…` : runId) : `of type ${typeof runId}`;
}

// Marks every EventBus with its copy's version, so that `isEventBus` knows one made by another copy of agentbus (see global.ts).
const BUS_BRAND = Symbol.for('agentbus.EventBus');
Object.defineProperty(EventBus.prototype, BUS_BRAND, { value: VERSION });

/**
 * @internal True for an `EventBus` of this copy of agentbus, or of another
 * copy loaded in the process whose version is compatible with this one (as
 * the process bus is shared, see `global.ts`). Never throws.
 */
export function isEventBus(value: unknown): value is EventBus {
  if (value instanceof EventBus) return true;
  if (typeof value !== 'object' || value === null) return false;
  try {
    const version = (value as { [BUS_BRAND]?: unknown })[BUS_BRAND];
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
    const version = (value as { [BUS_BRAND]?: unknown })[BUS_BRAND];
    if (typeof version === 'string') return `an EventBus of agentbus ${version.slice(0, 40)}, a version this one (${VERSION}) cannot use`;
    const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
    if (typeof name === 'string' && name !== '' && name !== 'Object') return `an instance of ${name.slice(0, 40)}`;
  } catch {
    // A hostile Proxy: it is an object, which is all we can say.
  }
  return 'a plain object';
}

/**
 * The process-wide bus, built on first use (the first event of the first
 * run). One per process: every copy of agentbus loaded in the process with
 * a compatible version shares it (it is registered on `globalThis`).
 */
export function getEventBus(): EventBus {
  const registration = busRegistration();
  return (registration.bus ??= new EventBus());
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
  const registration = busRegistration();
  const old = registration.bus;
  // Replaced first, so that whoever reacts to the end finds the new bus.
  registration.bus = next;
  old?.retire();
  return next;
}
