/**
 * The live half of reading from Redis: ONE blocking connection follows every
 * stream that some reader waits on, with a single
 * `XREAD BLOCK <blockMs> COUNT <n> STREAMS k1 k2 ... id1 id2 ...`.
 * A thousand SSE subscribers on fifty runs are fifty streams in one command,
 * not a thousand connections.
 *
 * Per stream the read cursor is the lowest position of its readers; every
 * entry read is decoded once and offered to each reader, which takes only
 * what lies after its own position. So readers that joined at different
 * points share one read, and none sees an entry twice or misses one.
 *
 * When the set of streams changes (a new stream, or a reader behind the
 * cursor of the read in flight), the blocked read is interrupted with
 * `CLIENT UNBLOCK <id>` from the command connection, so a new subscriber
 * waits for Redis, not for `blockMs`.
 */
import { backoff } from './client.js';
import type { ReaderConnection, StreamMessage } from './reader-connections.js';

/** A reader of one followed stream. */
export interface FollowReader<T> {
  /** The id of the last entry it has; the stream is read after the lowest of these. */
  readonly position: string;
  /** Called with each entry read, in order; it takes only ids after its position (and advances it). */
  offer(id: string, entry: T): void;
}

/** Decodes one entry of a stream (once per entry read, whatever the number of readers). */
export type EntryDecoder<T> = (id: string, fields: Readonly<Record<string, string>>) => T;

/** Counters the follower adds to. */
export interface FollowerCounters {
  reads: number;
  errors: number;
}

/** Limits of the follower. */
export interface FollowerLimits {
  /** XREAD BLOCK, in ms. */
  readonly blockMs: number;
  /** XREAD COUNT: entries per stream per read. */
  readonly count: number;
  /** Streams in one XREAD; more are read in turns. */
  readonly streamsPerRead: number;
}

interface Followed {
  readonly key: string;
  readonly decode: EntryDecoder<unknown>;
  readonly readers: Set<FollowReader<unknown>>;
  /** Where the next read starts: at or below every reader's position. */
  cursor: string;
}

interface Read {
  /** The cursor each stream was read from. */
  readonly cursors: Map<string, string>;
  unblocking: boolean;
}

// With the streams split over several reads, each blocks this long divided by their number,
// so an entry waits at most about this long whichever read holds its stream.
const ROUND_MS = 100;
// A key that is not a stream (WRONGTYPE) would fail every read it is in: it sits out this long.
const QUARANTINE_MS = 5_000;

/**
 * Compares two stream entry ids (`<ms>-<seq>`, canonical decimals as Redis
 * writes them): negative, zero or positive.
 */
