/**
 * The bus's memory of runs: the runs it retains, within a count and two
 * byte budgets, which it gives up first when over one, and when each run's
 * stream opens, closes or ends.
 *
 * Closed runs go first, then finished ones, then runs still executing (a
 * `runContext` is inside them); least recently active first among each. A
 * run given up leaves its last `seq` with {@link PastRuns}, so that if it
 * comes back its sequence continues. A stream that ends without an event
 * (closed, evicted, dropped) ends its subscribers and is told to the
 * listeners. That order is a {@link RetentionOrder}, told here of every
 * change to what it is made of (activity, history, closing, executing).
 */
import type { StreamEvent } from './events.js';
import type { ListenerSet } from './listener-set.js';
import { PastRuns } from './past-runs.js';
import { CLOSED, EXECUTING, FINISHED, RetentionOrder, type RetentionRank } from './retention-order.js';
import { RunRecord } from './run-record.js';

/** @internal The limits a {@link RunTable} keeps within (see `EventBusOptions`). */
export interface RunLimits {
  readonly historySize: number;
  readonly maxRuns: number;
  readonly maxRunBytes: number;
  readonly maxBytes: number;
}

/** @internal The runs a bus retains, by id, with their bytes and who executes them. */
export class RunTable {
  readonly #historySize: number;
  readonly #maxRuns: number;
  readonly #maxRunBytes: number;
  readonly #maxBytes: number;
  readonly #listeners: ListenerSet;
  readonly #runs = new Map<string, RunRecord>();
  // Runs executing now (a `runContext` is inside them), with how many contexts are.
  readonly #executing = new Map<string, number>();
  readonly #past: PastRuns;
  readonly #order = new RetentionOrder();
  #bytes = 0;
  #trimmed = 0;
  #evicted = 0;

  constructor(limits: RunLimits, listeners: ListenerSet) {
    this.#historySize = limits.historySize;
    this.#maxRuns = limits.maxRuns;
    this.#maxRunBytes = limits.maxRunBytes;
    this.#maxBytes = limits.maxBytes;
    this.#listeners = listeners;
    this.#past = new PastRuns(Math.max(1000, 10 * limits.maxRuns));
  }

  /** Runs retained. */
  get size(): number {
    return this.#runs.size;
  }

  /** Bytes of history retained, all runs together. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Events removed from history, oldest first, to keep within the byte budgets. */
  get trimmed(): number {
    return this.#trimmed;
  }

  /** Runs given up to make room for new ones. */
  get evicted(): number {
    return this.#evicted;
  }

  get(runId: string): RunRecord | undefined {
    return this.#runs.get(runId);
  }

  /** The runs retained, in no promised order. */
  values(): IterableIterator<RunRecord> {
    return this.#runs.values();
  }

