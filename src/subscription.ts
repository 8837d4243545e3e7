/**
 * A subscriber's bounded queue, exposed as an async iterator.
 *
 * `push` is called synchronously from `EventBus.publish` and must never block
 * or throw: when the consumer falls behind, the oldest queued event is
 * dropped and the consumer later receives one synthetic `stream.dropped`
 * event that counts the loss, in the position of the gap.
 */
import { now } from './clock.js';
import type { StreamEvent } from './events.js';
import { Ring } from './ring.js';

/**
 * Why a subscription ended: its run's stream was closed, evicted by
 * retention or its history dropped (`dropHistory`); its signal aborted; it
 * was closed; or the bus stopped being the process bus (`resetEventBus`).
 */
export type EndReason = 'closed' | 'evicted' | 'dropped' | 'aborted' | 'unsubscribed' | 'reset';

/** A live view of one run (or of every run): history first, then live events. */
export interface Subscription extends AsyncIterableIterator<StreamEvent> {
  /** Ends the subscription now; queued events are discarded. Idempotent. */
  close(): void;
  /** Set once the subscription has ended: why it ended. */
  readonly endReason: EndReason | undefined;
  /** Events this subscriber lost to overflow, in total. */
  readonly dropped: number;
  /** Events waiting to be read; while it is above 0, `next()` resolves at once. */
  readonly queued: number;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** @internal The bus's implementation of {@link Subscription}. */
export class QueueSubscription implements Subscription {
  readonly #onEnd: (sub: QueueSubscription) => void;
  readonly #runId: string | undefined;
  // Bounded by the high-water mark; once full, a push pushes out the oldest
  // event, so a stalled reader costs O(1) per event and no allocation.
  readonly #queue: Ring<StreamEvent>;
  #waiting: ((result: IteratorResult<StreamEvent>) => void) | undefined;
  #endReason: EndReason | undefined;
  #dropped = 0;
  #gapCount = 0;
  #gapFrom = 0;
  #gapTo = 0;
  #gapRunId = '';
  #unbindSignal: (() => void) | undefined;
  // False for a subclass that watches its reads through next() (the Redis reader pulls the
  // next page of history when a read makes room): take() must not read behind its back.
  readonly #takes: boolean;

  constructor(highWaterMark: number, runId: string | undefined, onEnd: (sub: QueueSubscription) => void) {
    this.#queue = new Ring(highWaterMark);
    this.#runId = runId;
    this.#onEnd = onEnd;
    this.#takes = new.target.prototype.next === QueueSubscription.prototype.next;
  }

  get endReason(): EndReason | undefined {
    return this.#endReason;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Number of events waiting to be read. */
  get queued(): number {
    return this.#queue.length;
  }

  push(event: StreamEvent): void {
    if (this.#endReason !== undefined) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting({ value: event, done: false });
      return;
    }
    // At the high-water mark the oldest queued event gives its place to the newest.
    const lost = this.#queue.push(event);
    if (lost !== undefined) this.#recordLoss(lost);
  }

  #recordLoss(lost: StreamEvent): void {
    if (this.#gapCount === 0) this.#gapFrom = lost.seq;
    this.#gapTo = lost.seq;
    this.#gapRunId = lost.runId;
    this.#gapCount++;
    this.#dropped++;
  }

  #takeGapReport(): StreamEvent {
    const count = this.#gapCount;
    this.#gapCount = 0;
    // Sequence numbers only describe the gap within one run, not in an all-runs stream.
    return droppedEvent(this.#runId ?? this.#gapRunId, count, this.#gapFrom, this.#gapTo, this.#runId !== undefined);
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    if (this.#gapCount > 0) return Promise.resolve({ value: this.#takeGapReport(), done: false });
    const event = this.#queue.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.#endReason !== undefined) return Promise.resolve(DONE);
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  /**
   * The event `next()` would resolve with at once, read without a promise:
   * the pending `stream.dropped` report first, then the oldest queued event.
   * `undefined` when there is none (`next()` would wait, or report the end),
   * and always for a subclass that overrides `next()`: read those with
   * `next()`. Lets a writer take a backlog in one synchronous pass.
   */
  take(): StreamEvent | undefined {
    if (!this.#takes) return undefined;
    if (this.#gapCount > 0) return this.#takeGapReport();
    return this.#queue.shift();
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  close(): void {
    this.end('unsubscribed', false);
  }

  /** Ends the subscription when `signal` aborts; the listener is removed when it ends first. */
  bindSignal(signal: AbortSignal): void {
    if (signal.aborted) {
      this.end('aborted', false);
      return;
    }
    const onAbort = () => this.end('aborted', false);
    signal.addEventListener('abort', onAbort, { once: true });
    this.#unbindSignal = () => signal.removeEventListener('abort', onAbort);
  }

  /**
   * Ends the subscription. With `drain`, events already queued are still
   * delivered before the iterator reports done.
   */
  end(reason: EndReason, drain: boolean): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    if (!drain) {
      this.#queue.clear();
      this.#gapCount = 0;
    }
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) waiting(DONE);
    this.#unbindSignal?.();
    this.#unbindSignal = undefined;
    this.#onEnd(this);
  }
}

/**
 * @internal The `stream.dropped` event telling a reader that `count` events
 * of `runId`, seqs `fromSeq`..`toSeq`, never reached it (`seq` 0: it has no
 * position in the run of its own). Slow subscribers get it, and so do readers
 * of a backplane with a gap; `withSeqs` false leaves the seqs out of `data`,
 * for an all-runs stream where they span several runs.
 */
export function droppedEvent(runId: string, count: number, fromSeq: number, toSeq: number, withSeqs = true): StreamEvent {
  return {
    eventId: `${runId}:dropped:${fromSeq}-${toSeq}`,
    runId,
    seq: 0,
    eventType: 'stream.dropped',
    timestamp: now(),
    spanId: undefined,
    parentSpanId: undefined,
    data: withSeqs ? { count, fromSeq, toSeq } : { count },
  };
}
