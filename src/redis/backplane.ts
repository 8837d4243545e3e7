/**
 * The writing half of `agentbus/redis`: every event of every run published on
 * a bus is appended to that run's Redis stream (layout in `wire.ts`), so that
 * other processes can serve the run.
 *
 * ```
 * bus.publish --listener--> Outbox (ring, drops oldest) --batch of XADDs--> {prefix}:run:{runId}
 *                                                                      \--> {prefix}:runs (index)
 * ```
 *
 * This module is the public API: {@link attachRedisBackplane}, its options
 * (checked here, before anything is loaded or connected) and what it returns.
 * The listener and its drain loop are in `writer.ts`, the batches in
 * `batch.ts`, the bounded outbox and the per-run ledger in `outbox.ts`, the
 * client in `client.ts`.
 *
 * What Redis never got is counted and told: the outbox drops its oldest
 * events beyond its size, a batch cut by a lost connection loses what it
 * carried, Redis may refuse an entry (an id at or below its stream's top: a
 * run id written by another process). Each such event is counted in
 * `stats().dropped` and its seq recorded per run, and the run's next entry is
 * preceded by a gap marker with the exact range, so a reader is told rather
 * than silently skipping sequence numbers.
 */
import type { EventBus } from '../bus.js';
import { getEventBus } from '../global.js';
import { delayOption, positiveIntOption } from '../options.js';
import { createOwnedClient, loadRedis, type RedisClient } from './client.js';
import { errorText } from './report.js';
import { DEFAULT_PREFIX } from './wire.js';
import { RedisBackplaneWriter, type OwnedWriterClient, type WriterClient } from './writer.js';

const OWNER = 'attachRedisBackplane';

/** Options of {@link attachRedisBackplane}. Give `url` or `client`, not both. */
export interface RedisBackplaneOptions {
  /**
   * Where Redis is (`redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS).
   * The backplane makes its own client (loading the optional `redis` package), with
   * no offline queue and reconnection backing off from 50 ms up to 2 s,
   * and closes it on `close()`.
   */
  url?: string;
  /**
   * A connected node-redis v6 client of yours (`await createClient(...).connect()`).
   * The backplane never closes it. It listens to its `'ready'` event (to write
   * what waited while it was down) and, only if the client has no `'error'`
   * listener when attached, adds one that reports through `onError`, because
   * node-redis emits `'error'` on every lost connection and an `'error'` event
   * with no listener crashes the process; both are removed on `close()`. If
   * your client keeps its offline queue (node-redis's default), nothing is
   * sent while it is not ready anyway. Its `keyPrefix`, if any, goes in front
   * of the backplane's keys, as with its own commands.
   */
  client?: RedisClient;
  /** The bus whose runs are written. Default: the process-wide bus ({@link getEventBus}). */
  bus?: EventBus;
  /** Prefix of every key (`{prefix}:run:{runId}`, `{prefix}:runs`). Default `'agentbus'`. */
  prefix?: string;
  /** Entries kept per run stream, about (`MAXLEN ~`). Default 500, the bus's default history. */
  historySize?: number;
  /** Events waiting for Redis at most; beyond it the oldest are dropped (and counted, and marked as a gap). Default 10,000. */
  outboxSize?: number;
  /** Seconds a run's stream lives after its end marker. Default 3,600. */
  closedTtlSeconds?: number;
  /**
   * Seconds a run's stream lives after its last write while the run is open.
   * Refreshed by every batch that writes to it, so the runs of a writer that
   * crashed expire on their own. Default 86,400.
   */
  openTtlSeconds?: number;
  /**
   * Runs whose last seq and pending loss are remembered at most, and stream
   * ends waiting at most; past this the least recently written run is
   * forgotten (reported if it had a loss to announce). Default 10,000.
   */
  maxTrackedRuns?: number;
  /** How long `attachRedisBackplane` waits for a client it makes to connect before returning anyway (it keeps trying). At most 2^31-1 ms, as any delay option. Default 5,000 ms. */
  connectTimeoutMs?: number;
  /**
   * Told about what could not be written: a lost connection, entries Redis
   * refused, losses that could not be announced. It must not throw. Default:
   * a process warning, once per kind of problem (the counts are in `stats()`).
   */
  onError?: (error: Error) => void;
}

/** Counters reported by {@link RedisBackplane.stats}. */
export interface RedisBackplaneStats {
  /** Events written to Redis. */
  written: number;
  /** Events that never reached Redis: pushed out of the full outbox, cut by a lost connection, refused by Redis, or left when `close()` gave up. */
  dropped: number;
  /** Events waiting in the outbox. */
  queued: number;
  /** Batches sent and settled. */
  batches: number;
  /** Gap markers written. */
  gaps: number;
  /** Redis commands that failed or were refused, and runs whose loss or end marker had to be given up. */
  errors: number;
  /** True while the client is ready to take commands (and the backplane is not closed). */
  connected: boolean;
}

/** Options of {@link RedisBackplane.flush} and {@link RedisBackplane.close}. */
export interface RedisBackplaneWaitOptions {
  /** The longest wait, in ms. Default 5,000. */
  timeoutMs?: number;
}

