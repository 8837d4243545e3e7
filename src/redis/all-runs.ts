/**
 * The all-runs view of a Redis source: the live events of every run, as the
 * local bus's `subscribeAll` gives them (no history).
 *
 * It follows the index stream `{prefix}:runs` from its last entry at the
 * time the view starts (the actual id: `$` in each read would lose what is
 * written between two reads), and with it:
 * - runs open at that time (started and not ended among the last index
 *   entries), from their last entry then;
 * - runs that start later, from their first entry.
 * A run leaves the view when its end marker is read. All subscribers of the
 * view share its positions, so one that joins later starts where the view
 * is: live. The view runs only while it has subscribers.
 */
import { isRunId, type StreamEvent } from '../events.js';
import type { QueueSubscription } from '../subscription.js';
import { FIELD, indexKey, runKey, type RunEntry, type RunIndexState } from './wire.js';
import { compareEntryIds, fieldsOf, isWrongType, type EntryDecoder, type FollowReader, type StreamFollower } from './follower.js';
import { backoff } from './client.js';
import type { ReaderConnection } from './reader-connections.js';

/** Index entries read back when the view starts, to find the runs open then. */
const OPEN_RUNS_SCAN = 1_000;
/** Runs followed by the view at most; past this the longest followed goes (its end marker may never come). */
const MAX_VIEW_RUNS = 10_000;
// Last-entry lookups of open runs sent together when the view starts.
const LOOKUP_BATCH = 100;

/** A decoded index entry, or undefined when it is not one of ours. */
export interface IndexEntry {
  readonly runId: string;
  readonly state: RunIndexState;
}

/** Decodes an index entry (untrusted, like everything read back). */
export function decodeIndexEntry(fields: Readonly<Record<string, string>>): IndexEntry | undefined {
  const runId = fields[FIELD.run];
  const state = fields[FIELD.state];
  if (!isRunId(runId) || (state !== 'started' && state !== 'ended')) return undefined;
  return { runId, state };
}

/** What the view needs of its source. */
export interface AllRunsHost {
  readonly prefix: string;
  readonly commands: ReaderConnection;
  readonly follower: StreamFollower;
  readonly counters: { reads: number; errors: number };
  /** The source's decoder of `runId`'s entries (it counts invalid ones). */
  runDecoder(runId: string): EntryDecoder<RunEntry>;
  /** Counts an index entry that is not one of ours. */
  invalidIndexEntry(): void;
}

/** The view's reader of one run's stream. */
class ViewRun implements FollowReader<RunEntry> {
  position: string;
  readonly #view: AllRunsView;
  readonly runId: string;

  constructor(view: AllRunsView, runId: string, position: string) {
    this.#view = view;
    this.runId = runId;
    this.position = position;
  }

  offer(id: string, entry: RunEntry): void {
    if (compareEntryIds(id, this.position) <= 0) return;
    this.position = id;
    if (entry.kind === 'event') this.#view.push(entry.event);
    else if (entry.kind === 'end') this.#view.leave(this.runId);
  }
}

/** The view's reader of the index. */
class ViewIndex implements FollowReader<IndexEntry | undefined> {
  position: string;
  readonly #view: AllRunsView;

  constructor(view: AllRunsView, position: string) {
    this.#view = view;
    this.position = position;
  }

  offer(id: string, entry: IndexEntry | undefined): void {
    if (compareEntryIds(id, this.position) <= 0) return;
    this.position = id;
    if (entry === undefined) return;
    if (entry.state === 'started') this.#view.join(entry.runId, '0-0');
    else this.#view.ended(entry.runId);
  }
}

/** See the module comment. */
export class AllRunsView {
  readonly #host: AllRunsHost;
  readonly #subs = new Set<QueueSubscription>();
  readonly #runs = new Map<string, ViewRun>();
  #index: ViewIndex | undefined;
  // Bumped when the view stops, so that a start still in progress gives up.
  #generation = 0;
  #starting = false;
  readonly #decodeIndex: EntryDecoder<IndexEntry | undefined>;

