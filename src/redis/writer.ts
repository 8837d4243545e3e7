/**
 * The backplane's writer: the bus listener that feeds the outbox, and the
 * loop that drains it, one batch at a time (see `batch.ts`).
 *
 * `publish` never waits on Redis: the listener only stores the event in the
 * outbox and, if no write is under way, schedules one (`setImmediate`). One
 * batch is in flight at a time, and none is sent while the client is not
 * ready, so node-redis never queues more than a batch: the outbox is the only
 * buffer, and it is bounded. The loop parks while the client is down and the
 * client's `'ready'` wakes it.
 *
 * `flush` waits for the outbox's ordering key to pass the position of the
 * last event published before the call; `close` detaches, flushes for what
 * time it has, and counts whatever is left as lost.
 */
import type { StreamEndReason } from '../listeners.js';
import type { StreamEvent } from '../events.js';
import { delayOption } from '../options.js';
import type { BackplaneConfig, RedisBackplane, RedisBackplaneStats, RedisBackplaneWaitOptions } from './backplane.js';
import { BatchWriter, type WriterCounters } from './batch.js';
import { keyPrefixOf } from './client.js';
import { Outbox, RunLedger, type RunTrack } from './outbox.js';
import { errorText, reportTo, type Report } from './report.js';

/**
 * What the writer uses of a node-redis v6 client. The client's `keyPrefix`
 * option, if any, goes in front of every key, as node-redis's typed commands
 * would put it.
 */
export interface WriterClient {
  readonly isReady: boolean;
  readonly options?: { readonly keyPrefix?: unknown } | undefined;
  sendCommand(args: ReadonlyArray<string>, options?: { timeout?: number }): Promise<unknown>;
  on(event: 'ready' | 'error', listener: (...args: unknown[]) => void): unknown;
  off(event: 'ready' | 'error', listener: (...args: unknown[]) => void): unknown;
  listenerCount(event: 'error'): number;
}

/** A client the backplane made, and so connects and closes. */
export interface OwnedWriterClient extends WriterClient {
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: (done: boolean) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The backplane attached to a bus; made by `attachRedisBackplane`. */
export class RedisBackplaneWriter implements RedisBackplane {
  readonly #client: WriterClient;
  readonly #owned: OwnedWriterClient | undefined;
  readonly #report: Report;
  readonly #outbox: Outbox;
  readonly #ledger: RunLedger;
  readonly #batchWriter: BatchWriter;
  readonly #counters: WriterCounters = { written: 0, dropped: 0, batches: 0, gaps: 0, errors: 0 };
  readonly #detach: () => void;
  /** Our 'error' listener on the client, if we added one. */
  #errorListener: ((error: unknown) => void) | undefined;
  /** No write is scheduled, under way, or waiting for the client to be ready. */
  #idle = true;
  /** The writer stopped because the client is not ready; its 'ready' wakes it. */
  #parked = false;
  #stopped = false;
  #lostConnection = false;
  #draining: Promise<void> = Promise.resolve();
  #inFlightMinKey = Infinity;
  #waiters: FlushWaiter[] = [];
  #closing: Promise<void> | undefined;

  /** @param owned `client` again when the backplane made it (it is then connected and closed here). */
  constructor(config: BackplaneConfig, client: WriterClient, owned: OwnedWriterClient | undefined) {
    this.#client = client;
    this.#owned = owned;
    this.#report = reportTo(config.onError);
    this.#outbox = new Outbox(config.outboxSize, config.maxTrackedRuns);
    this.#ledger = new RunLedger(config.maxTrackedRuns, this.#forgotten);
    this.#batchWriter = new BatchWriter(client, this.#outbox, this.#ledger, { ...config, keyPrefix: keyPrefixOf(client) }, this.#counters, this.#report);
    client.on('ready', this.#onReady);
    if (owned !== undefined || client.listenerCount('error') === 0) {
      this.#errorListener = this.#onClientError;
      client.on('error', this.#errorListener);
    }
    this.#detach = config.bus.addListener({ name: 'agentbus/redis', onEvent: this.#onEvent, onStreamEnd: this.#onStreamEnd });
  }

  /** Starts the client the backplane made; resolves when it is ready, fails its first attempt, or `timeoutMs` passes. */
  async connect(timeoutMs: number): Promise<void> {
    const client = this.#owned as OwnedWriterClient;
    let settle = (): void => {};
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const timer = setTimeout(settle, timeoutMs);
    client.on('ready', settle);
    client.on('error', settle);
    // It retries on its own until ready; failures arrive as 'error' events. A
    // close() while it is still trying rejects it, which is expected.
    client.connect().catch(() => {});
    await settled;
    clearTimeout(timer);
    client.off('ready', settle);
    client.off('error', settle);
  }

  // The bus listener: the whole cost a backplane adds to publish.
  readonly #onEvent = (event: StreamEvent): void => {
    const pushedOut = this.#outbox.push(event);
    if (pushedOut !== undefined) {
      this.#counters.dropped++;
      this.#ledger.lose(pushedOut.runId, 1, pushedOut.seq, pushedOut.seq);
    }
    if (this.#idle) this.#wake();
  };

  readonly #onStreamEnd = (runId: string, reason: StreamEndReason): void => {
    // Local retention forgetting a run changes nothing in Redis.
    if (reason === 'evicted') return;
    const givenUp = this.#outbox.pushEnd(runId, reason, Date.now());
    if (givenUp !== undefined) {
      this.#counters.errors++;
      this.#report('ends', `gave up the end marker of run ${givenUp.runId}: more than ${this.#ledger.capacity} stream ends waited for Redis; its stream expires after openTtlSeconds instead`);
    }
    if (this.#idle) this.#wake();
  };

  readonly #onReady = (): void => {
    this.#lostConnection = false;
    if (!this.#parked) return;
    this.#parked = false;
    this.#idle = true;
    if (!this.#outbox.isEmpty && !this.#stopped) this.#wake();
  };

  readonly #onClientError = (error: unknown): void => {
    if (this.#lostConnection || this.#stopped) return;
    this.#lostConnection = true;
    this.#report(
      'connection',
      `Redis is unreachable (${errorText(error)}); events wait in the outbox (at most ${this.#outbox.capacity}, the oldest dropped beyond that) until it is back`,
      error,
    );
  };

  readonly #forgotten = (runId: string, track: RunTrack): void => {
    if (track.lostCount === 0) return;
    this.#counters.errors++;
    this.#report(
      'bookkeeping',
      `forgot that run ${runId} lost ${track.lostCount} events (seq ${track.lostFrom}-${track.lostTo}): more than ${this.#ledger.capacity} runs were tracked; its stream will not carry that gap marker`,
    );
  };

