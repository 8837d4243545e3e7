/**
 * The reading half of `agentbus/redis`: a {@link RunSource} that serves runs
 * executing in any process from the Redis Streams a backplane writes, with
 * the local bus's semantics. Give it to the SSE handler and every instance
 * serves every run:
 *
 * ```ts
 * const source = await createRedisRunSource({ url: 'redis://127.0.0.1:6379' });
 * http.createServer(toNodeListener(createSseHandler({ source, public: true })));
 * ```
 *
 * Per subscription: history after `afterSeq` (XRANGE, paged at the reader's
 * pace), then live entries, with one position (the last entry id delivered)
 * across the switch; it ends after its queued events when the run's end
 * marker is read. Live reads of every run share ONE blocking connection
 * (see {@link StreamFollower}); a source holds two connections in all.
 *
 * Nothing read back is trusted: an entry that is not one of ours is skipped
 * and counted. Redis going away never throws into the process: reads wait
 * for it with a bounded backoff and go on where they were.
 */
import { isRunId, RUN_ID_RULE, type StreamEvent } from '../events.js';
import { delayOption, positiveIntOption } from '../options.js';
import type { SubscribeOptions } from '../bus.js';
import { subscribeRequest } from '../subscriber-set.js';
import type { Subscription } from '../subscription.js';
import type { RetainedRun, RunLookup, RunSource } from '../source.js';
import { QueueSubscription } from '../subscription.js';
import { AllRunsView, decodeIndexEntry } from './all-runs.js';
import { StreamFollower, fieldsOf, isWrongType, type EntryDecoder } from './follower.js';
import { backoff, type RedisClient } from './client.js';
import { openReaderConnections, type ReaderConnection } from './reader-connections.js';
import { PagedSubscription, RunReader } from './run-reader.js';
import { DEFAULT_PREFIX, decodeRunEntry, indexKey, rangeStartAfter, runKey, seqOfEntryId, type RunEntry } from './wire.js';

/** Options of {@link createRedisRunSource}. Give `url` or `client`. */
export interface RedisRunSourceOptions {
  /** `redis://[[user]:password@]host[:port][/db]`: the source creates its two connections and closes them. */
  url?: string;
  /**
   * Your connected node-redis v6 client, used for short commands; the source
   * `duplicate()`s it for its blocking connection (closed by `close()`, your
   * client is not). If it sets `socket.socketTimeout`, keep that above `blockMs`.
   */
  client?: RedisClient;
  /** Key prefix, as given to the backplane. Default `'agentbus'`. */
  prefix?: string;
  /** How long one live read waits in Redis (`XREAD BLOCK`), in ms, at most 2^31-1 (as any delay option). Default 5000. */
  blockMs?: number;
  /** Queue bound of each subscription, as the bus's `highWaterMark`. Default 1024. */
  highWaterMark?: number;
  /** Largest entry accepted, in characters of its fields; larger ones are skipped as invalid. Default 1 MiB. */
  maxEntrySize?: number;
  /** Streams in one `XREAD`; past this they are read in turns. Default 500. */
  streamsPerRead?: number;
}

/** Counters reported by {@link RedisRunSource.stats}. */
export interface RedisRunSourceStats {
  /** Open subscriptions, per-run and all-runs. */
  subscribers: number;
  /** Run streams in the live read. */
  runsFollowed: number;
  /** Read commands sent to Redis (XREAD, XRANGE, XREVRANGE, EXISTS). */
  reads: number;
  /** Entries skipped because they are not agentbus entries (counted each time they are read). */
  invalidEntries: number;
  /** Failed commands and connection errors (all caught). */
  errors: number;
  /** Both connections are ready. */
  connected: boolean;
}

// History is read in pages of this many entries (or the queue bound, if smaller).
const HISTORY_PAGE = 256;
// Entries per stream in one live read: with `streamsPerRead` it bounds one reply (500 x 128 entries).
const LIVE_COUNT = 128;
// A lookup that Redis does not answer within this is an outage (the handler answers 503).
const LOOKUP_TIMEOUT_MS = 5_000;
// A listing (retainedRuns) names at most this many runs, the most recently indexed, found in
// this many index entries, with at most this many events each (the newest): the bus's defaults.
const LIST_RUNS = 200;
const LIST_INDEX_SCAN = 1_000;
const LIST_EVENTS = 500;
// close() waits this long at most for the read loop to notice.
const CLOSE_WAIT_MS = 1_000;

/**
 * Serves runs from Redis Streams; see the module comment. Made by
 * {@link createRedisRunSource}.
 */
