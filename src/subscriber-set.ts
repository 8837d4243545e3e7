/**
 * A bus's subscribers: those of one run (kept on its {@link RunRecord}) and
 * those of every run. What a new subscriber is replayed, the fan-out of
 * each published event to its queues, and what the subscribers lost, ended
 * ones included. Each queue is bounded on its own (`subscription.ts`): a slow
 * subscriber loses its oldest events and never slows `publish`.
 */
import type { SubscribeOptions } from './bus.js';
import type { StreamEvent } from './events.js';
import { nonNegativeIntOption, positiveIntOption, signalOption } from './options.js';
import type { RunRecord } from './run-record.js';
import { droppedEvent, QueueSubscription, type EndReason, type Subscription } from './subscription.js';

/** @internal What a subscribe call asked for, checked before anything is registered. */
export interface SubscribeRequest {
  readonly afterSeq: number;
  readonly highWaterMark: number | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * @internal Checks `options` of `owner` (`EventBus.subscribe`, `EventBus.subscribeAll`)
 * before the bus registers anything: a call refused halfway would leave a
 * subscriber (or a run) behind.
 * @throws {TypeError | RangeError} naming the option.
 */
export function subscribeRequest(owner: string, options: SubscribeOptions | undefined): SubscribeRequest {
  if (options === undefined) return { afterSeq: 0, highWaterMark: undefined, signal: undefined };
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${owner}: options must be an object or undefined, got ${options === null ? 'null' : typeof options}`);
  }
  const highWaterMark = options.highWaterMark;
  if (highWaterMark !== undefined) positiveIntOption(owner, 'highWaterMark', highWaterMark, 0);
  return {
    afterSeq: nonNegativeIntOption(owner, 'afterSeq', options.afterSeq, 0),
    highWaterMark,
    signal: signalOption(owner, 'signal', options.signal),
  };
}

/** @internal The subscribers of one bus. */
export class SubscriberSet {
  readonly #highWaterMark: number;
  readonly #all = new Set<QueueSubscription>();
  // Events lost by subscriptions that have ended.
  #droppedByEnded = 0;

  /** @param highWaterMark - The queue bound of a subscriber that does not choose its own. */
  constructor(highWaterMark: number) {
    this.#highWaterMark = highWaterMark;
  }

  /**
   * Subscribes to `run` (see `EventBus.subscribe`): its history after
   * `afterSeq`, then its live events. A resume from before the oldest event
   * retained starts with a `stream.dropped` for the events it cannot have.
   */
  ofRun(run: RunRecord, request: SubscribeRequest): Subscription {
    const { afterSeq } = request;
    const history = run.historyAfter(afterSeq);
    const firstKept = history.length > 0 ? (history[0] as StreamEvent).seq : run.seq + 1;
    const lost = afterSeq > 0 && firstKept > afterSeq + 1 ? droppedEvent(run.runId, firstKept - afterSeq - 1, afterSeq + 1, firstKept - 1) : undefined;
    const replay = history.length + (lost === undefined ? 0 : 1);
    // The replay is never cut by the queue bound: a late subscriber gets all
    // retained history (itself bounded by historySize), then the live bound applies.
    const sub = new QueueSubscription(Math.max(request.highWaterMark ?? this.#highWaterMark, replay), run.runId, (ended) => {
      run.removeSubscriber(ended);
      this.#droppedByEnded += ended.dropped;
    });
    if (lost !== undefined) sub.push(lost);
    for (const event of history) sub.push(event);
    if (run.closed) {
      sub.end('closed', true);
      return sub;
    }
    run.addSubscriber(sub);
    if (request.signal !== undefined) sub.bindSignal(request.signal);
    return sub;
  }

  /** Subscribes to the live events of every run (see `EventBus.subscribeAll`). */
  ofAll(request: SubscribeRequest): Subscription {
    const sub = new QueueSubscription(request.highWaterMark ?? this.#highWaterMark, undefined, (ended) => {
      this.#all.delete(ended);
      this.#droppedByEnded += ended.dropped;
    });
    this.#all.add(sub);
    if (request.signal !== undefined) sub.bindSignal(request.signal);
    return sub;
  }

  /** Queues `event` for the subscribers of its run, then for those of every run. */
  push(run: RunRecord, event: StreamEvent): void {
    // Most runs have no subscriber: skip making an iterator for an empty set.
    if (run.subscribers.size !== 0) for (const sub of run.subscribers) sub.push(event);
    if (this.#all.size !== 0) for (const sub of this.#all) sub.push(event);
  }

  /** Ends every subscription, of every run and of each of `runs`. */
  endAll(runs: Iterable<RunRecord>, reason: EndReason): void {
    for (const sub of [...this.#all]) sub.end(reason, true);
    for (const run of runs) run.endSubscribers(reason);
  }

  /** Live subscriptions (to every run, and to each of `runs`) and the events they lost, ended ones included. */
  tally(runs: Iterable<RunRecord>): { subscribers: number; dropped: number } {
    let subscribers = this.#all.size;
    let dropped = this.#droppedByEnded;
    for (const sub of this.#all) dropped += sub.dropped;
    for (const run of runs) {
      subscribers += run.subscribers.size;
      for (const sub of run.subscribers) dropped += sub.dropped;
    }
    return { subscribers, dropped };
  }
}
