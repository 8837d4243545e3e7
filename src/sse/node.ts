/**
 * `node:http` bridge for the Web-standard SSE handler: usable as
 * `http.createServer(listener)` or as Express/Connect middleware.
 *
 * It only translates: `IncomingMessage` -> `Request` (with a signal that
 * aborts when the client goes away), `Response` -> `ServerResponse`. The
 * body is copied one chunk at a time and the next chunk is read only after
 * `res.write` has accepted the last one (or `'drain'` fired), so the socket's
 * backpressure reaches the subscription.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSseHandler, type SseHandler, type SseHandlerOptions } from './handler.js';

/** A `node:http` request listener that also works as Express/Connect middleware. */
export type NodeSseListener = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const host = req.headers.host ?? 'localhost';
  // Express sets req.url relative to the mount point, so mounting at '/sse' needs no basePath.
  return new Request(new URL(req.url ?? '/', `http://${host}`), { method: req.method ?? 'GET', headers, signal });
}

function closed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || res.writableEnded) resolve();
    else res.once('close', resolve);
  });
}

async function pipeBody(body: ReadableStream<Uint8Array>, res: ServerResponse, gone: Promise<void>): Promise<void> {
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
        await Promise.race([new Promise((resolve) => res.once('drain', resolve)), gone]);
        if (clientGone) break;
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (!clientGone) res.end();
}

/**
 * Adapts a Web-standard SSE handler to `node:http`. Paths that are not SSE
 * routes go to `next` when there is one (middleware), else get a 404.
 */
export function toNodeListener(handler: SseHandler): NodeSseListener {
  return (req, res, next) => {
    const abort = new AbortController();
    const gone = closed(res).then(() => abort.abort());
    void (async () => {
      let request: Request;
      try {
        request = toRequest(req, abort.signal);
      } catch {
        // new Request() refuses methods such as CONNECT and TRACE; none of them can read a stream.
        if (next !== undefined) return next();
        res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
        return;
      }
      const response = await handler.handle(request);
      if (response === undefined) {
        if (next !== undefined) return next();
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      res.writeHead(response.status, headers);
      if (response.body === null) {
        res.end();
        return;
      }
      res.flushHeaders();
      await pipeBody(response.body, res, gone);
    })().catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
      } else {
        res.destroy(error instanceof Error ? error : undefined);
      }
    });
  };
}

/** `toNodeListener(createSseHandler(options))`: the SSE routes as a `node:http` listener or middleware. */
export function createNodeSseListener(options: SseHandlerOptions): NodeSseListener {
  return toNodeListener(createSseHandler(options));
}
