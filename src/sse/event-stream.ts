/**
 * The body of an SSE response: the frames of one subscription, as a
 * `ReadableStream` of bytes.
 *
 * Backpressure: the body is a pull stream with no buffer of its own. The
 * subscription is read only when the body's reader asks for more, so a
 * client that stops reading leaves events in the bus's bounded subscriber
 * queue, where the oldest are dropped (and reported with one
 * `stream.dropped`) while the agent keeps publishing at full speed.
 */
import type { StreamEvent } from '../events.js';
import type { Subscription } from '../subscription.js';
import { HEARTBEAT_FRAME, type FrameEncoder } from './frames.js';

const encoder = new TextEncoder();
// One chunk carries at most about this many characters of frames; bigger backlogs go in several reads.
const BATCH_CHARS = 64 * 1024;
// Reasons the stream ends by the run's own doing, told to the client with `event: end`; a
// string set so that reasons the bus adds later need no cast here.
const END_FRAME_REASONS: ReadonlySet<string> = new Set(['closed', 'evicted', 'dropped']);
// The opening bytes of every stream: a comment, skipped by every SSE parser, that gets the
// response through buffering proxies before the first event.
const OPENING = ': agentbus\n\n';

/**
 * @internal The response body: frames pulled from `sub` only when the
 * reader asks. Heartbeats are written only while the reader waits (never
 * queued for a reader that has stopped).
 *
 * It opens with a comment, and `retry:` is the first line of the first real
 * frame: a block holding only `retry:` is surfaced by some parsers (Python's
 * httpx-sse) as an event with empty data.
 */
export function eventStream(
  sub: Subscription,
  frames: FrameEncoder,
  runId: string | undefined,
  heartbeatMs: number,
  retryMs: number,
): ReadableStream<Uint8Array> {
  // Resume ids are per run, so only the single-run stream writes `id:` lines.
  const withId = runId !== undefined;
  let retryLine = `retry: ${retryMs}\n`;
  let finished = false;
  let waiting = false;
  let wroteSinceTick = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const stopHeartbeat = () => {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  const finish = () => {
    finished = true;
    stopHeartbeat();
    sub.close();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(encoder.encode(OPENING));
        heartbeat = setInterval(() => {
          // A subscription ended from outside (the request's signal) while nobody reads
          // the body would otherwise keep this timer for the life of the process.
          if (sub.endReason !== undefined && !waiting) {
            stopHeartbeat();
            return;
          }
          if (waiting && !wroteSinceTick && !finished) {
            try {
              controller.enqueue(encoder.encode(HEARTBEAT_FRAME));
            } catch {
              finish();
            }
          }
          wroteSinceTick = false;
        }, heartbeatMs);
        heartbeat.unref?.();
      },

      async pull(controller) {
        if (finished) return;
        // Whatever fails below (an encoder, an enqueue after cancel), the timer and the
        // subscription are released here: with a fetch-style runtime nothing else would.
        try {
          waiting = true;
          let result: IteratorResult<StreamEvent>;
          try {
            result = await sub.next();
          } finally {
            waiting = false;
          }
          let chunk = '';
          for (;;) {
            if (finished) return;
            if (result.done) {
              const reason = sub.endReason;
              if (reason !== undefined && END_FRAME_REASONS.has(reason)) chunk += frames.end(reason, runId);
              finish();
              // Never a `retry:` block on its own: it would be the data-less event avoided above.
              if (chunk !== '') controller.enqueue(encoder.encode(retryLine + chunk));
              controller.close();
              return;
            }
            chunk += frames.event(result.value, withId);
            // Take what is already queued into the same chunk: one write per backlog, not per event.
            if (chunk.length >= BATCH_CHARS || (sub.queued === 0 && sub.endReason === undefined)) break;
            result = await sub.next();
          }
          wroteSinceTick = true;
          controller.enqueue(encoder.encode(retryLine + chunk));
          retryLine = '';
        } catch (error) {
          const wasFinished = finished;
          finish();
          // After a cancel the stream is already closed and the error has no one to reach.
          if (!wasFinished) controller.error(error);
        }
      },

      cancel() {
        finish();
      },
    },
    { highWaterMark: 0 },
  );
}
