/**
 * The backplane's batches: what waits in the outbox turned into Redis
 * commands, sent in one tick, and every command's outcome accounted for.
 *
 * A batch takes up to 512 entries (and 1 MiB of event JSON). Each entry is
 * an `XADD` to its run's stream, with the stream's expiry refreshed once per
 * run and batch, a gap marker before a run's first entry after a loss, and
 * an index entry when a run starts or ends. node-redis writes commands
 * issued in the same tick in one socket write, so a batch is a pipeline in
 * which every command has its own outcome. (`multi().execAsPipeline()`
 * settles the batch with `Promise.all`: one refused entry would reject it
 * whole and hide which others landed.)
 *
 * Commands go out with `sendCommand` and without node-redis's per-command
 * timeout (5 s by default in v6, an `AbortSignal.timeout` per command, which
 * alone made writing 3x slower). Nothing is lost by that: a batch waits for
 * its answers however long Redis takes, while the outbox bounds what waits
 * behind it and `flush`/`close` have their own bounds. (With the timeout, a
 * frozen Redis would time out batch after batch while node-redis kept every
 * unanswered command queued: memory growing with the outage.)
 */
import type { StreamEvent } from '../events.js';
import { Outbox, type PendingEnd, type RunLedger } from './outbox.js';
import { errorText, type Report } from './report.js';
import { FIELD, encodeEnd, encodeEvent, encodeGap, encodeIndexEntry, endEntryId, eventEntryId, gapEntryId, indexKey, runKey, type RunIndexState } from './wire.js';

/** Entries (events and stream ends) in one batch at most. */
const MAX_BATCH_ENTRIES = 512;
/** Characters of event JSON in one batch at most (a batch holds at least one event, however large). */
const MAX_BATCH_CHARS = 1024 * 1024;
/** Entries the index stream keeps, about (`MAXLEN ~`). */
const INDEX_MAX_LENGTH_ARG = '10000';
/** Batches that may try to write a stream end before it is given up (a lost connection each time). */
const MAX_END_ATTEMPTS = 3;
/** Options of every command: no per-command timeout (see the module comment). */
const COMMAND_OPTIONS = { timeout: 0 } as const;

/** What batches need of a Redis client: raw commands. */
export interface CommandSender {
  sendCommand(args: ReadonlyArray<string>, options?: { timeout?: number }): Promise<unknown>;
}

/** The backplane's counters, shared by the writer and its batches (see `RedisBackplaneStats`). */
export interface WriterCounters {
  written: number;
  dropped: number;
  batches: number;
  gaps: number;
  errors: number;
}

/** What the backplane's options fix for every batch. */
export interface BatchSettings {
  /** The backplane's prefix (`runKey(prefix, ...)`). */
  readonly prefix: string;
  /** The client's own keyPrefix, put before every key as its typed commands would. */
  readonly keyPrefix: string;
  readonly historySize: number;
  readonly openTtlSeconds: number;
  readonly closedTtlSeconds: number;
}

// What each command of a batch carries, to account for its outcome.
const EVENT = 0;
const GAP = 1;
const END = 2;
const OTHER = 3;

interface GapSubject {
  readonly runId: string;
  readonly count: number;
  readonly fromSeq: number;
  readonly toSeq: number;
}

/** The commands of one batch and what each one carries. */
export class Batch {
  readonly no: number;
  readonly kinds: number[] = [];
  /** EVENT: the event; GAP: a GapSubject; END: the PendingEnd; OTHER: the run id. */
  readonly subjects: unknown[] = [];
  /** One reply per command, in order: settle them all, then hand the outcomes to {@link BatchWriter.settle}. */
  readonly replies: Promise<unknown>[] = [];
  /** The smallest outbox ordering key among its entries. */
  minKey = Infinity;
  entries = 0;
  chars = 0;

  constructor(no: number) {
    this.no = no;
  }

  /** Records one command sent: what it carries and its reply. */
  add(kind: number, subject: unknown, reply: Promise<unknown>): void {
    this.kinds.push(kind);
    this.subjects.push(subject);
    this.replies.push(reply);
  }
}

/** Builds batches from the outbox, sending their commands as it goes, and settles them; see the module comment. */
export class BatchWriter {
  readonly #client: CommandSender;
  readonly #outbox: Outbox;
  readonly #ledger: RunLedger;
  readonly #counters: WriterCounters;
  readonly #report: Report;
  readonly #prefix: string;
  readonly #keyPrefix: string;
  readonly #indexKey: string;
  readonly #historySize: string;
  readonly #openTtl: string;
  readonly #closedTtl: string;
  #batchNo = 0;

