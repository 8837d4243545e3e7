/**
 * The SSE endpoint as a Web-standard `Request -> Response` handler: the one
 * implementation of the protocol. Fetch-style servers (Hono, Next.js route
 * handlers, Deno, Bun) use it directly; `node:http` goes through
 * {@link toNodeListener}, which only bridges.
 *
 * Routes, under `basePath`:
 * - `GET /runs/:runId/events`: the run's retained history after
 *   `Last-Event-ID`, then live events, then `event: end`.
 * - `GET /events`: live events of every run (no history, no resume), only
 *   with `allRuns: true`.
 * - `GET /runs`: a JSON summary of every retained run (`run-list.ts`), the
 *   history the all-runs stream lacks; only with `allRuns: true`. Other
 *   methods on `/runs` are left to the app (`handle` returns `undefined`).
 * - `OPTIONS` on either: a CORS preflight, answered 204 without
 *   authorization (browsers send no credentials on a preflight).
 *
 * Every answer the handler makes carries the `headers` option; a `Response`
 * returned by `authorize` is sent as it is. The body of a stream, and how
 * it keeps a slow reader from holding the agent back, is `event-stream.ts`.
 */
import type { EventBus } from '../bus.js';
import { getEventBus } from '../global.js';
import { assertRunId } from '../context.js';
import type { RunLookup, RunSource } from '../source.js';
import { eventStream } from './event-stream.js';
import { FrameEncoder, type SseFormat } from './frames.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../bounded-json.js';
import { delayOption, positiveIntOption, shownValue } from '../options.js';
import { listRuns } from './run-list.js';

/**
 * Decides whether `request` may read a stream. `runId` is the run asked
 * for, or `undefined` for the all-runs stream `GET /events` (asked only
 * when the handler was built with `allRuns: true`).
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
  /**
   * Where runs are read from instead of a bus: e.g. a `RedisRunSource` from
   * `agentbus/redis`, which serves runs that execute in other processes.
   * Takes precedence over `bus`.
   */
  source?: RunSource;
  /** Access check, required unless `public: true`. See {@link SseAuthorize}. */
  authorize?: SseAuthorize;
  /** Serve without authorization. Must be said explicitly. */
  public?: boolean;
  /** Wire framing: `'agentbus'` (default) or Locus's snake_case envelope with `event: done`. */
  format?: SseFormat;
  /**
   * Idle time after which a `: ping` comment is written, so proxies keep the connection. Default 15000.
   * A positive integer of at most 2147483647 (2^31-1 ms, the longest delay timers accept).
   */
  heartbeatMs?: number;
  /**
   * Reconnection delay advertised to clients with `retry:`. Default 3000.
   * A positive integer of at most 2147483647 (2^31-1 ms): clients wait it with a timer too.
   */
  retryMs?: number;
  /** Path prefix of the routes, a string starting with `/`, e.g. `'/api'`. Default `''`. */
  basePath?: string;
  /** Queue bound of each connection's subscription. Default: the bus's `highWaterMark`. */
  highWaterMark?: number;
  /**
   * Cap on one serialized event; larger payload fields are replaced by placeholders. Default 256 KiB.
   * At the default, an event's JSON is written once for the whole process (every handler, the
   * Redis backplane); with another cap this handler writes its own copy of each event it sends.
   */
  maxEventSize?: number;
  /**
   * Extra headers on every answer of the handler (the stream, its error
   * statuses, the preflight), e.g. CORS `access-control-allow-origin`. Not
   * added to a `Response` returned by `authorize`. With
   * `access-control-allow-origin` set, a preflight also gets
   * `access-control-allow-methods` and `access-control-allow-headers`
   * (the requested ones, else `authorization, last-event-id`) unless
   * these headers set them.
   */
  headers?: Record<string, string>;
  /**
   * Serve `GET /events`, the live events of every run, and `GET /runs`, a
   * JSON summary of every retained run (for a console such as `agentbus ui`);
   * `authorize` is then called with `runId` undefined. Default `false`: both
   * answer 404, so a token-only `authorize` cannot hand one tenant every run's events.
   */
  allRuns?: boolean;
}

/** A Web-standard SSE handler; see {@link createSseHandler}. */
export interface SseHandler {
  /** Answers any request: the stream, an error status, or 404 for paths that are not SSE routes. */
  (request: Request): Promise<Response>;
  /** Like calling the handler, but `undefined` for paths that are not SSE routes (for middleware chains). */
  handle(request: Request): Promise<Response | undefined>;
}

