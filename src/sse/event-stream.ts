/**
 * The body of an SSE response: the frames of one subscription, as bytes.
 *
 * One {@link EventStream} per response, written by one writer: the
 * `ReadableStream` that is the `Response` body (fetch-style runtimes), or,
 * on `node:http`, `node-body.ts` straight to the `ServerResponse`, with no
 * web stream in between and no promise per event. The first to claim it
 * writes it.
 *
 * Backpressure: nothing is buffered here. The subscription is read only when
 * the writer asks for more (the body's reader pulls; the node writer once
 * the socket took the last chunk), so a client that stops reading leaves
 * events in the bus's bounded subscriber queue, where the oldest are dropped
 * (and reported with one `stream.dropped`) while the agent keeps publishing
 * at full speed.
 *
 * Batching: one read takes the whole backlog (up to `BATCH_BYTES`), as the
 * bytes the encoder made once per event for every connection, and the writer
 * sends them as one chunk. The node writer also lets the event loop's turn
 * end before it reads, so that it writes a connection at most once a turn.
 */
import type { StreamEvent } from '../events.js';
import { QueueSubscription, type Subscription } from '../subscription.js';
import { HEARTBEAT_FRAME, type FrameEncoder } from './frames.js';

const encoder = new TextEncoder();
// One read takes at most about this many bytes of frames; a bigger backlog goes in several.
const BATCH_BYTES = 64 * 1024;
// Reasons the stream ends by the run's own doing, told to the client with `event: end`; a
// string set so that reasons the bus adds later need no cast here.
const END_FRAME_REASONS: ReadonlySet<string> = new Set(['closed', 'evicted', 'dropped']);
/**
 * @internal The opening bytes of every stream: a comment, skipped by every SSE
 * parser, that gets the response through buffering proxies before the first event.
 * Shared: write it, never modify it.
 */
export const OPENING: Uint8Array = encoder.encode(': agentbus\n\n');
/** @internal The heartbeat comment as bytes. Shared: write it, never modify it. */
export const HEARTBEAT: Uint8Array = encoder.encode(HEARTBEAT_FRAME);

/**
 * @internal The frames of one subscription, for one writer. Heartbeats go
 * out only while the writer waits for an event (never queued for a reader
 * that has stopped).
 *
 * It opens with a comment, and `retry:` is the first line of the first real
 * frame: a block holding only `retry:` is surfaced by some parsers (Python's
 * httpx-sse) as an event with empty data.
 */
export class EventStream {
  readonly #sub: Subscription;
  // The same subscription when a backlog can be taken from it without a promise per event.
  readonly #queue: QueueSubscription | undefined;
  readonly #frames: FrameEncoder;
  readonly #runId: string | undefined;
  // Resume ids are per run, so only the single-run stream writes `id:` lines.
  readonly #withId: boolean;
  readonly #heartbeatMs: number;
  #retry: Uint8Array | undefined;
  #claimed = false;
  #finished = false;
  #waiting = false;
  #wroteSinceTick = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  // What wait() was woken with, for the next read.
  #held: IteratorResult<StreamEvent> | undefined;

  constructor(sub: Subscription, frames: FrameEncoder, runId: string | undefined, heartbeatMs: number, retryMs: number) {
    this.#sub = sub;
    this.#queue = sub instanceof QueueSubscription ? sub : undefined;
    this.#frames = frames;
    this.#runId = runId;
    this.#withId = runId !== undefined;
    this.#heartbeatMs = heartbeatMs;
    this.#retry = encoder.encode(`retry: ${retryMs}\n`);
  }

