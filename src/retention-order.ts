/**
 * The order in which a bus gives runs up, kept as it changes, never searched
 * for: closed runs first, then finished ones, then runs still executing
 * (see {@link RetentionRank}); least recently active first among each.
 *
 * Each rank has its runs in an {@link ActivityList}, and in a second one
 * those that have history: the runs trimming may take an event from, so
 * that runs with nothing to give are never looked at. Activity moves a run
 * to the end of its lists (O(1), for every published event); the run to
 * give up is the first of the lowest rank not empty (O(1)).
 *
 * A run changing rank (it closes, opens again, starts or stops executing)
 * keeps its last activity, which need not be the latest, so it is placed
 * among its new rank's runs by it: a step or two when it was just active
 * (a `runContext` that ends right after `run.completed`) or idle longest,
 * at worst half of that rank's runs (a `closeStream` on a run whose last
 * activity falls amid those of many runs closed around it).
 */
import { ActivityList } from './activity-list.js';
import type { RunRecord } from './run-record.js';

/** @internal Rank of a closed run: given up first. */
export const CLOSED = 0;
/** @internal Rank of a finished run (not executing, not closed): given up next. */
export const FINISHED = 1;
/** @internal Rank of a run still executing (a `runContext` is inside it): given up last. */
export const EXECUTING = 2;
/** @internal Where a run stands in the order a bus gives runs up. */
export type RetentionRank = typeof CLOSED | typeof FINISHED | typeof EXECUTING;

type ByRank = readonly [ActivityList<RunRecord>, ActivityList<RunRecord>, ActivityList<RunRecord>];

function byRank(): ByRank {
  return [new ActivityList(), new ActivityList(), new ActivityList()];
}

/** @internal The runs of a bus in the order it gives them up (see the module comment). */
export class RetentionOrder {
  // A run is in `#all[run.rank]`, and in `#withHistory[run.rank]` exactly while it has history.
  readonly #all = byRank();
  readonly #withHistory = byRank();
  #tick = 0;
  #born = 0;

  /** Orders a run just added, never active yet: before the runs that were. */
  add(run: RunRecord, rank: RetentionRank): void {
    run.born = ++this.#born;
    run.rank = rank;
    // After the runs never active either: none, unless a publish failed after adding its run.
    this.#all[rank].insert(run.byActivity);
  }

  /** Marks the run as the most recently active. */
  touch(run: RunRecord): void {
    run.lastActive = ++this.#tick;
    this.#all[run.rank].moveLast(run.byActivity);
    if (run.length > 0) this.#withHistory[run.rank].moveLast(run.byActivityWithHistory);
  }

  /**
   * {@link touch} for a run that just kept an event, so has history: the
   * publish path, where not asking saves a few ns per event.
   */
  kept(run: RunRecord): void {
    run.lastActive = ++this.#tick;
    this.#all[run.rank].moveLast(run.byActivity);
    this.#withHistory[run.rank].moveLast(run.byActivityWithHistory);
  }

  /** Moves the run among the runs of `rank`, if that is not its rank already. */
  rerank(run: RunRecord, rank: RetentionRank): void {
    if (rank === run.rank) return;
    run.rank = rank;
    this.#all[rank].insert(run.byActivity);
    if (run.length > 0) this.#withHistory[rank].insert(run.byActivityWithHistory);
  }

  /** The run lost the last event of its history: trimming passes it by from now on. */
  emptied(run: RunRecord): void {
    run.byActivityWithHistory.unlink();
  }

  /** Forgets the run: it is no longer retained. */
  remove(run: RunRecord): void {
    run.byActivity.unlink();
    run.byActivityWithHistory.unlink();
  }

  /** The run to give up to make room for another, or undefined when there is none. O(1). */
  firstToEvict(): RunRecord | undefined {
    const all = this.#all;
    return all[CLOSED].first ?? all[FINISHED].first ?? all[EXECUTING].first;
  }

  /**
   * The run to take the oldest event from when trimming for `trimming`'s
   * sake: the first with history, `trimming` itself only while it keeps its
   * newest event. O(1).
   */
  firstToTrim(trimming: RunRecord): RunRecord | undefined {
    for (const list of this.#withHistory) {
      const first = list.first;
      const run = first === trimming && trimming.length <= 1 ? list.second : first;
      if (run !== undefined) return run;
    }
    return undefined;
  }
}