const EVENTS_ROUTE = /^\/runs\/([^/]+)\/events\/?$/;
const ALL_EVENTS_ROUTE = /^\/events\/?$/;
const LIST_ROUTE = /^\/runs\/?$/;
// Where the routes live, checked on a raw path too (before URL parsing resolves its dot segments).
const UNDER_ROUTES = /^[/\\](?:runs|events)(?:[/\\]|$)/;
const SEQ = /^\d{1,15}$/;
/** @internal The methods the SSE routes answer, as sent in `Allow`. */
export const ALLOWED_METHODS = 'GET, OPTIONS';
/** @internal The headers of a plain-text answer (an error, a refusal). */
export const TEXT_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/** @internal What the `node:http` bridge needs to know of a handler to answer before it is called. */
export interface SseHandlerFacts {
  /** The `headers` option, validated. */
  readonly headers: Headers;
  /** True when `pathname` (raw or parsed) lies under the SSE routes. */
  underRoutes(pathname: string): boolean;
}

// Kept beside the handler rather than on it, so the handler's public shape stays the two calls.
const handlerFacts = new WeakMap<SseHandler, SseHandlerFacts>();

/** @internal The facts of a handler built by {@link createSseHandler}; `undefined` for any other function. */
export function sseHandlerFacts(handler: SseHandler): SseHandlerFacts | undefined {
  return handlerFacts.get(handler);
}

/** @internal Headers in three layers: the defaults of the answer, then the user's `headers`, then what the status itself requires. */
export function layeredHeaders(defaults: Readonly<Record<string, string>>, extra: Headers, own: Readonly<Record<string, string>> = {}): Headers {
  const headers = new Headers(defaults);
  extra.forEach((value, name) => headers.set(name, value));
  for (const [name, value] of Object.entries(own)) headers.set(name, value);
  return headers;
}

function normalizeBasePath(basePath: unknown): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return '';
  if (typeof basePath !== 'string') {
    throw new TypeError(`createSseHandler: basePath must be a string starting with '/', got ${shownValue(basePath)}`);
  }
  if (!basePath.startsWith('/')) {
    throw new TypeError(`createSseHandler: basePath must start with '/', got ${JSON.stringify(basePath)}`);
  }
  return basePath.endsWith('/') ? basePath.slice(0, -1) : basePath;
}

// What the handler calls on a bus or source; `retainedRuns` is optional (GET /runs answers 501 without it).
const SOURCE_METHODS = ['lookup', 'subscribe', 'subscribeAll'] as const;

/**
 * Refuses a `bus` or `source` that cannot serve: taken as it is, it would fail on every
 * request with a 503 and `retry-after`, and clients would retry a configuration mistake
 * as if it were an outage.
 */
function assertRunSource(name: 'bus' | 'source', value: unknown): void {
  if (value === undefined || value === null) return;
  const what = name === 'bus' ? 'an EventBus' : 'a RunSource such as RedisRunSource';
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw new TypeError(`createSseHandler: ${name} must be ${what} (with methods ${SOURCE_METHODS.join(', ')}), got ${shownValue(value)}`);
  }
  const missing = SOURCE_METHODS.filter((method) => typeof (value as Record<string, unknown>)[method] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(
      `createSseHandler: ${name} must be ${what} (with methods ${SOURCE_METHODS.join(', ')}), got an object without ${missing.join(', ')}`,
    );
  }
}