  constructor(client: CommandSender, outbox: Outbox, ledger: RunLedger, settings: BatchSettings, counters: WriterCounters, report: Report) {
    this.#client = client;
    this.#outbox = outbox;
    this.#ledger = ledger;
    this.#counters = counters;
    this.#report = report;
    this.#prefix = settings.prefix;
    this.#keyPrefix = settings.keyPrefix;
    this.#indexKey = settings.keyPrefix + indexKey(settings.prefix);
    this.#historySize = String(settings.historySize);
    this.#openTtl = String(settings.openTtlSeconds);
    this.#closedTtl = String(settings.closedTtlSeconds);
  }

  /** Takes the next batch out of the outbox and sends its commands. */
  build(): Batch {
    const outbox = this.#outbox;
    const batch = new Batch(++this.#batchNo);
    while (batch.entries < MAX_BATCH_ENTRIES && batch.chars < MAX_BATCH_CHARS) {
      const end = outbox.takeDueEnd();
      if (end !== undefined) {
        if (end.key < batch.minKey) batch.minKey = end.key;
        this.#addEnd(batch, end);
        batch.entries++;
        continue;
      }
      const key = Outbox.eventKey(outbox.first);
      const event = outbox.shift();
      if (event === undefined) break;
      if (key < batch.minKey) batch.minKey = key;
      this.#addEvent(batch, event);
      batch.entries++;
    }
    return batch;
  }

  #addEvent(batch: Batch, event: StreamEvent): void {
    const { runId, seq } = event;
    // Never throws (a placeholder for what cannot be written), and usually
    // already written: the event's JSON is shared with the SSE handlers.
    const fields = encodeEvent(event);
    batch.chars += (fields[FIELD.event] as string).length;
    const key = this.#keyPrefix + runKey(this.#prefix, runId);
    const ledger = this.#ledger;
    const track = ledger.track(runId);
    const loss = ledger.takeLoss(track);
    if (loss !== undefined) {
      this.#send(batch, GAP, { runId, ...loss }, this.#xAddArgs(key, gapEntryId(seq), encodeGap(loss.count, loss.fromSeq, loss.toSeq)));
    }
    this.#send(batch, EVENT, event, this.#xAddArgs(key, eventEntryId(seq), fields));
    if (seq > track.lastSeq) track.lastSeq = seq;
    if (track.batch !== batch.no) {
      // Once per run and batch, after its first entry made the stream exist.
      track.batch = batch.no;
      ledger.touch(runId, track);
      this.#send(batch, OTHER, runId, ['EXPIRE', key, this.#openTtl]);
    }
    if (event.eventType === 'run.started') this.#send(batch, OTHER, runId, this.#indexArgs(runId, 'started', event.timestamp));
  }