  /** Ids of the retained runs, least recently active first. */
  idsByActivity(): string[] {
    return [...this.#runs.values()].sort((a, b) => a.lastActive - b.lastActive).map((r) => r.runId);
  }

  /**
   * Starts retaining a run not retained now, first giving one up when at
   * `maxRuns`. Its sequence continues where it was left, if it was retained before.
   */
  add(runId: string): RunRecord {
    if (this.#runs.size >= this.#maxRuns) {
      const victim = this.#order.firstToEvict();
      if (victim !== undefined) {
        this.#evicted++;
        this.#remove(victim, 'evicted');
      }
    }
    const past = this.#past.take(runId);
    const run = new RunRecord(runId, this.#historySize, past?.seq ?? 0);
    // Given up closed, it comes back closed (see `closedBefore`).
    if (past?.closed === true) run.closed = true;
    this.#runs.set(runId, run);
    this.#order.add(run, this.#rankOf(run));
    return run;
  }

  /**
   * True when `runId`, not retained now, was given up with its stream closed
   * (and is still remembered exactly): its stream stays closed, as it would
   * have if it were retained, until a `runContext` enters it again.
   */
  closedBefore(runId: string): boolean {
    return this.#past.wasClosed(runId);
  }

  /** Marks the run as the most recently active. */
  touch(run: RunRecord): void {
    this.#order.touch(run);
  }

  /** Keeps a published event in its run's history, then trims history back within the byte budgets. */
  keep(run: RunRecord, event: StreamEvent, size: number): void {
    this.#bytes += size - run.remember(event, size);
    this.#order.kept(run);
    if (run.bytes > this.#maxRunBytes || this.#bytes > this.#maxBytes) this.#trim(run);
  }

  /** Closes a run's stream, or marks it to close when its last `runContext` leaves (see `EventBus.closeStream`). */
  close(runId: string): void {
    const run = this.#runs.get(runId);
    if (run === undefined || run.closed) return;
    if (this.#executing.has(runId)) {
      run.closeWhenDone = true;
      return;
    }
    run.closed = true;
    this.#order.rerank(run, CLOSED);
    run.endSubscribers('closed');
    this.#listeners.onStreamEnd(runId, 'closed');
  }

  /** Gives up a run now (see `EventBus.dropHistory`); false when it is not retained. */
  drop(runId: string): boolean {
    const run = this.#runs.get(runId);
    if (run === undefined) return false;
    this.#remove(run, 'dropped');
    return true;
  }

  /**
   * A `runContext` enters the run: it counts as executing (given up after
   * finished runs, its sequence never forgotten) and, if its stream was
   * closed, the stream opens again and the sequence continues.
   */
  enter(runId: string): void {
    this.#executing.set(runId, (this.#executing.get(runId) ?? 0) + 1);
    this.#past.pin(runId);
    const run = this.#runs.get(runId);
    if (run === undefined) {
      this.#past.reopen(runId);
      return;
    }
    if (run.closed) {
      run.closed = false;
      run.closeWhenDone = false;
    }
    this.#order.rerank(run, EXECUTING);
  }

  /**
   * A `runContext` left the run. When the last one leaves, the run's stream
   * closes (unless `keepOpen`), or if `close` was asked meanwhile, it closes
   * now: after `run.completed`, never before.
   */
  leave(runId: string, keepOpen: boolean): void {
    const count = (this.#executing.get(runId) ?? 1) - 1;
    if (count > 0) {
      this.#executing.set(runId, count);
      return;
    }
    this.#executing.delete(runId);
    this.#past.unpin(runId);
    const run = this.#runs.get(runId);
    if (run === undefined) return;
    if (!keepOpen || run.closeWhenDone) this.close(runId);
    else this.#order.rerank(run, this.#rankOf(run));
  }

  /** The rank the run's state gives it now (see `retention-order.ts`). */
  #rankOf(run: RunRecord): RetentionRank {
    return run.closed ? CLOSED : this.#executing.has(run.runId) ? EXECUTING : FINISHED;
  }

  #remove(run: RunRecord, reason: 'evicted' | 'dropped'): void {
    this.#runs.delete(run.runId);
    this.#order.remove(run);
    this.#bytes -= run.bytes;
    this.#past.remember(run.runId, run.seq, run.closed);
    run.endSubscribers(reason);
    // A closed run was already reported when it closed.
    if (!run.closed) this.#listeners.onStreamEnd(run.runId, reason);
  }

  /** Removes oldest history, first from the run over its own budget, then bus-wide by retention order. */
  #trim(run: RunRecord): void {
    while (run.bytes > this.#maxRunBytes && run.length > 1) {
      this.#bytes -= run.dropOldest();
      this.#trimmed++;
    }
    while (this.#bytes > this.#maxBytes) {
      const victim = this.#order.firstToTrim(run);
      if (victim === undefined) return;
      this.#bytes -= victim.dropOldest();
      this.#trimmed++;
      if (victim.length === 0) this.#order.emptied(victim);
    }
  }
}
