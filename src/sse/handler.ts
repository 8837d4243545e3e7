/**
 * The SSE endpoint as a Web-standard `Request -> Response` handler: the one
 * implementation of the protocol. Fetch-style servers (Hono, Next.js route
 * handlers, Deno, Bun) use it directly; `node:http` goes through
 * {@link toNodeListener}, which only bridges.
 *
 * Routes, under `basePath`:
 * - `GET /runs/:runId/events`: the run's retained history after
 *   `Last-Event-ID`, then live events, then `event: end`.
 * - `GET /events`: live events of every run (no history, no resume).
 *
 * Backpressure: the response body is a pull stream with no buffer of its
 * own. The subscription is read only when the body's reader asks for more,
 * so a client that stops reading leaves events in the bus's bounded
 * subscriber queue, where the oldest are dropped (and reported with one
 * `stream.dropped`) while the agent keeps publishing at full speed.
 */
import { getEventBus, type EventBus } from '../bus.js';
import { assertRunId } from '../context.js';
import type { StreamEvent } from '../events.js';
import type { Subscription } from '../subscription.js';
import { FrameEncoder, HEARTBEAT_FRAME, type SseFormat } from './frames.js';
import { DEFAULT_MAX_EVENT_SIZE } from './json.js';
import { positiveIntOption } from '../options.js';

/**
 * Decides whether `request` may read a stream. `runId` is the run asked
 * for, or `undefined` for the all-runs stream.
 *
 * - `true`: allowed.
 * - `false` (or a throw): refused with no data: 401 when the request carries
 *   no credentials (no `Authorization` or `Cookie` header, no `access_token`
 *   query parameter), 403 when it does. A thrown error with a numeric
 *   `status` of 401 or 403 chooses that status.
 * - a `Response`: sent instead of the stream (e.g. your own 401 with a
 *   `WWW-Authenticate` challenge).
 */
export type SseAuthorize = (request: Request, runId: string | undefined) => boolean | Response | Promise<boolean | Response>;

/** Options of {@link createSseHandler}. */
export interface SseHandlerOptions {
  /** The bus to stream from. Default: the process-wide bus, looked up per request. */
  bus?: EventBus;
  /** Access check, required unless `public: true`. See {@link SseAuthorize}. */
  authorize?: SseAuthorize;
  /** Serve without authorization. Must be said explicitly. */
  public?: boolean;
  /** Wire framing: `'agentbus'` (default) or Locus's snake_case envelope with `event: done`. */
  format?: SseFormat;
  /** Idle time after which a `: ping` comment is written, so proxies keep the connection. Default 15000. */
  heartbeatMs?: number;
  /** Reconnection delay advertised to clients with `retry:`. Default 3000. */
  retryMs?: number;
  /** Path prefix of the routes, e.g. `'/api'`. Default `''`. */
  basePath?: string;
  /** Queue bound of each connection's subscription. Default: the bus's `highWaterMark`. */
  highWaterMark?: number;
  /** Cap on one serialized event; larger payload fields are replaced by placeholders. Default 256 KiB. */
  maxEventSize?: number;
  /** Extra headers on every stream response (e.g. CORS). */
  headers?: Record<string, string>;
}

/** A Web-standard SSE handler; see {@link createSseHandler}. */
export interface SseHandler {
  /** Answers any request: the stream, an error status, or 404 for paths that are not SSE routes. */
  (request: Request): Promise<Response>;
  /** Like calling the handler, but `undefined` for paths that are not SSE routes (for middleware chains). */
  handle(request: Request): Promise<Response | undefined>;
}

const encoder = new TextEncoder();
const EVENTS_ROUTE = /^\/runs\/([^/]+)\/events\/?$/;
const ALL_EVENTS_ROUTE = /^\/events\/?$/;
const SEQ = /^\d{1,15}$/;
// One chunk carries at most about this many characters of frames; bigger backlogs go in several reads.
const BATCH_CHARS = 64 * 1024;

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

function normalizeBasePath(basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return '';
  if (!basePath.startsWith('/')) {
    throw new TypeError(`createSseHandler: basePath must start with '/', got ${JSON.stringify(basePath)}`);
  }
  return basePath.endsWith('/') ? basePath.slice(0, -1) : basePath;
}

function carriesCredentials(request: Request, url: URL): boolean {
  return request.headers.has('authorization') || request.headers.has('cookie') || url.searchParams.has('access_token');
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return status === 401 || status === 403 ? status : undefined;
}

function refusal(status: number): Response {
  return status === 401
    ? text(401, 'unauthorized: credentials required to read this stream', { 'www-authenticate': 'Bearer realm="agentbus"' })
    : text(403, 'forbidden: not allowed to read this stream');
}

/**
 * Builds the SSE handler. Throws at construction when neither `authorize`
 * nor `public: true` is given: an event stream shows tool arguments and
 * model output, so it is never open by accident.
 */