  /** True once the last frame has been read, or the stream was released. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Hands the stream to one writer: true for the first caller, false for any other. */
  claim(): boolean {
    if (this.#claimed) return false;
    this.#claimed = true;
    return true;
  }

  /**
   * Starts the heartbeat: from now on `write` is handed a ping each interval
   * in which the writer waited for an event and nothing was written. A
   * `write` that throws releases the stream.
   */
  start(write: (bytes: Uint8Array) => void): void {
    if (this.#finished || this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      // A subscription ended from outside (the request's signal) while nobody reads
      // would otherwise keep this timer for the life of the process.
      if (this.#sub.endReason !== undefined && !this.#waiting) {
        this.#stopHeartbeat();
        return;
      }
      if (this.#waiting && !this.#wroteSinceTick && !this.#finished) {
        try {
          write(HEARTBEAT);
        } catch {
          this.release();
        }
      }
      this.#wroteSinceTick = false;
    }, this.#heartbeatMs);
    this.#heartbeat.unref?.();
  }

  /**
   * Waits until a read has something to return: at once when an event or
   * the end is there, else for the next one (heartbeats go out meanwhile).
   * Lets a writer wait first and read later, taking what arrived meanwhile.
   */
  async wait(): Promise<void> {
    const sub = this.#sub;
    if (this.#finished || this.#held !== undefined || sub.queued > 0 || sub.endReason !== undefined) return;
    this.#waiting = true;
    try {
      this.#held = await sub.next();
    } catch (error) {
      this.release();
      throw error;
    } finally {
      this.#waiting = false;
    }
  }

  /**
   * The next frames: everything readable now, or else, after waiting for it,
   * the next event and what came with it; about `BATCH_BYTES` at most. The
   * arrays are shared with other connections: write them, never modify them.
   * The read that reaches the end of the subscription returns the `event:
   * end` frame when the run ended the stream, and leaves `finished` true;
   * reads after that return nothing. A read that throws releases the stream.
   */
  async read(): Promise<Uint8Array[]> {
    const parts: Uint8Array[] = [];
    if (this.#finished) return parts;
    const sub = this.#sub;
    const queue = this.#queue;
    try {
      let bytes = 0;
      for (;;) {
        let result = this.#held;
        this.#held = undefined;
        if (result === undefined) {
          const event = queue?.take();
          if (event !== undefined) {
            bytes += this.#push(parts, event);
            if (bytes >= BATCH_BYTES) break;
            continue;
          }
          const idle = sub.queued === 0 && sub.endReason === undefined;
          // Nothing more without waiting: what is in hand goes out now.
          if (idle && parts.length > 0) break;
          this.#waiting = idle;
          try {
            result = await sub.next();
          } finally {
            this.#waiting = false;
          }
        }
        if (result.done) {
          const reason = sub.endReason;
          if (reason !== undefined && END_FRAME_REASONS.has(reason)) parts.push(encoder.encode(this.#frames.end(reason, this.#runId)));
          this.release();
          break;
        }
        bytes += this.#push(parts, result.value);
        if (bytes >= BATCH_BYTES) break;
      }
    } catch (error) {
      this.release();
      throw error;
    }
    if (parts.length > 0) {
      // Never a `retry:` block on its own: it would be the data-less event avoided above.
      if (this.#retry !== undefined) parts.unshift(this.#retry);
      this.#retry = undefined;
      this.#wroteSinceTick = true;
    }
    return parts;
  }

  /** Adds the frame of `event` to `parts`; returns its length. */
  #push(parts: Uint8Array[], event: StreamEvent): number {
    const frame = this.#frames.bytes(event, this.#withId);
    parts.push(frame);
    return frame.length;
  }

  /** Ends the stream: the subscription is closed and the heartbeat stopped. Idempotent. */
  release(): void {
    this.#finished = true;
    this.#held = undefined;
    this.#stopHeartbeat();
    this.#sub.close();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }
}

// Each web body to the stream it reads, so that the node:http bridge can write the stream itself.
const streams = new WeakMap<ReadableStream<Uint8Array>, EventStream>();

/** @internal The {@link EventStream} behind a body made by {@link eventStream}; `undefined` for any other body. */
export function eventStreamOf(body: ReadableStream<Uint8Array>): EventStream | undefined {
  return streams.get(body);
}

/** One fresh chunk holding `parts`: a reader may keep, change or transfer what it reads, so shared bytes never reach it. */
function freshChunk(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const chunk = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    chunk.set(part, at);
    at += part.length;
  }
  return chunk;
}

/**
 * @internal The response body: a pull stream (no buffer of its own) that
 * reads `sub` only when its reader asks. Its first read claims the stream:
 * from then on `node-body.ts` leaves it to this body, and before it
 * `node-body.ts` may claim it and write it itself.
 */
export function eventStream(
  sub: Subscription,
  frames: FrameEncoder,
  runId: string | undefined,
  heartbeatMs: number,
  retryMs: number,
): ReadableStream<Uint8Array> {
  const stream = new EventStream(sub, frames, runId, heartbeatMs, retryMs);
  let cancelled = false;
  let claimed = false;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // The first read claims the stream (the node bridge then leaves it to this body)
        // and gets the opening; nothing is read before someone asks.
        if (!claimed) {
          if (!stream.claim()) {
            controller.error(new TypeError('this SSE body is already being written by toNodeListener'));
            return;
          }
          claimed = true;
          stream.start((bytes) => controller.enqueue(bytes.slice()));
          controller.enqueue(OPENING.slice());
          return;
        }
        try {
          const parts = await stream.read();
          // After a cancel the stream is already closed: nothing may be enqueued.
          if (cancelled) return;
          if (parts.length > 0) controller.enqueue(freshChunk(parts));
          if (stream.finished) controller.close();
        } catch (error) {
          // read() released the timer and the subscription: with a fetch-style runtime nothing else would.
          if (!cancelled) controller.error(error);
        }
      },

      cancel() {
        cancelled = true;
        stream.release();
      },
    },
    { highWaterMark: 0 },
  );
  streams.set(body, stream);
  return body;
}
