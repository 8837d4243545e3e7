/**
 * What a bus keeps of one run: its last events (a bounded history, for late
 * subscribers and for resuming readers), their size in bytes, its sequence,
 * its live subscribers, whether its stream is closed, and its place in the
 * order the bus gives runs up (`retention-order.ts`).
 */
import { ActivityLink } from './activity-list.js';
import type { StreamEvent } from './events.js';
import { FINISHED, type RetentionRank } from './retention-order.js';
import { Ring } from './ring.js';
import type { EndReason, QueueSubscription } from './subscription.js';

// Shared by every run without subscribers; never added to (see RunRecord.addSubscriber).
const NO_SUBSCRIBERS: Set<QueueSubscription> = new Set();

/** @internal One run retained by a bus (see `run-table.ts` for which runs are). */
export class RunRecord {
  readonly runId: string;
  // Most runs never have a subscriber: they share one empty set, and a run
  // gets its own on its first subscriber (a new run at the retention limit
  // is on the publish path; see bench/retention.bench.ts).
  #subscribers: Set<QueueSubscription> = NO_SUBSCRIBERS;
  seq: number;
  closed = false;
  /** `closeStream` was asked while the run executed: it closes when the run ends. */
  closeWhenDone = false;
  // Its place in the bus's RetentionOrder, which alone writes these.
  /** The tick of its last activity (published to, subscribed to); 0 until then. */
  lastActive = 0;
  /** The order runs were added in: among runs never active yet, the older goes first. */
  born = 0;
  /** Closed (given up first), finished, or executing (given up last). */
  rank: RetentionRank = FINISHED;
  /** Its place among the runs of its rank: the order of eviction. */
  readonly byActivity = new ActivityLink<RunRecord>(this);
  /** Its place among the runs of its rank that have history: the order of trimming. Unlinked while history is empty. */
  readonly byActivityWithHistory = new ActivityLink<RunRecord>(this);
  /** Bytes of the events in history. */
  bytes = 0;
  // History: the last `capacity` events, and their sizes in a second ring
  // that evicts in step. Seqs in it are contiguous, so lookups are arithmetic.
  readonly #events: Ring<StreamEvent>;
  readonly #sizes: Ring<number>;

  /** @param seq - The last seq the run used (0 for a new run; more for one that comes back). */
  constructor(runId: string, capacity: number, seq: number) {
    this.runId = runId;
    this.#events = new Ring(capacity);
    this.#sizes = new Ring(capacity);
    this.seq = seq;
  }

  /** The run's live subscribers (read-only: add and remove through the methods below). */
  get subscribers(): ReadonlySet<QueueSubscription> {
    return this.#subscribers;
  }

  /** Adds a live subscriber. */
  addSubscriber(sub: QueueSubscription): void {
    if (this.#subscribers === NO_SUBSCRIBERS) this.#subscribers = new Set();
    this.#subscribers.add(sub);
  }

  /** Removes a subscriber that ended (nothing if it is not one). */
  removeSubscriber(sub: QueueSubscription): void {
    this.#subscribers.delete(sub);
  }

  /** Events in history. */
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

  /** Ends every subscription to the run; each still delivers what it had queued. */
  endSubscribers(reason: EndReason): void {
    if (this.#subscribers.size === 0) return;
    // A copy: each end removes the subscriber from the set.
    for (const sub of [...this.#subscribers]) sub.end(reason, true);
  }
}