export function compareEntryIds(a: string, b: string): number {
  // Called per entry per reader: no slices, no allocation.
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  if (dashA !== dashB) return dashA - dashB;
  for (let i = 0; i < dashA; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  if (a.length !== b.length) return a.length - b.length;
  for (let i = dashA + 1; i < a.length; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return 0;
}

/** An entry's fields as strings, whatever shape the client gave them (object, Map, Buffers). */
export function fieldsOf(message: unknown): Record<string, string> {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  if (message instanceof Map) {
    for (const [name, value] of message) fields[String(name)] = String(value);
  } else if (message !== null && typeof message === 'object') {
    for (const [name, value] of Object.entries(message)) fields[name] = String(value);
  }
  return fields;
}

/** True for Redis's error on a key holding something other than a stream. */
export function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/** Follows streams with one blocking connection; see the module comment. */
export class StreamFollower {
  readonly #commands: ReaderConnection;
  readonly #blocking: ReaderConnection;
  readonly #limits: FollowerLimits;
  readonly #counters: FollowerCounters;
  readonly #streams = new Map<string, Followed>();
  readonly #quarantined = new Map<string, number>();
  #inFlight: Read | undefined;
  #idleWake: (() => void) | undefined;
  #blockingId: number | undefined;
  #idEpoch = -1;
  #closed = false;
  #loop: Promise<void> | undefined;

  constructor(commands: ReaderConnection, blocking: ReaderConnection, limits: FollowerLimits, counters: FollowerCounters) {
    this.#commands = commands;
    this.#blocking = blocking;
    this.#limits = limits;
    this.#counters = counters;
  }

  /** Streams followed now. */
  get size(): number {
    return this.#streams.size;
  }

  /** Starts following `key` for `reader`, from the reader's position. */
  follow<T>(key: string, decode: EntryDecoder<T>, reader: FollowReader<T>): void {
    if (this.#closed) return;
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      stream = { key, decode, readers: new Set(), cursor: reader.position };
      this.#streams.set(key, stream);
    } else if (compareEntryIds(reader.position, stream.cursor) < 0) {
      stream.cursor = reader.position;
    }
    stream.readers.add(reader as FollowReader<unknown>);
    this.#loop ??= this.#run().catch(() => {
      // #run catches everything it awaits; this only keeps a bug from becoming an unhandled rejection.
      this.#counters.errors++;
    });
    this.#changed(key, reader.position);
  }

  /** Stops following `key` for `reader`; the stream leaves the read with its last reader. */
  unfollow(key: string, reader: FollowReader<unknown>): void {
    const stream = this.#streams.get(key);
    if (stream === undefined || !stream.readers.delete(reader)) return;
    // Nothing to interrupt: entries read for a stream nobody follows are ignored.
    if (stream.readers.size === 0) this.#streams.delete(key);
  }

  /** Stops reading; the blocked read ends when its connection is closed. Resolves when the loop has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#streams.clear();
    this.#wakeIdle();
    await this.#loop;
  }

  // A reader joined `key` at `position`: make sure the next read includes it.
  #changed(key: string, position: string): void {
    if (this.#wakeIdle()) return;
    const read = this.#inFlight;
    if (read === undefined) return; // between reads: the next one is built from the current set
    const cursor = read.cursors.get(key);
    if (cursor !== undefined && compareEntryIds(position, cursor) >= 0) return; // the read in flight covers it
    void this.#unblock(read);
  }

  #wakeIdle(): boolean {
    const wake = this.#idleWake;
    if (wake === undefined) return false;
    this.#idleWake = undefined;
    wake();
    return true;
  }

  /**
   * Interrupts the read in flight. `CLIENT UNBLOCK` answers 0 when the XREAD
   * has not reached Redis yet (the two connections are not ordered), so it
   * is repeated, briefly, until that read is blocked or has returned.
   */
  async #unblock(read: Read): Promise<void> {
    if (read.unblocking) return;
    read.unblocking = true;
    const id = this.#blockingId;
    const epoch = this.#idEpoch;
    for (let attempt = 0; this.#inFlight === read && !this.#closed; attempt++) {
      // An id from an earlier connection may name another client of a restarted server.
      if (id === undefined || this.#blocking.epoch !== epoch || !this.#commands.ready) return;
      try {
        if ((await this.#commands.commands.sendCommand(['CLIENT', 'UNBLOCK', String(id)])) === 1) return;
      } catch {
        this.#counters.errors++;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50)));
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    let turn = 0;
    while (!this.#closed) {
      if (this.#streams.size === 0) {
        await new Promise<void>((resolve) => (this.#idleWake = resolve));
        continue;
      }
      if (!this.#blocking.ready) {
        await this.#blocking.pause(backoff(failures++));
        continue;
      }
      let streams: Followed[] = [];
      try {
        if (this.#blockingId === undefined || this.#idEpoch !== this.#blocking.epoch) {
          const epoch = this.#blocking.epoch;
          this.#blockingId = await this.#blocking.commands.clientId();
          this.#idEpoch = epoch;
          continue; // the set may have changed while we asked
        }
        const readable = this.#readable();
        if (readable.length === 0) {
          await this.#idleUntilQuarantineEnds();
          continue;
        }
        // Built and sent with no await in between: `#changed` sees exactly what is in flight.
        const turns = Math.ceil(readable.length / this.#limits.streamsPerRead);
        const start = (turn++ % turns) * this.#limits.streamsPerRead;
        streams = readable.slice(start, start + this.#limits.streamsPerRead);
        const block = turns === 1 ? this.#limits.blockMs : Math.min(this.#limits.blockMs, Math.max(5, Math.floor(ROUND_MS / turns)));
        const read: Read = { cursors: new Map(streams.map((s) => [s.key, s.cursor])), unblocking: false };
        this.#inFlight = read;
        let reply: Awaited<ReturnType<ReaderConnection['commands']['xRead']>>;
        try {
          this.#counters.reads++;
          reply = await this.#blocking.commands.xRead(
            streams.map((s) => ({ key: s.key, id: s.cursor })),
            { BLOCK: block, COUNT: this.#limits.count },
          );
        } finally {
          this.#inFlight = undefined;
        }
        failures = 0;
        if (reply !== null && !this.#closed) this.#deliver(reply, read);
      } catch (error) {
        if (this.#closed) return;
        this.#counters.errors++;
        if (isWrongType(error)) await this.#quarantine(streams);
        else await this.#blocking.pause(backoff(failures++));
      }
    }
  }

  #readable(): Followed[] {
    const out: Followed[] = [];
    const now = Date.now();
    for (const stream of this.#streams.values()) {
      const until = this.#quarantined.get(stream.key);
      if (until !== undefined) {
        if (until > now) continue;
        this.#quarantined.delete(stream.key);
      }
      out.push(stream);
    }
    return out;
  }

  async #idleUntilQuarantineEnds(): Promise<void> {
    let soonest = Infinity;
    for (const until of this.#quarantined.values()) soonest = Math.min(soonest, until);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#idleWake = undefined;
        resolve();
      }, Math.max(1, Math.min(soonest - Date.now(), QUARANTINE_MS)));
      this.#idleWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Finds the keys of a failed read that hold something other than a stream, and sets them aside. */
  async #quarantine(streams: Followed[]): Promise<void> {
    try {
      const types = await Promise.all(streams.map((s) => this.#commands.commands.type(s.key)));
      const until = Date.now() + QUARANTINE_MS;
      streams.forEach((s, i) => {
        if (types[i] !== 'stream' && types[i] !== 'none') this.#quarantined.set(s.key, until);
      });
    } catch {
      this.#counters.errors++;
      await this.#commands.pause(backoff(3));
    }
  }

  #deliver(reply: Array<{ name: unknown; messages: StreamMessage[] }>, read: Read): void {
    const prefix = this.#blocking.keyPrefix;
    for (const { name, messages } of reply) {
      const named = String(name);
      const key = prefix !== '' && named.startsWith(prefix) ? named.slice(prefix.length) : named;
      const stream = this.#streams.get(key);
      const readFrom = read.cursors.get(key);
      if (stream === undefined || readFrom === undefined || messages.length === 0) continue;
      // A reader behind the cursor this read started from (it joined while the read was in
      // flight) must not take these entries: it would skip the ones in between. It gets them
      // from the next read, which starts at its position.
      const current = [...stream.readers].filter((reader) => compareEntryIds(reader.position, readFrom) >= 0);
      for (const message of messages) {
        const id = String(message.id);
        const entry = stream.decode(id, fieldsOf(message.message));
        for (const reader of current) reader.offer(id, entry);
      }
      // Every current reader is now at or past the last id; a reader that joined behind
      // lowered the cursor when it joined, and keeps it there.
      if (stream.cursor === readFrom) stream.cursor = String((messages[messages.length - 1] as StreamMessage).id);
    }
  }
}
