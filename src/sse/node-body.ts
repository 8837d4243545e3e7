/**
 * The body of a `node:http` SSE answer, written to the `ServerResponse`:
 * an agentbus {@link EventStream} straight from its subscription, or any
 * other `Response` body chunk by chunk.
 *
 * Either way the next bytes are read only after `res.write` has accepted the
 * last ones (or `'drain'` fired), so the socket's backpressure reaches the
 * subscription: a client that stops reading leaves events in the bus's
 * bounded queue, where the oldest are dropped and reported.
 */
import type { ServerResponse } from 'node:http';
import { OPENING, type EventStream } from './event-stream.js';

/**
 * Resolves at the next `'drain'` or `'close'`, whichever comes first, and
 * removes both listeners then: a slow reader makes thousands of these waits
 * on one connection, and each must leave nothing behind.
 */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      resolve();
      return;
    }
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// The last chunk joined, and the parts it was joined from: connections that keep up with
// a run read the same frames in the same turn, and so write one shared chunk.
let joinedParts: readonly Uint8Array[] = [];
let joined: Uint8Array = new Uint8Array(0);

/**
 * One chunk of `parts` (one write, one HTTP chunk): the shared frame itself
 * when there is one, else the chunk joined for the previous connection when
 * it holds the very same arrays, else a fresh join. Frames written for one
 * connection only (`retry:`, a gap report, the end) are arrays of their own,
 * so they never match.
 */
function chunkOf(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  if (parts.length === joinedParts.length) {
    let same = true;
    for (let i = 0; i < parts.length && same; i++) same = parts[i] === joinedParts[i];
    if (same) return joined;
  }
  let length = 0;
  for (const part of parts) length += part.length;
  joinedParts = parts;
  joined = Buffer.concat(parts, length);
  return joined;
}

/**
 * @internal Writes `stream` to `res`, at most once per turn of the event
 * loop: what the subscription holds is taken in one pass and written as one
 * chunk, the frames' bytes shared with every other connection. No web stream
 * and no promise per event in between. `gone` settles when the
 * client has gone away.
 */
export async function writeEventStream(stream: EventStream, res: ServerResponse, gone: Promise<void>): Promise<void> {
  let clientGone = false;
  void gone.then(() => {
    clientGone = true;
    // Ends the subscription at once, even while the writer waits for 'drain'.
    stream.release();
  });
  try {
    res.write(OPENING);
    stream.start((bytes) => {
      if (!clientGone) res.write(bytes);
    });
    for (;;) {
      await stream.wait();
      // Woken by the first event of a burst: what the rest of this turn of the event loop
      // publishes (and the next burst, on a busy server) joins the same write.
      await nextTurn();
      if (clientGone) break;
      const parts = await stream.read();
      if (clientGone) break;
      if (parts.length > 0 && !res.write(chunkOf(parts)) && !stream.finished) {
        await drainedOrClosed(res);
        if (clientGone || res.destroyed) break;
      }
      if (stream.finished) break;
    }
  } finally {
    // Whatever ended the loop (the end, the client, an error), the subscription and timer go.
    stream.release();
  }
  if (!clientGone) res.end();
}

/** @internal Copies any web `body` to `res`, one chunk at a time. */
export async function pipeBody(body: ReadableStream<Uint8Array>, res: ServerResponse, gone: Promise<void>): Promise<void> {
  const reader = body.getReader();
  let clientGone = false;
  void gone.then(() => {
    clientGone = true;
    // Ends the subscription at once, even while a read is pending.
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || clientGone) break;
      if (!res.write(value)) {
        await drainedOrClosed(res);
        if (clientGone || res.destroyed) break;
      }
    }
  } catch (error) {
    // Whatever failed, the body is told, so that its subscription and timer are released.
    reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  if (!clientGone) res.end();
}