  #wake(): void {
    this.#idle = false;
    setImmediate(this.#run);
  }

  readonly #run = (): void => {
    this.#draining = this.#drain();
  };

  async #drain(): Promise<void> {
    const outbox = this.#outbox;
    let failed = false;
    try {
      while (!this.#stopped && !outbox.isEmpty && this.#client.isReady) {
        const batch = this.#batchWriter.build();
        this.#inFlightMinKey = batch.minKey;
        const outcomes = await Promise.allSettled(batch.replies);
        this.#inFlightMinKey = Infinity;
        this.#counters.batches++;
        this.#batchWriter.settle(batch, outcomes);
        this.#resolveWaiters();
      }
    } catch (error) {
      // A bug of ours (nothing above is expected to throw): reported, never an unhandled rejection.
      failed = true;
      this.#inFlightMinKey = Infinity;
      this.#counters.errors++;
      this.#report('internal', `the writer failed: ${errorText(error)}`, error);
    }
    // Stopped for want of a connection: the client's 'ready' wakes it (a failure: the next event does).
    if (!failed && !this.#stopped && !outbox.isEmpty) this.#parked = true;
    else this.#idle = true;
    this.#resolveWaiters();
  }

  /** The smallest ordering key not yet written or counted lost. */
  #settledKey(): number {
    return Math.min(this.#inFlightMinKey, this.#outbox.minKey());
  }

  #resolveWaiters(): void {
    if (this.#waiters.length === 0) return;
    const settled = this.#settledKey();
    const unreachable = this.#stopped || this.#parked;
    const waiting: FlushWaiter[] = [];
    for (const waiter of this.#waiters) {
      if (settled >= waiter.target) this.#finish(waiter, true);
      else if (unreachable) this.#finish(waiter, false);
      else waiting.push(waiter);
    }
    this.#waiters = waiting;
  }

  #finish(waiter: FlushWaiter, done: boolean): void {
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(done);
  }

  stats(): RedisBackplaneStats {
    const counters = this.#counters;
    return {
      written: counters.written,
      dropped: counters.dropped,
      queued: this.#outbox.length,
      batches: counters.batches,
      gaps: counters.gaps,
      errors: counters.errors,
      connected: !this.#stopped && this.#client.isReady,
    };
  }

  flush(options: RedisBackplaneWaitOptions = {}): Promise<boolean> {
    const timeoutMs = delayOption('RedisBackplane.flush', 'timeoutMs', options.timeoutMs, 5_000, 1);
    const target = Outbox.eventKey(this.#outbox.next);
    if (this.#settledKey() >= target) return Promise.resolve(true);
    if (this.#stopped || !this.#client.isReady) return Promise.resolve(false);
    if (this.#idle) this.#wake();
    return new Promise<boolean>((resolve) => {
      const waiter: FlushWaiter = { target, resolve, timer: undefined };
      waiter.timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  close(options: RedisBackplaneWaitOptions = {}): Promise<void> {
    const timeoutMs = delayOption('RedisBackplane.close', 'timeoutMs', options.timeoutMs, 5_000, 1);
    return (this.#closing ??= this.#close(timeoutMs));
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#detach();
    await this.flush({ timeoutMs });
    this.#stopped = true;
    const owned = this.#owned;
    if (owned !== undefined) {
      // A batch still in flight (Redis slow or gone) is cut short: its entries count as dropped.
      if (this.#inFlightMinKey !== Infinity) owned.destroy();
      else await bounded(owned.close().catch(() => {}), Math.max(1, deadline - Date.now()));
      // Safe after close(): it only tears down what is left.
      owned.destroy();
    }
    // The last batch's accounting, however it ended (bounded: a user's client may never answer).
    await bounded(this.#draining, Math.max(1, deadline - Date.now()));
    const left = this.#outbox.clear();
    this.#counters.dropped += left.events;
    this.#counters.errors += left.ends;
    this.#client.off('ready', this.#onReady);
    if (this.#errorListener !== undefined && owned === undefined) this.#client.off('error', this.#errorListener);
    this.#resolveWaiters();
  }
}

/** Waits for `promise` at most `ms`. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