/** The writer attached to a bus; see {@link attachRedisBackplane}. */
export interface RedisBackplane {
  /** Counters for health checks and tests. */
  stats(): RedisBackplaneStats;
  /**
   * Resolves `true` once everything queued before the call has been written
   * to Redis or counted as lost. Resolves `false` at once while Redis is
   * unreachable (what waits stays in the outbox until it is back), or when
   * `timeoutMs` passes first. Never rejects.
   */
  flush(options?: RedisBackplaneWaitOptions): Promise<boolean>;
  /**
   * Detaches from the bus (later events are not written), writes what waits
   * for at most `timeoutMs`, counts anything left as dropped, and closes the
   * client if the backplane made it (a client you gave stays open).
   * Idempotent; never rejects.
   */
  close(options?: RedisBackplaneWaitOptions): Promise<void>;
}

/**
 * Writes every run of `bus` to Redis Streams from now on, for other processes
 * to serve. `publish` never waits on Redis and never notices it is down: see
 * {@link RedisBackplaneOptions.outboxSize} and {@link RedisBackplaneStats}.
 *
 * With `url`, the `redis` package (an optional peer dependency) is loaded now
 * and a client made; the promise resolves once it is connected, or after
 * `connectTimeoutMs` if Redis cannot be reached (it keeps trying; events wait
 * in the outbox meanwhile).
 *
 * One backplane per bus and prefix: two would write every entry twice (Redis
 * refuses the second).
 *
 * @throws {TypeError | RangeError} for a bad option (before anything is loaded or connected); counts
 *   (`historySize`, the TTLs, ...) must be integers from 1 to `Number.MAX_SAFE_INTEGER` (Redis takes them
 *   as decimal text) and `connectTimeoutMs` at most 2^31-1 ms (a timer's longest delay).
 * @throws {Error} when `url` is given and the `redis` package is not installed.
 */
export async function attachRedisBackplane(options: RedisBackplaneOptions): Promise<RedisBackplane> {
  const config = readOptions(options);
  let client: WriterClient;
  let owned: OwnedWriterClient | undefined;
  if (config.client !== undefined) {
    client = config.client as unknown as WriterClient;
  } else {
    const redis = await loadRedis(OWNER);
    try {
      owned = createOwnedClient(redis, config.url as string, { connectTimeoutMs: config.connectTimeoutMs }) as unknown as OwnedWriterClient;
    } catch (error) {
      throw new Error(`${OWNER}: cannot make a Redis client for that url: ${errorText(error)}`, { cause: error });
    }
    client = owned;
  }
  const writer = new RedisBackplaneWriter(config, client, owned);
  if (owned !== undefined) await writer.connect(config.connectTimeoutMs);
  return writer;
}

/** The options of {@link attachRedisBackplane}, checked and defaulted. */
export interface BackplaneConfig {
  url: string | undefined;
  client: RedisClient | undefined;
  bus: EventBus;
  prefix: string;
  historySize: number;
  outboxSize: number;
  closedTtlSeconds: number;
  openTtlSeconds: number;
  maxTrackedRuns: number;
  connectTimeoutMs: number;
  onError: ((error: Error) => void) | undefined;
}

function readOptions(options: RedisBackplaneOptions): BackplaneConfig {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${OWNER}: options must be an object with url or client, got ${options === null ? 'null' : typeof options}`);
  }
  const { url, client, bus, prefix, onError } = options;
  if ((url === undefined) === (client === undefined)) {
    throw new TypeError(`${OWNER}: give exactly one of url (a redis:// URL) and client (a connected node-redis client), got ${url === undefined ? 'neither' : 'both'}`);
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new TypeError(`${OWNER}: url must be a string starting with redis:// or rediss://, got ${typeof url === 'string' ? JSON.stringify(url.slice(0, 20)) : typeof url}`);
  }
  if (client !== undefined) {
    const shape = client as unknown as Record<string, unknown> | null;
    const missing = ['sendCommand', 'on', 'off', 'listenerCount'].filter((m) => typeof shape?.[m] !== 'function');
    if (missing.length > 0) {
      throw new TypeError(`${OWNER}: client must be a node-redis v6 client (createClient() from 'redis'); it has no ${missing.join(', ')}`);
    }
    if (!client.isOpen) throw new TypeError(`${OWNER}: client is not connected: await client.connect() first (the backplane never opens or closes a client it did not make)`);
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length === 0)) {
    throw new TypeError(`${OWNER}: prefix must be a non-empty string, got ${typeof prefix === 'string' ? 'an empty string' : typeof prefix}`);
  }
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError(`${OWNER}: onError must be a function, got ${typeof onError}`);
  if (bus !== undefined && typeof (bus as { addListener?: unknown } | null)?.addListener !== 'function') {
    throw new TypeError(`${OWNER}: bus must be an EventBus`);
  }
  return {
    url,
    client,
    bus: bus ?? getEventBus(),
    prefix: prefix ?? DEFAULT_PREFIX,
    // Counts go to Redis as decimal text (MAXLEN, EXPIRE): bounded so that they stay integers there.
    historySize: positiveIntOption(OWNER, 'historySize', options.historySize, 500),
    outboxSize: positiveIntOption(OWNER, 'outboxSize', options.outboxSize, 10_000),
    closedTtlSeconds: positiveIntOption(OWNER, 'closedTtlSeconds', options.closedTtlSeconds, 3_600),
    openTtlSeconds: positiveIntOption(OWNER, 'openTtlSeconds', options.openTtlSeconds, 86_400),
    maxTrackedRuns: positiveIntOption(OWNER, 'maxTrackedRuns', options.maxTrackedRuns, 10_000),
    // A timer's delay: past 2^31-1 ms Node fires it after 1 ms (see delayOption).
    connectTimeoutMs: delayOption(OWNER, 'connectTimeoutMs', options.connectTimeoutMs, 5_000, 1),
    onError,
  };
}
