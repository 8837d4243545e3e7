/**
 * One subscription to one run read from Redis: its history first, page by
 * page at the subscriber's pace (XRANGE on the command connection), then
 * live through the shared {@link StreamFollower}. One position, the id of the
 * last entry delivered, carries across the switch, so no entry is skipped or
 * delivered twice however entries interleave with the reads.
 */
import type { StreamEvent } from '../events.js';
import { droppedEvent, QueueSubscription } from '../subscription.js';
import { compareEntryIds, type FollowReader } from './follower.js';
import { seqOfEntryId, type RunEntry } from './wire.js';

/**
 * A {@link QueueSubscription} that says when its reader has made room, so
 * that history is pulled from Redis only as fast as it is read: a long
 * history never overflows the queue, and a subscriber that stops reading
 * costs one page of memory, not the stream.
 */
export class PagedSubscription extends QueueSubscription {
  #wake: (() => void) | undefined;

  /** Resolves once `size` more events fit under `highWaterMark`, or the subscription has ended. */
  room(size: number, highWaterMark: number): Promise<void> | undefined {
    if (this.endReason !== undefined || this.queued + size <= highWaterMark) return undefined;
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  override next(): Promise<IteratorResult<StreamEvent>> {
    const result = super.next();
    this.#release();
    return result;
  }

  override end(reason: Parameters<QueueSubscription['end']>[0], drain: boolean): void {
    super.end(reason, drain);
    this.#release();
  }
}

/** The state of one per-run subscription; it is offered entries by its history reads and by the follower. */
export class RunReader implements FollowReader<RunEntry> {
  readonly runId: string;
  readonly key: string;
  readonly sub: PagedSubscription;
  readonly highWaterMark: number;
  /** The id of the last entry delivered (or the resume point): everything up to it is behind. */
  position: string;
  /** True once the reader reads live (it is in the follower). */
  live = false;
  // The seq the next event should carry, once this subscription has delivered one.
  #expected: number | undefined;

  constructor(runId: string, key: string, afterSeq: number, sub: PagedSubscription, highWaterMark: number) {
    this.runId = runId;
    this.key = key;
    this.sub = sub;
    this.highWaterMark = highWaterMark;
    this.position = afterSeq > 0 ? `${afterSeq}-1` : '0-0';
  }

  get ended(): boolean {
    return this.sub.endReason !== undefined;
  }

  offer(id: string, entry: RunEntry): void {
    if (this.ended || compareEntryIds(id, this.position) <= 0) return;
    this.position = id;
    switch (entry.kind) {
      case 'invalid':
        return;
      case 'end':
        // Queued events are still read before the iterator is done.
        this.sub.end(entry.reason, true);
        return;
      case 'event': {
        const seq = entry.event.seq;
        if (seq === 0) {
          // A gap marker: it reports the loss up to the event it precedes.
          this.#expected = seqOfEntryId(id);
        } else {
          // Entries this subscription had not read yet went missing (trimmed from the stream
          // while it lagged, or unreadable): say so, as the bus says what a slow reader lost.
          const expected = this.#expected;
          if (expected !== undefined && seq > expected) this.sub.push(droppedEvent(this.runId, seq - expected, expected, seq - 1));
          this.#expected = seq + 1;
        }
        this.sub.push(entry.event);
      }
    }
  }
}
