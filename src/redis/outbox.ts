/**
 * The backplane's outbox: what the bus published and Redis has not yet taken,
 * bounded, in publish order; and the ledger of what each run lost on the way,
 * so that its stream says so instead of silently skipping sequence numbers.
 *
 * The outbox is the only buffer between the agent and Redis. Pushing is O(1)
 * and, once the ring has grown to its capacity, allocates nothing: an event
 * goes into a {@link Ring} slot as the object the bus already holds (its JSON
 * is taken later, by the writer, usually already written for SSE: see
 * `event-json.ts`). When the ring is full the oldest event
 * is pushed out and handed back to the caller, which records it in the
 * {@link RunLedger}.
 *
 * A run's stream end (closed, or its history dropped) is queued beside the
 * ring with the position it happened at, so the writer sends it after every
 * event the run published before it and before any it publishes after (a run
 * whose stream closed may be entered again). Ends are few and never pushed out
 * by events: losing one would leave a reader waiting for a run that is over.
 */
import type { StreamEvent } from '../events.js';
import { Ring } from '../ring.js';
import type { EndMarkerReason } from './wire.js';

/**
 * A run's stream end waiting to be written. Ordered against events by `key`
 * (see {@link Outbox.eventKey}): it goes before the event at position
 * `key / 2` and after every earlier one.
 */
export interface PendingEnd {
  readonly runId: string;
  readonly reason: EndMarkerReason;
  /** When the stream ended, ms since epoch (the index entry's `at`). */
  readonly at: number;
  readonly key: number;
  /** The run's last seq, fixed by the first batch that writes the marker (0 until then). */
  lastSeq: number;
  /** Batches that tried to write it and lost the connection. */
  attempts: number;
}

/** A bounded FIFO of events (a ring that drops its oldest) plus the stream ends between them. */
export class Outbox {
  readonly #events: Ring<StreamEvent>;
  /** Position of the oldest event held: events are numbered 0, 1, 2 ... as pushed. */
  #first = 0;
  // Not a ring: an end whose write failed goes back to the front (`requeueEnd`).
  readonly #ends: (PendingEnd | undefined)[] = [];
  #endsHead = 0;
  readonly #maxEnds: number;

  constructor(capacity: number, maxEnds: number) {
    this.#events = new Ring(capacity);
    this.#maxEnds = maxEnds;
  }

  /** Events held at most. */
  get capacity(): number {
    return this.#events.capacity;
  }

  /** The ordering key of the event at `position`; an end queued before it has key `2 * position`. */
  static eventKey(position: number): number {
    return 2 * position + 1;
  }

  /** Events held. */
  get length(): number {
    return this.#events.length;
  }

  /** Position of the oldest event held (or of the next one pushed, when empty). */
  get first(): number {
    return this.#first;
  }

  /** Position the next pushed event gets. */
  get next(): number {
    return this.#first + this.#events.length;
  }

  /** Stream ends waiting. */
  get pendingEnds(): number {
    return this.#ends.length - this.#endsHead;
  }

  /** True when nothing waits. */
  get isEmpty(): boolean {
    return this.#events.length === 0 && this.#ends.length === this.#endsHead;
  }

  /** Adds the newest event; returns the oldest one when it had to make room for it. */
  push(event: StreamEvent): StreamEvent | undefined {
    const displaced = this.#events.push(event);
    if (displaced !== undefined) this.#first++;
    return displaced;
  }

  /** Takes the oldest event, or undefined when none is held. */
  shift(): StreamEvent | undefined {
    const event = this.#events.shift();
    if (event !== undefined) this.#first++;
    return event;
  }

  /**
   * Queues a run's stream end after every event pushed so far. Returns the
   * oldest waiting end when more than the bound wait (a long outage in which
   * very many runs ended): that one is given up.
   */
  pushEnd(runId: string, reason: EndMarkerReason, at: number): PendingEnd | undefined {
    this.#ends.push({ runId, reason, at, key: 2 * this.next, lastSeq: 0, attempts: 0 });
    return this.pendingEnds > this.#maxEnds ? this.#takeEnd() : undefined;
  }

  /** The oldest waiting end if every event pushed before it has left the ring, else undefined. */
  takeDueEnd(): PendingEnd | undefined {
    const end = this.#ends[this.#endsHead];
    return end !== undefined && end.key <= 2 * this.#first ? this.#takeEnd() : undefined;
  }