export function createSseHandler(options: SseHandlerOptions = {}): SseHandler {
  const authorize = options.authorize;
  if (authorize === undefined && options.public !== true) {
    throw new TypeError(
      'createSseHandler: pass authorize(request, runId) to decide who may read run streams, or public: true to serve them to anyone',
    );
  }
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw new TypeError(`createSseHandler: authorize must be a function, got ${typeof authorize}`);
  }
  const format = options.format ?? 'agentbus';
  if (format !== 'agentbus' && format !== 'locus') {
    throw new TypeError(`createSseHandler: format must be 'agentbus' or 'locus', got ${JSON.stringify(format)}`);
  }
  const heartbeatMs = positiveIntOption('createSseHandler', 'heartbeatMs', options.heartbeatMs, 15_000);
  const retryMs = positiveIntOption('createSseHandler', 'retryMs', options.retryMs, 3_000);
  const highWaterMark = options.highWaterMark === undefined ? undefined : positiveIntOption('createSseHandler', 'highWaterMark', options.highWaterMark, 1);
  const basePath = normalizeBasePath(options.basePath);
  const frames = new FrameEncoder(format, positiveIntOption('createSseHandler', 'maxEventSize', options.maxEventSize, DEFAULT_MAX_EVENT_SIZE));
  const extraHeaders = options.headers ?? {};

  async function handle(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (basePath !== '' && !url.pathname.startsWith(basePath)) return undefined;
    const path = url.pathname.slice(basePath.length);
    const runMatch = EVENTS_ROUTE.exec(path);
    if (runMatch === null && !ALL_EVENTS_ROUTE.test(path)) return undefined;
    if (request.method !== 'GET') {
      return text(405, `method ${request.method} not allowed: SSE streams are read with GET`, { allow: 'GET' });
    }

    let runId: string | undefined;
    if (runMatch !== null) {
      try {
        runId = decodeURIComponent(runMatch[1] as string);
        assertRunId(runId);
      } catch (error) {
        return text(400, `bad run id in path: ${error instanceof Error ? error.message : String(error)}`);
      }
    }

    let afterSeq = 0;
    if (runId !== undefined) {
      // The header wins: a browser's reconnect sends it while the URL still holds the first query value.
      const lastId = request.headers.get('last-event-id') ?? url.searchParams.get('lastEventId');
      if (lastId !== null && lastId !== '') {
        if (!SEQ.test(lastId)) {
          return text(400, `Last-Event-ID must be a sequence number (a non-negative integer), got ${JSON.stringify(lastId.slice(0, 40))}`);
        }
        afterSeq = Number(lastId);
      }
    }

    if (authorize !== undefined) {
      let verdict: boolean | Response;
      try {
        verdict = await authorize(request, runId);
      } catch (error) {
        return refusal(statusOf(error) ?? (carriesCredentials(request, url) ? 403 : 401));
      }
      if (verdict instanceof Response) return verdict;
      if (verdict !== true) return refusal(carriesCredentials(request, url) ? 403 : 401);
    }

    const bus = options.bus ?? getEventBus();
    // Checked after authorization, so that unauthorized callers cannot probe which runs exist.
    if (runId !== undefined && !bus.hasRun(runId)) return text(404, `unknown run ${JSON.stringify(runId)}`);

    const subscribeOptions = { signal: request.signal, ...(highWaterMark === undefined ? {} : { highWaterMark }) };
    const sub = runId === undefined ? bus.subscribeAll(subscribeOptions) : bus.subscribe(runId, { ...subscribeOptions, afterSeq });
    return new Response(eventStream(sub, frames, runId, heartbeatMs, retryMs), {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        ...extraHeaders,
      },
    });
  }

  const handler = (async (request: Request) => (await handle(request)) ?? text(404, 'not found')) as SseHandler;
  handler.handle = handle;
  return handler;
}

/**
 * The response body: frames pulled from `sub` only when the reader asks.
 * Heartbeats are written only while the reader waits (never queued for a
 * reader that has stopped).
 */
function eventStream(
  sub: Subscription,
  frames: FrameEncoder,
  runId: string | undefined,
  heartbeatMs: number,
  retryMs: number,
): ReadableStream<Uint8Array> {
  // Resume ids are per run, so only the single-run stream writes `id:` lines.
  const withId = runId !== undefined;
  let finished = false;
  let waiting = false;
  let wroteSinceTick = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const finish = () => {
    finished = true;
    if (heartbeat !== undefined) clearInterval(heartbeat);
    sub.close();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(encoder.encode(`retry: ${retryMs}\n\n`));
        heartbeat = setInterval(() => {
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
            if (reason === 'closed' || reason === 'evicted') chunk += frames.end(reason, runId);
            finish();
            if (chunk !== '') controller.enqueue(encoder.encode(chunk));
            controller.close();
            return;
          }
          chunk += frames.event(result.value, withId);
          // Take what is already queued into the same chunk: one write per backlog, not per event.
          if (chunk.length >= BATCH_CHARS || (sub.queued === 0 && sub.endReason === undefined)) break;
          result = await sub.next();
        }
        wroteSinceTick = true;
        controller.enqueue(encoder.encode(chunk));
      },

      cancel() {
        finish();
      },
    },
    { highWaterMark: 0 },
  );
}