function carriesCredentials(request: Request, url: URL): boolean {
  return request.headers.has('authorization') || request.headers.has('cookie') || url.searchParams.has('access_token');
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return status === 401 || status === 403 ? status : undefined;
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
  const heartbeatMs = delayOption('createSseHandler', 'heartbeatMs', options.heartbeatMs, 15_000, 1);
  const retryMs = delayOption('createSseHandler', 'retryMs', options.retryMs, 3_000, 1);
  const highWaterMark = options.highWaterMark === undefined ? undefined : positiveIntOption('createSseHandler', 'highWaterMark', options.highWaterMark, 1);
  const basePath = normalizeBasePath(options.basePath);
  assertRunSource('bus', options.bus);
  assertRunSource('source', options.source);
  const frames = new FrameEncoder(format, positiveIntOption('createSseHandler', 'maxEventSize', options.maxEventSize, DEFAULT_MAX_EVENT_BYTES));
  // Built once: an invalid header name or value fails here, not on the first request.
  const extraHeaders = new Headers(options.headers);
  const allRuns = options.allRuns === true;
  const corsPreflight = extraHeaders.has('access-control-allow-origin');

  const text = (status: number, body: string, own?: Record<string, string>): Response =>
    new Response(`${body}\n`, { status, headers: layeredHeaders(TEXT_HEADERS, extraHeaders, own) });

  const refusal = (status: number): Response =>
    status === 401
      ? text(401, 'unauthorized: credentials required to read this stream', { 'www-authenticate': 'Bearer realm="agentbus"' })
      : text(403, 'forbidden: not allowed to read this stream');

  const preflight = (request: Request): Response => {
    const headers = layeredHeaders({}, extraHeaders, { allow: ALLOWED_METHODS });
    if (corsPreflight) {
      if (!headers.has('access-control-allow-methods')) headers.set('access-control-allow-methods', ALLOWED_METHODS);
      if (!headers.has('access-control-allow-headers')) {
        headers.set('access-control-allow-headers', request.headers.get('access-control-request-headers') ?? 'authorization, last-event-id');
      }
    }
    return new Response(null, { status: 204, headers });
  };

  async function handle(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (basePath !== '' && !url.pathname.startsWith(basePath)) return undefined;
    const path = url.pathname.slice(basePath.length);
    const runMatch = EVENTS_ROUTE.exec(path);
    const list = runMatch === null && LIST_ROUTE.test(path);
    // `/runs` is a natural route for an app's own API (`POST /runs` to start one): only GET is ours.
    if (list && request.method !== 'GET') return undefined;
    if (runMatch === null) {
      if (!list && !ALL_EVENTS_ROUTE.test(path)) return undefined;
      // A run id of '..' arrives here too: URL parsing turned /runs/../events into /events.
      if (!allRuns) {
        return text(404, `not found: ${list ? 'the run list' : 'the all-runs stream'} is not enabled (createSseHandler({ allRuns: true }))`);
      }
    }
    if (request.method === 'OPTIONS') return preflight(request);
    if (request.method !== 'GET') {
      return text(405, `method ${request.method} not allowed: SSE streams are read with GET`, { allow: ALLOWED_METHODS });
    }

    let runId: string | undefined;
    if (runMatch !== null) {
      try {
        runId = decodeURIComponent(runMatch[1] as string);
        // A runtime that does not resolve dot segments could pass one on; it names no run.
        if (runId === '.' || runId === '..') throw new TypeError(`runId must not be a dot segment, got ${JSON.stringify(runId)}`);
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

    const source = options.source ?? options.bus ?? getEventBus();
    if (list) {
      if (typeof source.retainedRuns !== 'function') return text(501, 'not implemented: this run source cannot list its runs; follow GET /events for live runs');
      let retained;
      try {
        retained = await source.retainedRuns();
      } catch (error) {
        return text(503, `run source unavailable: ${error instanceof Error ? error.message : String(error)}`, { 'retry-after': String(Math.ceil(retryMs / 1000)) });
      }
      return new Response(JSON.stringify(listRuns(retained)), {
        status: 200,
        headers: layeredHeaders({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, extraHeaders),
      });
    }
    // Looked up after authorization, so that unauthorized callers cannot probe which runs exist.
    if (runId !== undefined) {
      let found: RunLookup;
      try {
        found = await source.lookup(runId, afterSeq);
      } catch (error) {
        return text(503, `run source unavailable: ${error instanceof Error ? error.message : String(error)}`, { 'retry-after': String(Math.ceil(retryMs / 1000)) });
      }
      if (found === 'unknown') return text(404, `unknown run ${JSON.stringify(runId)}`);
      // A reconnect to a finished run that already has every event: 204 is the one
      // answer that makes a browser's EventSource stop reconnecting (every 3 s, forever,
      // for a page that did not close() on `end`).
      if (found === 'finished') return new Response(null, { status: 204, headers: layeredHeaders({ 'cache-control': 'no-store' }, extraHeaders) });
    }

    const subscribeOptions = { signal: request.signal, ...(highWaterMark === undefined ? {} : { highWaterMark }) };
    const sub = runId === undefined ? source.subscribeAll(subscribeOptions) : source.subscribe(runId, { ...subscribeOptions, afterSeq });
    return new Response(eventStream(sub, frames, runId, heartbeatMs, retryMs), {
      status: 200,
      headers: layeredHeaders(STREAM_HEADERS, extraHeaders),
    });
  }

  // Mounted under a prefix it was not told about (hono's app.mount('/sse', handler), an
  // Express router), the handler sees paths it cannot place: say what it serves.
  const routes = `GET ${basePath}/runs/:runId/events${allRuns ? `, GET ${basePath}/events and GET ${basePath}/runs` : ''}`;
  const notFound = (request: Request): Response => {
    let pathname = '?';
    try {
      pathname = new URL(request.url).pathname.slice(0, 200);
    } catch {
      // An unparsable URL: the message still names the routes.
    }
    return text(
      404,
      `not found: ${JSON.stringify(pathname)}; this handler serves ${routes}` +
        (basePath === '' ? '. Mounted under a path prefix? Pass it as createSseHandler({ basePath })' : ''),
    );
  };
  const handler = (async (request: Request) => (await handle(request)) ?? notFound(request)) as SseHandler;
  handler.handle = handle;
  handlerFacts.set(handler, {
    headers: extraHeaders,
    underRoutes: (pathname) => (basePath === '' || pathname.startsWith(basePath)) && UNDER_ROUTES.test(pathname.slice(basePath.length)),
  });
  return handler;
}