export class RedisRunSource implements RunSource {
  readonly #prefix: string;
  readonly #highWaterMark: number;
  readonly #maxEntrySize: number;
  readonly #commands: ReaderConnection;
  readonly #blocking: ReaderConnection;
  readonly #follower: StreamFollower;
  readonly #all: AllRunsView;
  readonly #readers = new Set<RunReader>();
  readonly #counters: { reads: number; errors: number };
  #invalid = 0;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link createRedisRunSource}. */
  constructor(
    commands: ReaderConnection,
    blocking: ReaderConnection,
    options: Required<Omit<RedisRunSourceOptions, 'url' | 'client'>>,
    counters: { reads: number; errors: number },
  ) {
    this.#counters = counters;
    this.#prefix = options.prefix;
    this.#highWaterMark = options.highWaterMark;
    this.#maxEntrySize = options.maxEntrySize;
    this.#commands = commands;
    this.#blocking = blocking;
    this.#follower = new StreamFollower(commands, blocking, { blockMs: options.blockMs, count: LIVE_COUNT, streamsPerRead: options.streamsPerRead }, this.#counters);
    const source = this;
    this.#all = new AllRunsView({
      prefix: this.#prefix,
      commands,
      follower: this.#follower,
      counters: this.#counters,
      runDecoder: (runId) => this.#decoder(runId),
      invalidIndexEntry() {
        source.#invalid++;
      },
    });
  }

  /**
   * What Redis holds of `runId` for a reader that has every event up to
   * `afterSeq`: `'unknown'` (no stream), `'finished'` (its last entry is the
   * end marker and no event follows `afterSeq`), else `'available'`.
   *
   * @throws {Error} when Redis is unreachable or does not answer in time (the SSE handler answers 503).
   */
  async lookup(runId: string, afterSeq: number): Promise<RunLookup> {
    if (this.#closing !== undefined) throw new Error('RedisRunSource: closed');
    const key = runKey(this.#prefix, runId);
    if (!this.#commands.ready) throw this.#unreachable();
    let last: Awaited<ReturnType<ReaderConnection['commands']['xRevRange']>>;
    let exists = 1;
    try {
      this.#counters.reads++;
      last = await withTimeout(this.#commands.commands.xRevRange(key, '+', '-', { COUNT: 1 }), LOOKUP_TIMEOUT_MS);
      // An existing stream with every entry trimmed away is a run still (its writer may go on).
      if (last === null || last.length === 0) exists = await withTimeout(this.#commands.commands.exists(key), LOOKUP_TIMEOUT_MS);
    } catch (error) {
      if (isWrongType(error)) return 'unknown'; // the key holds something else: no run of ours
      this.#counters.errors++;
      if (!this.#commands.ready) throw this.#unreachable(error);
      throw new Error(`agentbus/redis: cannot read run ${JSON.stringify(runId)} from Redis: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const entry = last?.[0];
    if (entry === undefined) return exists === 0 ? 'unknown' : 'available';
    const id = String(entry.id);
    const decoded = this.#decoder(runId)(id, fieldsOf(entry.message));
    if (decoded.kind === 'end' && afterSeq > 0 && (seqOfEntryId(id) ?? Infinity) <= afterSeq) return 'finished';
    return 'available';
  }

  /**
   * The most recently indexed runs (at most 200), newest first, each with
   * its newest events (at most 500) and whether its stream is still open
   * (no end marker yet): what a console lists (`GET /runs`). Read from
   * Redis on each call, in one round of commands.
   *
   * @throws {Error} when Redis is unreachable or does not answer in time (the SSE handler answers 503).
   */
  async retainedRuns(): Promise<RetainedRun[]> {
    if (this.#closing !== undefined) throw new Error('RedisRunSource: closed');
    if (!this.#commands.ready) throw this.#unreachable();
    const commands = this.#commands.commands;
    try {
      this.#counters.reads++;
      const recent = (await withTimeout(commands.xRevRange(indexKey(this.#prefix), '+', '-', { COUNT: LIST_INDEX_SCAN }), LOOKUP_TIMEOUT_MS)) ?? [];
      const runIds: string[] = [];
      const seen = new Set<string>();
      for (const { message } of recent) {
        const entry = decodeIndexEntry(fieldsOf(message));
        if (entry === undefined || seen.has(entry.runId)) continue;
        seen.add(entry.runId);
        runIds.push(entry.runId);
        if (runIds.length === LIST_RUNS) break;
      }
      this.#counters.reads += runIds.length;
      const newest = await withTimeout(
        Promise.all(
          runIds.map((runId) =>
            commands.xRevRange(runKey(this.#prefix, runId), '+', '-', { COUNT: LIST_EVENTS }).catch((error: unknown) => {
              if (isWrongType(error)) return null; // not a run of ours: left out
              throw error;
            }),
          ),
        ),
        LOOKUP_TIMEOUT_MS,
      );
      const runs: RetainedRun[] = [];
      runIds.forEach((runId, i) => {
        const entries = newest[i];
        if (entries === null || entries === undefined || entries.length === 0) return;
        const decode = this.#decoder(runId);
        const events: StreamEvent[] = [];
        let open = true;
        // Newest first: the first entry says whether the run's stream ended.
        entries.forEach((entry, j) => {
          const decoded = decode(String(entry.id), fieldsOf(entry.message));
          if (decoded.kind === 'end' && j === 0) open = false;
          else if (decoded.kind === 'event' && decoded.event.seq > 0) events.push(decoded.event);
        });
        runs.push({ runId, events: events.reverse(), open });
      });
      return runs;
    } catch (error) {
      this.#counters.errors++;
      if (!this.#commands.ready) throw this.#unreachable(error);
      throw new Error(`agentbus/redis: cannot list runs from Redis: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /**
   * The error for a command that Redis cannot answer because the connection
   * is down: before it is sent, or when the connection drops under it (the
   * two connections notice a dead server one after the other, so a command
   * may still go out on the one that has not yet). One message for both.
   */
  #unreachable(cause?: unknown): Error {
    const why = cause === undefined ? (this.#commands.lastError ?? 'the connection is down') : cause instanceof Error ? cause.message : String(cause);
    return new Error(`agentbus/redis: Redis is unreachable (${why}); retry later`, cause === undefined ? undefined : { cause });
  }

  /**
   * Subscribes to one run: registered at once, filled with the history after
   * `afterSeq` and then the live entries. Ends with the reason of the run's
   * end marker (`'closed'` or `'dropped'`) after its queued events, on
   * `signal` (`'aborted'`), on `close()`, or when the source closes
   * (`'aborted'`).
   *
   * @throws {TypeError} when `runId` is not a run id, or `signal` not an AbortSignal.
   * @throws {RangeError} when `afterSeq` is not a non-negative integer, or `highWaterMark` not a positive integer.
   */
  subscribe(runId: string, options?: SubscribeOptions): Subscription {
    if (!isRunId(runId)) {
      const shown: unknown = runId;
      throw new TypeError(`RedisRunSource.subscribe: runId must be ${RUN_ID_RULE}, got ${typeof shown === 'string' ? JSON.stringify(shown.slice(0, 40)) : typeof shown}`);
    }
    const request = subscribeRequest('RedisRunSource.subscribe', options);
    const afterSeq = request.afterSeq;
    const highWaterMark = request.highWaterMark ?? this.#highWaterMark;
    const key = runKey(this.#prefix, runId);
    let reader: RunReader | undefined;
    const sub = new PagedSubscription(highWaterMark, runId, () => {
      if (reader === undefined) return;
      this.#readers.delete(reader);
      if (reader.live) this.#follower.unfollow(key, reader);
    });
    reader = new RunReader(runId, key, afterSeq, sub, highWaterMark);
    if (this.#closing !== undefined) {
      sub.end('aborted', false);
      return sub;
    }
    this.#readers.add(reader);
    if (request.signal !== undefined) sub.bindSignal(request.signal);
    if (!reader.ended) {
      this.#readHistory(reader, afterSeq).catch(() => {
        // #readHistory catches what it awaits; this only keeps a bug from becoming an unhandled rejection.
        this.#counters.errors++;
      });
    }
    return sub;
  }

  /** Subscribes to the live events of every run (no history); see `AllRunsView`. */
  subscribeAll(options?: Omit<SubscribeOptions, 'afterSeq'>): Subscription {
    const request = subscribeRequest('RedisRunSource.subscribeAll', options);
    const sub = new QueueSubscription(request.highWaterMark ?? this.#highWaterMark, undefined, (ended) => this.#all.remove(ended));
    if (this.#closing !== undefined) {
      sub.end('aborted', false);
      return sub;
    }
    this.#all.add(sub);
    if (request.signal !== undefined) sub.bindSignal(request.signal);
    return sub;
  }

  /** Counters for health checks and tests. */
  stats(): RedisRunSourceStats {
    return {
      subscribers: this.#readers.size + this.#all.subscribers,
      runsFollowed: this.#follower.size - (this.#all.followsIndex ? 1 : 0),
      reads: this.#counters.reads,
      invalidEntries: this.#invalid,
      errors: this.#counters.errors,
      connected: this.#commands.ready && this.#blocking.ready,
    };
  }

  /**
   * Ends every subscription with reason `'aborted'` (after its queued
   * events) and closes the connections the source opened; a client you
   * passed stays open. `'aborted'`, not `'closed'`: the runs did not end, so
   * the SSE handler sends no `end` event and a client reconnects, with
   * `Last-Event-ID`, to another instance. Idempotent; bounded even while
   * Redis is down.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const reader of [...this.#readers]) reader.sub.end('aborted', true);
      this.#all.close();
      const loop = this.#follower.close();
      this.#blocking.close();
      this.#commands.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([loop, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    })();
    return this.#closing;
  }

  #decoder(runId: string): EntryDecoder<RunEntry> {
    return (id, fields) => {
      let size = 0;
      for (const name in fields) size += name.length + (fields[name] as string).length;
      const entry: RunEntry =
        size > this.#maxEntrySize ? { kind: 'invalid', error: `entry ${id} is ${size} characters, over maxEntrySize ${this.#maxEntrySize}` } : decodeRunEntry(runId, id, fields);
      if (entry.kind === 'invalid') this.#invalid++;
      return entry;
    };
  }

  /** Reads the history page by page at the subscriber's pace, then hands the reader to the follower. */
  async #readHistory(reader: RunReader, afterSeq: number): Promise<void> {
    const decode = this.#decoder(reader.runId);
    const page = Math.min(HISTORY_PAGE, reader.highWaterMark);
    let start = rangeStartAfter(afterSeq);
    let failures = 0;
    while (!reader.ended && this.#closing === undefined) {
      const room = reader.sub.room(page, reader.highWaterMark);
      if (room !== undefined) {
        await room;
        continue;
      }
      let entries: Awaited<ReturnType<ReaderConnection['commands']['xRange']>>;
      try {
        this.#counters.reads++;
        entries = (await this.#commands.commands.xRange(reader.key, start, '+', { COUNT: page })) ?? [];
        failures = 0;
      } catch (error) {
        if (reader.ended || this.#closing !== undefined) return;
        if (isWrongType(error)) {
          entries = []; // not a stream: no history (the follower sets the key aside too)
        } else {
          this.#counters.errors++;
          await this.#commands.pause(backoff(failures++));
          continue;
        }
      }
      for (const { id, message } of entries) reader.offer(String(id), decode(String(id), fieldsOf(message)));
      if (reader.ended || this.#closing !== undefined) return;
      const last = entries[entries.length - 1];
      if (entries.length < page || last === undefined) {
        // Caught up: live from the last entry delivered, which nothing written since can precede.
        reader.live = true;
        this.#follower.follow(reader.key, decode, reader);
        return;
      }
      start = `(${String(last.id)}`;
    }
  }
}

/**
 * Connects to Redis and returns a source of runs for `createSseHandler({ source })`.
 *
 * @throws {TypeError} on a missing or contradictory target.
 * @throws {RangeError} for a count or delay option that is not a positive integer, or past its bound
 *   (`blockMs` 2^31-1 ms, as any delay option; the counts `Number.MAX_SAFE_INTEGER`).
 * @throws {Error} when Redis cannot be reached, or the `redis` package is not installed (naming `npm install redis`).
 */
export async function createRedisRunSource(options: RedisRunSourceOptions): Promise<RedisRunSource> {
  const { url, client } = options ?? {};
  if ((url === undefined) === (client === undefined)) {
    throw new TypeError('createRedisRunSource: pass either url (e.g. redis://127.0.0.1:6379) or client (a connected node-redis client), not both or neither');
  }
  if (url !== undefined && (typeof url !== 'string' || url === '')) throw new TypeError(`createRedisRunSource: url must be a redis:// URL, got ${typeof url === 'string' ? '""' : typeof url}`);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError(`createRedisRunSource: prefix must be a non-empty string, got ${JSON.stringify(prefix)}`);
  const settings = {
    prefix,
    // XREAD BLOCK takes an integer of ms; 1e300 would be sent as "1e+300" and refused on every read.
    blockMs: delayOption('createRedisRunSource', 'blockMs', options.blockMs, 5_000, 1),
    highWaterMark: positiveIntOption('createRedisRunSource', 'highWaterMark', options.highWaterMark, 1024),
    maxEntrySize: positiveIntOption('createRedisRunSource', 'maxEntrySize', options.maxEntrySize, 1024 * 1024),
    streamsPerRead: positiveIntOption('createRedisRunSource', 'streamsPerRead', options.streamsPerRead, 500),
  };
  const counters = { reads: 0, errors: 0 };
  const { commands, blocking } = await openReaderConnections({ url, client }, () => {
    counters.errors++;
  });
  return new RedisRunSource(commands, blocking, settings, counters);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
