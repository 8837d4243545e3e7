/**
 * The server of `agentbus ui`: the console's page (`createUiHandler`) and the
 * proxy to the SSE server (`upstream-proxy.ts`) on one `node:http` server,
 * bound to 127.0.0.1 only. The console holds no credentials of its own, but
 * the proxy adds the `--header` values to what it forwards: anyone who can
 * reach it reads the runs with them, so it never listens beyond this machine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeListener } from '../sse/node.js';
import type { SseHandler } from '../sse/handler.js';
import { createUiHandler, type TokenPrice } from '../ui/handler.js';
import { createUpstreamProxy } from './upstream-proxy.js';

/** @internal Where the page reads the proxied SSE routes. */
export const PROXY_BASE = '/sse';

/** @internal Options of {@link startUiServer}. */
export interface UiServerOptions {
  upstream: URL;
  headers: Record<string, string>;
  /** 0 for any free port. */
  port: number;
  prices?: Record<string, TokenPrice>;
}

/** @internal A running console server. */
export interface UiServer {
  /** The page's URL, e.g. `http://127.0.0.1:7600/`. */
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

/** @internal Starts the console server; rejects when the port cannot be taken. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const ui = createUiHandler({ sseBase: PROXY_BASE, label: options.upstream.href.replace(/\/+$/, ''), ...(options.prices === undefined ? {} : { prices: options.prices }) });
  const proxy = createUpstreamProxy({ upstream: options.upstream, headers: options.headers, basePath: PROXY_BASE });
  // toNodeListener bridges any Web handler: it refuses dot segments and encoded slashes
  // before URL parsing could resolve them, and streams bodies with backpressure.
  const app = (async (request: Request) => (await ui.handle(request)) ?? (await proxy(request)) ?? ui(request)) as SseHandler;
  app.handle = async (request) => (await ui.handle(request)) ?? (await proxy(request)) ?? ui(request);
  const server = http.createServer(toNodeListener(app));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
