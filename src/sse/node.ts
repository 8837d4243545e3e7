/**
 * `node:http` bridge for the Web-standard SSE handler: usable as
 * `http.createServer(listener)` or as Express/Connect middleware.
 *
 * It only translates: `IncomingMessage` -> `Request` (with a signal that
 * aborts when the client goes away), `Response` -> `ServerResponse`. The
 * body is written by `node-body.ts`, with the socket's backpressure reaching
 * the subscription; the handler's own event stream is written straight from
 * its subscription, without the web stream in between.
 *
 * Two answers are its own, because only it sees the request as sent: a
 * `Host` that makes no URL (400), and a path under the SSE routes holding a
 * dot segment or an encoded slash (400). URL parsing would resolve
 * `/runs/%2e%2e/events` to `/events`, the all-runs stream, before the
 * handler could tell.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { eventStreamOf } from './event-stream.js';
import { ALLOWED_METHODS, TEXT_HEADERS, layeredHeaders, sseHandlerFacts, type SseHandler, type SseHandlerFacts } from './handler.js';
import { pipeBody, writeEventStream } from './node-body.js';

/** A `node:http` request listener that also works as Express/Connect middleware. */
export type NodeSseListener = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

// `.` and `..`, also percent-encoded in any case (`%2e`, `.%2E`): WHATWG URL parsing resolves them all.
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
// An encoded `/` or `\` would be decoded into the run id, where it names no run.
const ENCODED_SEPARATOR = /%(?:2f|5c)/i;
// URL parsing drops these anywhere in a URL, so `.<TAB>.` is a dot segment too.
const URL_IGNORED = /[\t\n\r]/g;
// For handlers not built by createSseHandler: every path may be theirs, and no headers are known.
const UNKNOWN_FACTS: SseHandlerFacts = { headers: new Headers(), underRoutes: () => true };

/** The path of a request target as sent: no query, no fragment, nothing decoded or resolved. */
function rawPath(target: string): string {
  const end = target.search(/[?#]/);
  return (end === -1 ? target : target.slice(0, end)).replace(URL_IGNORED, '');
}

/** Why a raw path must not be routed, or `undefined` when it is safe to parse. */
function unsafePath(path: string): string | undefined {
  // Special schemes such as http treat `\` as `/`.
  for (const segment of path.split(/[/\\]/)) {
    if (DOT_SEGMENT.test(segment)) return `dot segment ${JSON.stringify(segment)}`;
    if (ENCODED_SEPARATOR.test(segment)) return `encoded slash in ${JSON.stringify(segment.slice(0, 140))}`;
  }
  return undefined;
}

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

function closed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || res.writableEnded) resolve();
    else res.once('close', resolve);
  });
}

/**
 * Adapts a Web-standard SSE handler to `node:http`. Paths that are not SSE
 * routes go to `next` when there is one (middleware), else get a 404. Every
 * answer of its own carries the handler's `headers` option.
 */
export function toNodeListener(handler: SseHandler): NodeSseListener {
  const facts = sseHandlerFacts(handler) ?? UNKNOWN_FACTS;
  const plain = (res: ServerResponse, status: number, body: string, own?: Record<string, string>): void => {
    const headers: Record<string, string> = {};
    layeredHeaders(TEXT_HEADERS, facts.headers, own).forEach((value, name) => {
      headers[name] = value;
    });
    res.writeHead(status, headers).end(`${body}\n`);
  };

  return (req, res, next) => {
    const abort = new AbortController();
    const gone = closed(res).then(() => abort.abort());
    let body: ReadableStream<Uint8Array> | null = null;
    void (async () => {
      // Express sets req.url relative to the mount point, so mounting at '/sse' needs no basePath.
      const target = req.url ?? '/';
      const path = rawPath(target);
      let url: URL;
      try {
        const origin = new URL(`http://${req.headers.host ?? 'localhost'}`).origin;
        // A path is joined to the origin, not resolved against it: resolved, `//runs/r1/events`
        // would name the host `runs`. A target with a scheme (a proxy's absolute form) stays as sent.
        url = target.startsWith('/') ? new URL(`${origin}${target}`) : new URL(target, origin);
      } catch {
        if (next !== undefined && !facts.underRoutes(path)) return next();
        plain(res, 400, `bad Host header: ${JSON.stringify(String(req.headers.host).slice(0, 100))} is not a host name`);
        return;
      }
      const unsafe = unsafePath(path);
      if (unsafe !== undefined && (facts.underRoutes(path) || facts.underRoutes(url.pathname))) {
        plain(res, 400, `bad path: ${unsafe}; SSE routes take no dot segments ('.', '..', '%2e') and no encoded slashes`);
        return;
      }
      let request: Request;
      try {
        request = new Request(url, { method: req.method ?? 'GET', headers: toHeaders(req), signal: abort.signal });
      } catch {
        // new Request() refuses methods such as CONNECT and TRACE; none of them can read a stream.
        if (next !== undefined) return next();
        plain(res, 405, 'method not allowed: SSE streams are read with GET', { allow: ALLOWED_METHODS });
        return;
      }
      let response = await handler.handle(request);
      if (response === undefined) {
        if (next !== undefined) return next();
        // The handler's own 404, which names the routes it serves.
        response = await handler(request);
      }
      body = response.body;
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      res.writeHead(response.status, headers);
      if (body === null) {
        res.end();
        return;
      }
      res.flushHeaders();
      // The handler's own event stream is written straight from its subscription (node-body.ts),
      // unless someone already read from the body; any other body is copied.
      const events = eventStreamOf(body);
      if (events !== undefined && !body.locked && events.claim()) await writeEventStream(events, res, gone);
      else await pipeBody(body, res, gone);
    })().catch((error: unknown) => {
      // A body not yet read is cancelled too: its subscription and heartbeat go with it.
      if (body !== null && !body.locked) body.cancel(error).catch(() => {});
      if (!res.headersSent) {
        plain(res, 500, 'internal error');
      } else {
        res.destroy(error instanceof Error ? error : undefined);
      }
    });
  };
}
