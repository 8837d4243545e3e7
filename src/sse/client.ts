/**
 * The SSE client: a run's events as an async iterable of validated
 * `StreamEvent`s, over `fetch` streaming and the maintained
 * `eventsource-parser`.
 *
 * It reconnects after a dropped connection with `Last-Event-ID` set to the
 * last sequence number it yielded, skips anything at or below it (never a
 * duplicate), refills a `stream.dropped` gap from the server's history, and
 * ends on `event: end`.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { envelopeSchema, parseStreamEvent, type StreamEvent } from '../events.js';
import { delayOption, MAX_DELAY_MS, nonNegativeIntOption, positiveIntOption, signalOption } from '../options.js';
import { bodyPrefix } from './body-prefix.js';
import { PendingEventMeter } from './pending-event.js';

/** Options of {@link subscribeSse}. */
export interface SubscribeSseOptions {
  /** Extra request headers (e.g. `authorization`). */
  headers?: Record<string, string>;
  /** Stops the subscription; the iterator then ends quietly. */
  signal?: AbortSignal;
  /** Resume after this sequence number (events with seq <= it are not replayed). */
  lastEventId?: number | string;
  /** The fetch to use. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Consecutive failed connection attempts tolerated before giving up: a non-negative integer (0: none). Default 5. */
  maxRetries?: number;
  /**
   * Delay before reconnecting, until the server advertises its own with `retry:`. Default 1000.
   * A non-negative integer of at most 2147483647 (2^31-1 ms, the longest delay timers accept).
   */
  retryMs?: number;
  /**
   * On `stream.dropped` (this client fell behind and the server dropped
   * events), reconnect at once from the last seen id so the server refills
   * the gap from history; only what history no longer holds is reported, as
   * one `stream.dropped`. Default true.
   */
  refill?: boolean;
  /**
   * The most bytes one event may take as it arrives (its lines with their
   * field names and line ends, up to the blank line that ends it): a positive integer. Default
   * 16777216 (16 MiB), far above what an agentbus server sends (its
   * `maxEventSize` defaults to 256 KiB; a Redis source's entries are at most
   * 1 MiB). The parser holds an event until its blank line; without a bound,
   * a broken or hostile server sending a line that never ends would grow this
   * process until it died. Past it the iteration ends with an
   * {@link SseProtocolError} naming the bound, and does not reconnect. The
   * bound is on one event, not the stream: a stream of any length of events
   * under it is read whole.
   */
  maxEventBytes?: number;
}

/** The server answered with an HTTP error: at once, or for a retryable status (408, 425, 429, 500, 502, 503, 504) once the retries are spent. */
export class SseHttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The URL that was requested. */
  readonly url: string;

  constructor(url: string, status: number, statusText: string, body: string) {
    const why =
      status === 401
        ? 'credentials required (send them with the headers option)'
        : status === 403
          ? 'credentials refused for this stream'
          : status === 404
            ? 'no such run (or no SSE route at this path)'
            : status === 400
              ? 'bad request'
              : statusText || 'HTTP error';
    const detail = body.trim().slice(0, 200);
    super(`SSE GET ${url} answered ${status}: ${why}${detail === '' ? '' : ` (${detail})`}`);
    this.name = 'SseHttpError';
    this.status = status;
    this.url = url;
  }
}

/** The stream sent something that is not an agentbus event. */
export class SseProtocolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SseProtocolError';
  }
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
/** Default of {@link SubscribeSseOptions.maxEventBytes}: 64 times the server's default `maxEventSize`. */
const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024;
// Per-run sequence bookkeeping for the all-runs stream; bounded like the bus's retention.
const MAX_TRACKED_RUNS = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function seqOf(id: number | string | undefined): number {
  if (id === undefined || id === '') return 0;
  const n = Number(id);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`subscribeSse: lastEventId must be a non-negative integer, got ${JSON.stringify(id)}`);
  return n;
}