  constructor(host: AllRunsHost) {
    this.#host = host;
    this.#decodeIndex = (_id, fields) => {
      const entry = decodeIndexEntry(fields);
      if (entry === undefined) host.invalidIndexEntry();
      return entry;
    };
  }

  /** Subscribers of the view. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** Runs the view follows now. */
  get runs(): number {
    return this.#runs.size;
  }

  /** True while the view follows the index (it counts among the follower's streams). */
  get followsIndex(): boolean {
    return this.#index !== undefined;
  }

  add(sub: QueueSubscription): void {
    this.#subs.add(sub);
    if (this.#index === undefined && !this.#starting) {
      this.#start().catch(() => {
        this.#host.counters.errors++;
      });
    }
  }

  remove(sub: QueueSubscription): void {
    if (!this.#subs.delete(sub) || this.#subs.size > 0) return;
    this.#generation++;
    this.#starting = false;
    const { follower, prefix } = this.#host;
    for (const run of this.#runs.values()) follower.unfollow(runKey(prefix, run.runId), run);
    this.#runs.clear();
    if (this.#index !== undefined) follower.unfollow(indexKey(prefix), this.#index);
    this.#index = undefined;
  }

  /** Ends every subscriber (the source is closing). */
  close(): void {
    for (const sub of [...this.#subs]) sub.end('aborted', true);
  }

  /** Gives `event` to every subscriber of the view. */
  push(event: StreamEvent): void {
    for (const sub of this.#subs) sub.push(event);
  }

  /** Follows `runId` from `position` unless it is followed already. */
  join(runId: string, position: string): void {
    if (this.#runs.has(runId)) return;
    if (this.#runs.size >= MAX_VIEW_RUNS) {
      const oldest = this.#runs.keys().next().value as string;
      this.leave(oldest);
    }
    const run = new ViewRun(this, runId, position);
    this.#runs.set(runId, run);
    this.#host.follower.follow(runKey(this.#host.prefix, runId), this.#host.runDecoder(runId), run);
  }

  /** Stops following `runId` (its end marker was read). */
  leave(runId: string): void {
    const run = this.#runs.get(runId);
    if (run === undefined) return;
    this.#runs.delete(runId);
    this.#host.follower.unfollow(runKey(this.#host.prefix, runId), run);
  }

  /**
   * The index says `runId` ended. The run leaves with its end marker, which
   * the writer puts before the index entry; a run whose stream is gone
   * (expired, deleted) has none to come, and leaves now.
   */
  ended(runId: string): void {
    if (!this.#runs.has(runId)) return;
    const generation = this.#generation;
    void (async () => {
      try {
        this.#host.counters.reads++;
        const exists = await this.#host.commands.commands.exists(runKey(this.#host.prefix, runId));
        if (exists === 0 && generation === this.#generation) this.leave(runId);
      } catch {
        this.#host.counters.errors++;
      }
    })();
  }

  async #start(): Promise<void> {
    this.#starting = true;
    const generation = this.#generation;
    const { commands, counters, prefix } = this.#host;
    for (let failures = 0; generation === this.#generation; failures++) {
      try {
        counters.reads++;
        const recent = (await commands.commands.xRevRange(indexKey(prefix), '+', '-', { COUNT: OPEN_RUNS_SCAN })) ?? [];
        const indexPosition = recent[0] === undefined ? '0-0' : String(recent[0].id);
        // Newest first: the first entry seen for a run is its state now.
        const state = new Map<string, RunIndexState>();
        for (const { id, message } of recent) {
          const entry = this.#decodeIndex(String(id), fieldsOf(message));
          if (entry !== undefined && !state.has(entry.runId)) state.set(entry.runId, entry.state);
        }
        const open = [...state].filter(([, s]) => s === 'started').map(([runId]) => runId);
        const positions = new Map<string, string>();
        for (let i = 0; i < open.length; i += LOOKUP_BATCH) {
          const batch = open.slice(i, i + LOOKUP_BATCH);
          counters.reads += batch.length;
          const lasts = await Promise.all(
            batch.map((runId) =>
              commands.commands.xRevRange(runKey(prefix, runId), '+', '-', { COUNT: 1 }).catch((error: unknown) => {
                if (isWrongType(error)) return null; // not a run: skipped
                throw error;
              }),
            ),
          );
          batch.forEach((runId, j) => {
            const last = lasts[j];
            if (last === null || last === undefined) return;
            const entry = last[0];
            if (entry === undefined) {
              positions.set(runId, '0-0'); // started, nothing written yet: from the start
              return;
            }
            const id = String(entry.id);
            const decoded = this.#host.runDecoder(runId)(id, fieldsOf(entry.message));
            if (decoded.kind !== 'end') positions.set(runId, id);
          });
        }
        if (generation !== this.#generation) return;
        this.#starting = false;
        for (const [runId, position] of positions) this.join(runId, position);
        this.#index = new ViewIndex(this, indexPosition);
        this.#host.follower.follow(indexKey(prefix), this.#decodeIndex, this.#index);
        return;
      } catch {
        counters.errors++;
        await commands.pause(backoff(failures));
      }
    }
  }
}