  #addEnd(batch: Batch, end: PendingEnd): void {
    const { runId, reason } = end;
    const ledger = this.#ledger;
    const track = ledger.get(runId);
    if (end.lastSeq === 0) {
      // Nothing of this run went through this writer (a stream closed with no event): nothing to end.
      if (track === undefined || track.lastSeq === 0) return;
      end.lastSeq = track.lastSeq;
    }
    const key = this.#keyPrefix + runKey(this.#prefix, runId);
    if (reason === 'dropped') {
      // The user deleted what was recorded: Redis forgets it too, loss included.
      if (track !== undefined) ledger.takeLoss(track);
      this.#send(batch, OTHER, runId, ['XTRIM', key, 'MAXLEN', '0']);
    } else if (track !== undefined && track.lostCount > 0 && track.lostTo <= end.lastSeq) {
      // The run's last events were lost: say so before the end, where a reader still looks.
      const loss = ledger.takeLoss(track)!;
      this.#send(batch, GAP, { runId, ...loss }, this.#xAddArgs(key, gapEntryId(loss.toSeq), encodeGap(loss.count, loss.fromSeq, loss.toSeq)));
    }
    this.#send(batch, END, end, this.#xAddArgs(key, endEntryId(end.lastSeq), encodeEnd(reason)));
    this.#send(batch, OTHER, runId, ['EXPIRE', key, this.#closedTtl]);
    this.#send(batch, OTHER, runId, this.#indexArgs(runId, 'ended', end.at));
    if (track !== undefined && track.lostCount === 0 && track.lastSeq <= end.lastSeq) ledger.forget(runId);
  }

  /** `XADD key MAXLEN ~ historySize id field value ...` */
  #xAddArgs(key: string, id: string, fields: Record<string, string>): string[] {
    const args = ['XADD', key, 'MAXLEN', '~', this.#historySize, id];
    for (const field in fields) args.push(field, fields[field] as string);
    return args;
  }

  /** `XADD {prefix}:runs MAXLEN ~ 10000 * run <id> state <state> at <ms>` */
  #indexArgs(runId: string, state: RunIndexState, at: number): string[] {
    const args = ['XADD', this.#indexKey, 'MAXLEN', '~', INDEX_MAX_LENGTH_ARG, '*'];
    const fields = encodeIndexEntry(runId, state, at);
    for (const field in fields) args.push(field, fields[field] as string);
    return args;
  }

  #send(batch: Batch, kind: number, subject: unknown, args: string[]): void {
    let reply: Promise<unknown>;
    try {
      reply = this.#client.sendCommand(args, COMMAND_OPTIONS);
    } catch (error) {
      reply = Promise.reject(error);
    }
    batch.add(kind, subject, reply);
  }

  /** Accounts for every command of a settled batch: written, or lost and recorded for a gap marker. */
  settle(batch: Batch, outcomes: PromiseSettledResult<unknown>[]): void {
    const ledger = this.#ledger;
    let cut = 0;
    let cutBy: unknown;
    let refused: Map<string, { count: number; error: unknown }> | undefined;
    const retry: PendingEnd[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i] as PromiseSettledResult<unknown>;
      const kind = batch.kinds[i];
      const subject = batch.subjects[i];
      if (outcome.status === 'fulfilled') {
        if (kind === EVENT) this.#counters.written++;
        else if (kind === GAP) this.#counters.gaps++;
        continue;
      }
      const error: unknown = outcome.reason;
      const isRefusal = isReplyError(error);
      let runId: string;
      if (kind === EVENT) {
        const event = subject as StreamEvent;
        runId = event.runId;
        this.#counters.dropped++;
        ledger.lose(runId, 1, event.seq, event.seq);
      } else if (kind === GAP) {
        const gap = subject as GapSubject;
        runId = gap.runId;
        // Not announced after all: the next entry of the run tries again.
        ledger.lose(runId, gap.count, gap.fromSeq, gap.toSeq);
      } else if (kind === END) {
        const end = subject as PendingEnd;
        runId = end.runId;
        // Refused on a retry: the attempt whose answer was lost had written it.
        if (isRefusal && end.attempts > 0) continue;
        if (!isRefusal && end.attempts + 1 < MAX_END_ATTEMPTS) {
          end.attempts++;
          retry.push(end);
        }
      } else {
        runId = subject as string;
      }
      this.#counters.errors++;
      if (isRefusal) {
        refused ??= new Map();
        const seen = refused.get(runId);
        if (seen === undefined) refused.set(runId, { count: 1, error });
        else seen.count++;
      } else {
        cut++;
        cutBy ??= error;
      }
    }
    for (let i = retry.length - 1; i >= 0; i--) this.#outbox.requeueEnd(retry[i] as PendingEnd);
    if (cut > 0) {
      this.#report('write', `${cut} Redis commands of a batch failed (${errorText(cutBy)}); the events among them are counted as dropped and their runs get gap markers`, cutBy);
    }
    if (refused !== undefined) {
      for (const [runId, { count, error }] of refused) {
        this.#report(
          'refused',
          `Redis refused ${count} entries of run ${runId} (${errorText(error)}); the events among them are counted as dropped.${refusalHint(error, this.#prefix)}`,
          error,
        );
      }
    }
  }
}

/**
 * What to look at when Redis refused entries. Only an id at or below the
 * stream's top points at another writer; any other refusal (a wrong type, a
 * full memory, an argument Redis cannot read) would be sent on a false trail
 * by that question, so it gets none. Never throws.
 */
function refusalHint(error: unknown, prefix: string): string {
  const text = errorText(error);
  if (!/equal or smaller than the target stream top item/i.test(text)) return '';
  return ` Does another process write run ids like this one under the prefix ${JSON.stringify(prefix)}?`;
}

/** True for an error reply from Redis (node-redis's `ErrorReply` and its subclasses): the command was refused, not cut. */
function isReplyError(error: unknown): boolean {
  let proto: unknown = error;
  for (let depth = 0; depth < 8 && proto !== null && typeof proto === 'object'; depth++) {
    proto = Object.getPrototypeOf(proto);
    if ((proto as { constructor?: { name?: unknown } } | null)?.constructor?.name === 'ErrorReply') return true;
  }
  return false;
}