/**
 * Subscribes to an agentbus SSE stream (`/runs/:runId/events`, or the
 * all-runs `/events`) and yields each event once, validated with
 * `parseStreamEvent`.
 *
 * @throws {SseHttpError} on 4xx answers (401, 403, 404, 400, ...), without retrying.
 * @throws {SseHttpError} on a retryable answer (500, 503, 429, ...) once `maxRetries` are spent.
 *   Only the start of an error's body is read (a few KiB), for the message.
 * @throws {SseProtocolError} when the stream carries something that is not a valid event,
 *   or an event past `maxEventBytes`.
 * @throws the last network error after `maxRetries` consecutive failed attempts.
 * @throws {TypeError | RangeError} at the first iteration, for a bad `lastEventId`, `maxRetries`, `retryMs`, `maxEventBytes` or `signal`.
 */
export async function* subscribeSse(url: string | URL, options: SubscribeSseOptions = {}): AsyncGenerator<StreamEvent, void, undefined> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  // Checked: NaN would compare false with every count and never give up.
  const maxRetries = nonNegativeIntOption('subscribeSse', 'maxRetries', options.maxRetries, 5);
  const refill = options.refill ?? true;
  let retryMs = delayOption('subscribeSse', 'retryMs', options.retryMs, 1000, 0);
  // Infinity is refused with NaN and 0: a bound that never holds is no bound.
  const maxEventBytes = positiveIntOption('subscribeSse', 'maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES);
  const target = String(url);
  // The id to resume from (what the server sent as `id:`), and the last seq seen per run.
  let lastEventId = seqOf(options.lastEventId);
  const signal = signalOption('subscribeSse', 'signal', options.signal);
  const lastSeq = new Map<string, number>();
  let failures = 0;
  let refilledFrom = -1;

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort();

  try {
    while (!stop.signal.aborted) {
      const attempt = new AbortController();
      const onStop = () => attempt.abort();
      stop.signal.addEventListener('abort', onStop, { once: true });
      let reconnectNow = false;
      try {
        let response: Response;
        try {
          response = await fetchImpl(target, {
            headers: {
              accept: 'text/event-stream',
              ...options.headers,
              ...(lastEventId > 0 ? { 'last-event-id': String(lastEventId) } : {}),
            },
            signal: attempt.signal,
            cache: 'no-store',
          });
        } catch (error) {
          if (stop.signal.aborted) return;
          if (++failures > maxRetries) throw error;
          await sleep(retryMs, stop.signal);
          continue;
        }
        if (!response.ok) {
          if (RETRYABLE.has(response.status) && ++failures <= maxRetries) {
            await response.body?.cancel().catch(() => {});
            await sleep(retryMs, stop.signal);
            continue;
          }
          // The message quotes 200 characters: an error page is not read past its start.
          const body = await bodyPrefix(response).catch(() => '');
          throw new SseHttpError(target, response.status, response.statusText, body);
        }
        // The server's "nothing more, ever" (a finished run whose last event we have), as for EventSource.
        if (response.status === 204) return;
        const type = response.headers.get('content-type') ?? '';
        if (!type.startsWith('text/event-stream')) {
          await response.body?.cancel();
          throw new SseProtocolError(`SSE GET ${target} answered content-type ${JSON.stringify(type)}, expected text/event-stream`);
        }
        if (response.body === null) throw new SseProtocolError(`SSE GET ${target} answered without a body`);

        const messages: EventSourceMessage[] = [];
        const parser = createParser({
          onEvent: (message) => messages.push(message),
          onRetry: (ms) => {
            // A server's `retry:` past what a timer holds would fire after 1 ms: a reconnect loop.
            retryMs = Math.min(ms, MAX_DELAY_MS);
          },
        });
        // Measured as bytes, decoded here: the meter reads line ends before the parser holds anything.
        const meter = new PendingEventMeter(maxEventBytes);
        const decoder = new TextDecoder();
        const reader = response.body.getReader();
        try {
          for (;;) {
            let chunk: ReadableStreamReadResult<Uint8Array>;
            try {
              chunk = await reader.read();
            } catch (error) {
              if (stop.signal.aborted) return;
              throw Object.assign(new Error('connection lost'), { cause: error, retry: true });
            }
            if (chunk.done) break;
            const bytes = chunk.value;
            // Past the bound, only the whole events ahead of the oversized one are parsed (and yielded).
            const fed = meter.measure(bytes);
            parser.feed(decoder.decode(fed === bytes.length ? bytes : bytes.subarray(0, fed), { stream: true }));
            while (messages.length > 0) {
              const message = messages.shift() as EventSourceMessage;
              if (message.event === 'end') return;
              const event = decode(message, target);
              if (event.seq === 0) {
                // stream.dropped: this client fell behind. Reconnect from the last
                // id and let the server refill the gap from history.
                // Once per resume point: if the refill itself overflows, report instead of looping.
                if (refill && event.eventType === 'stream.dropped' && lastEventId > 0 && lastEventId !== refilledFrom) {
                  refilledFrom = lastEventId;
                  reconnectNow = true;
                  break;
                }
                // The server named the seqs it could not send: they are reported, not a gap to report again.
                const toSeq = droppedUpTo(event);
                if (toSeq !== undefined && toSeq > (lastSeq.get(event.runId) ?? 0)) rememberSeq(lastSeq, event.runId, toSeq);
                yield event;
                continue;
              }
              const seen = lastSeq.get(event.runId) ?? 0;
              if (event.seq <= seen) continue; // already yielded before a reconnect
              if (seen > 0 && event.seq > seen + 1 && message.id !== undefined) {
                // A gap that history could not refill: say so, as the bus would.
                yield gapReport(event.runId, seen + 1, event.seq - 1);
              }
              rememberSeq(lastSeq, event.runId, event.seq);
              if (message.id !== undefined && message.id !== '') lastEventId = Number(message.id) || lastEventId;
              failures = 0;
              yield event;
            }
            if (reconnectNow) break;
            if (fed < bytes.length) {
              // Not retried: the server would send the same event again.
              throw new SseProtocolError(
                `SSE GET ${target}: an event exceeded maxEventBytes (${maxEventBytes} bytes), ended or not; stopped reading the stream (raise subscribeSse's maxEventBytes if the server's events are that large)`,
              );
            }
          }
        } catch (error) {
          if ((error as { retry?: boolean }).retry !== true) throw error;
        } finally {
          await reader.cancel().catch(() => {});
        }
      } finally {
        stop.signal.removeEventListener('abort', onStop);
        attempt.abort();
      }
      if (stop.signal.aborted) return;
      if (reconnectNow) continue;
      // The connection ended without `event: end`: reconnect from the last id.
      if (++failures > maxRetries) throw new Error(`SSE GET ${target}: connection lost ${failures} times without the stream ending`);
      await sleep(retryMs, stop.signal);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}

function decode(message: EventSourceMessage, url: string): StreamEvent {
  let json: unknown;
  try {
    json = JSON.parse(message.data);
  } catch (error) {
    throw new SseProtocolError(`SSE ${url}: event ${message.event ?? 'message'} carries data that is not JSON: ${message.data.slice(0, 80)}`, { cause: error });
  }
  try {
    return parseStreamEvent(json);
  } catch (error) {
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) throw new SseProtocolError(`SSE ${url}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    // A sound envelope whose canonical payload does not match the catalogue
    // (a producer published it unchecked): the event keeps its place in the
    // sequence as a placeholder that says why, and the stream goes on.
    const { data: _data, ...rest } = envelope.data;
    return {
      ...rest,
      eventType: 'stream.placeholder',
      data: { eventType: envelope.data.eventType, reason: error instanceof Error ? error.message : String(error) },
    };
  }
}

function rememberSeq(lastSeq: Map<string, number>, runId: string, seq: number): void {
  if (!lastSeq.has(runId) && lastSeq.size >= MAX_TRACKED_RUNS) {
    const oldest = lastSeq.keys().next().value;
    if (oldest !== undefined) lastSeq.delete(oldest);
  }
  lastSeq.set(runId, seq);
}

/** The last seq a `stream.dropped` of one run says is lost, when it says (an all-runs report does not). */
function droppedUpTo(event: StreamEvent): number | undefined {
  if (event.eventType !== 'stream.dropped') return undefined;
  const toSeq = (event.data as { toSeq?: unknown }).toSeq;
  return typeof toSeq === 'number' && Number.isSafeInteger(toSeq) && toSeq > 0 ? toSeq : undefined;
}

function gapReport(runId: string, fromSeq: number, toSeq: number): StreamEvent {
  return {
    eventId: `${runId}:dropped:${fromSeq}-${toSeq}`,
    runId,
    seq: 0,
    eventType: 'stream.dropped',
    timestamp: performance.timeOrigin + performance.now(),
    data: { count: toSeq - fromSeq + 1, fromSeq, toSeq },
  };
}