  /**
   * Puts back an end whose write failed, ahead of everything (it is older
   * than all that waits). Ends put back from one batch go back last first.
   */
  requeueEnd(end: PendingEnd): void {
    if (this.#endsHead > 0) this.#ends[--this.#endsHead] = end;
    else this.#ends.unshift(end);
  }

  /** The smallest ordering key still waiting (Infinity when nothing waits). */
  minKey(): number {
    const end = this.#ends[this.#endsHead];
    const eventKey = this.#events.length === 0 ? Infinity : Outbox.eventKey(this.#first);
    return end === undefined ? eventKey : Math.min(end.key, eventKey);
  }

  /** Empties the outbox; returns the events and ends it held (for the count of what was never written). */
  clear(): { events: number; ends: number } {
    const dropped = { events: this.#events.length, ends: this.pendingEnds };
    this.#first += this.#events.length;
    this.#events.clear();
    this.#ends.length = 0;
    this.#endsHead = 0;
    return dropped;
  }

  #takeEnd(): PendingEnd | undefined {
    const end = this.#ends[this.#endsHead];
    this.#ends[this.#endsHead++] = undefined;
    // Compact once the taken part dominates, so the array stays O(waiting).
    if (this.#endsHead > 64 && this.#endsHead * 2 > this.#ends.length) {
      this.#ends.splice(0, this.#endsHead);
      this.#endsHead = 0;
    }
    return end;
  }
}

/** What the writer knows of one run. */
export interface RunTrack {
  /** The highest seq of the run that left the outbox (written, or lost). */
  lastSeq: number;
  /** Events lost since the run's last written event, not yet announced by a gap marker (0: none). */
  lostCount: number;
  lostFrom: number;
  lostTo: number;
  /** The last batch that refreshed the stream's expiry. */
  batch: number;
}

/** A range of lost events of one run. */
export interface LostRange {
  readonly count: number;
  readonly fromSeq: number;
  readonly toSeq: number;
}

/**
 * Per run: its last seq (for the end marker's id) and the events it lost
 * since its last written one (for the gap marker). Bounded: past `capacity`
 * runs the least recently written one is forgotten and `onForget` is told (a
 * run forgotten with a loss pending cannot announce it any more). A run is
 * forgotten as soon as its end marker is written.
 */
export class RunLedger {
  readonly capacity: number;
  readonly #tracks = new Map<string, RunTrack>();
  readonly #onForget: (runId: string, track: RunTrack) => void;

  constructor(capacity: number, onForget: (runId: string, track: RunTrack) => void) {
    this.capacity = capacity;
    this.#onForget = onForget;
  }

  get size(): number {
    return this.#tracks.size;
  }

  get(runId: string): RunTrack | undefined {
    return this.#tracks.get(runId);
  }

  /** The run's track, made if it has none (forgetting the least recent run when full). */
  track(runId: string): RunTrack {
    let track = this.#tracks.get(runId);
    if (track === undefined) {
      if (this.#tracks.size >= this.capacity) {
        const [oldest, oldestTrack] = this.#tracks.entries().next().value as [string, RunTrack];
        this.#tracks.delete(oldest);
        this.#onForget(oldest, oldestTrack);
      }
      track = { lastSeq: 0, lostCount: 0, lostFrom: 0, lostTo: 0, batch: 0 };
      this.#tracks.set(runId, track);
    }
    return track;
  }

  /** Marks the run as the most recently written (it is forgotten last). */
  touch(runId: string, track: RunTrack): void {
    this.#tracks.delete(runId);
    this.#tracks.set(runId, track);
  }

  /** Records `count` events of the run, seqs `fromSeq`..`toSeq`, as lost. */
  lose(runId: string, count: number, fromSeq: number, toSeq: number): void {
    const track = this.track(runId);
    if (track.lostCount === 0) {
      track.lostFrom = fromSeq;
      track.lostTo = toSeq;
    } else {
      if (fromSeq < track.lostFrom) track.lostFrom = fromSeq;
      if (toSeq > track.lostTo) track.lostTo = toSeq;
    }
    track.lostCount += count;
    if (toSeq > track.lastSeq) track.lastSeq = toSeq;
  }

  /** The run's pending loss, cleared (the caller writes its gap marker), or undefined. */
  takeLoss(track: RunTrack): LostRange | undefined {
    if (track.lostCount === 0) return undefined;
    const range = { count: track.lostCount, fromSeq: track.lostFrom, toSeq: track.lostTo };
    track.lostCount = 0;
    return range;
  }

  forget(runId: string): void {
    this.#tracks.delete(runId);
  }
}
