/**
 * A real node:http server on 127.0.0.1 serving the SSE listener, for the SSE
 * suites: it records what it received, can cut every connection from the
 * server side, and is closed after each test.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach } from 'vitest';
import type { StreamEvent } from '../src/events.js';
import { createSseHandler, toNodeListener, type SseHandlerOptions } from '../src/sse/index.js';

/** An event to publish (the bus assigns seq and eventId). */
export function event(runId: string, eventType: string, data: object = {}): StreamEvent {
  return { eventId: '', runId, seq: 0, eventType, timestamp: performance.timeOrigin + performance.now(), data };
}

/** A stream (node:http) once its headers arrived, i.e. once it is subscribed; `text` resolves at its end with all it got. */
export async function openStream(url: string): Promise<{ text: Promise<string> }> {
  const response = await new Promise<http.IncomingMessage>((resolve) => http.get(url, resolve));
  const chunks: Buffer[] = [];
  response.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { text: new Promise((resolve) => response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))) };
}

/** The `data:` lines of a stream's event frames (not the closing `event: end` or `event: done`), in order. */
export function dataLines(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => /^event: (?!end$|done$)/m.test(block))
    .map((block) => /^data: (.*)$/m.exec(block)![1]!);
}

/** A running test server. */
export interface Served {
  base: string;
  server: http.Server;
  /** Headers of every request the server received, in order. */
  requests: http.IncomingHttpHeaders[];
  /** Every response the SSE listener was handed, in order. */
  responses: http.ServerResponse[];
  /** Cuts every open connection from the server side. */
  cut(): void;
  close(): Promise<void>;
}

const open: Served[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Serves `toNodeListener(createSseHandler(options))` (or `raw`, to play a misbehaving server) on a free port. */
export async function serve(options: SseHandlerOptions, raw?: http.RequestListener): Promise<Served> {
  const listener = toNodeListener(createSseHandler(options));
  const requests: http.IncomingHttpHeaders[] = [];
  const responses: http.ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    responses.push(res);
    if (raw !== undefined) raw(req, res);
    else listener(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  const served: Served = {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    requests,
    responses,
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
  open.push(served);
  return served;
}
