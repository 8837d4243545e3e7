/**
 * What an SSE handler reads runs from: the in-process bus, or a reader of a
 * backplane shared by several processes (`agentbus/redis`). Both offer the
 * bus's `subscribe` semantics (history after a sequence number, then live,
 * ending when the run's stream ends), so the handler, its resume and its
 * backpressure are the same whichever serves the run.
 */
import type { SubscribeOptions } from './bus.js';
import type { StreamEvent } from './events.js';
import type { Subscription } from './subscription.js';

/**
 * What a source knows of a run when a request for it arrives:
 * - `'unknown'`: no such run (the handler answers 404);
 * - `'finished'`: its stream ended and nothing is left after the given
 *   sequence number (204, which stops a browser's reconnecting);
 * - `'available'`: history after that number, or a live stream, or both.
 */
export type RunLookup = 'unknown' | 'finished' | 'available';

/** A run as a source retains it, for a listing (the SSE handler's `GET /runs`). */
export interface RetainedRun {
  readonly runId: string;
  /** Its retained events, oldest first (the newest ones when its history was cut). */
  readonly events: readonly StreamEvent[];
  /** True while its stream is open. */
  readonly open: boolean;
}

/** A source of run streams; {@link EventBus} is one. */
export interface RunSource {
  /** What the source knows of `runId` for a reader that has every event up to `afterSeq`. */
  lookup(runId: string, afterSeq: number): RunLookup | Promise<RunLookup>;
  /** The run's events after `options.afterSeq`, then its live events, until its stream ends. */
  subscribe(runId: string, options?: SubscribeOptions): Subscription;
  /** The live events of every run (no history). */
  subscribeAll(options?: Omit<SubscribeOptions, 'afterSeq'>): Subscription;
  /**
   * Optional: the runs retained now, most recently active first, each with
   * its retained events; read only when a console lists runs (`GET /runs`
   * answers 501 for a source without it).
   */
  retainedRuns?(): RetainedRun[] | Promise<RetainedRun[]>;
}
